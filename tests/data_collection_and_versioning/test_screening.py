"""The plausibility screen: on real sales frames, then inside the real job against nx-27017."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from data_collection_and_versioning import screening
from data_collection_and_versioning.screening import (
    ALL_ZIPS,
    FAR_FROM_BOTH,
    Thresholds,
    ZipPrices,
    screen_frame,
    zip_prices,
)
from houseprice import mongo
from houseprice.schema import validate_frame
from houseprice.settings import Settings, SettingsError
from houseprice.storage import open_bucket
from tests.data_collection_and_versioning.helpers import (
    collection,
    committed_rows,
    correction,
    put_raw,
    run,
    sample,
)

THRESHOLDS = Thresholds(max_ratio=3.0, min_zip_sales=5)


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    valid, _ = validate_frame(sample())
    return valid


@pytest.fixture(scope="module")
def zips(sales: pd.DataFrame) -> ZipPrices:
    return ZipPrices.from_sales(sales, "v1")


def house(sales: pd.DataFrame, low: float, high: float) -> pd.Series:
    """The first sale priced in [low, high] in a zip with plenty of sales."""
    counts = sales["statezip"].value_counts()
    busy = sales[sales["statezip"].map(counts) >= 20]
    return busy[(busy["price"] >= low) & (busy["price"] <= high)].iloc[0]


def moved(sale: pd.Series, statezip: str) -> pd.Series:
    """The same house in another zip."""
    copy = sale.copy()
    copy["statezip"] = statezip
    return copy


def frame(rows: list[tuple[float, float, pd.Series]]) -> pd.DataFrame:
    """(corrected price, predicted price or NaN, the house) -> screen_frame's input."""
    return pd.DataFrame(
        {
            "corrected_price": [c for c, _, _ in rows],
            "predicted_price": [p for _, p, _ in rows],
            "sqft_living": [h["sqft_living"] for _, _, h in rows],
            "statezip": [h["statezip"] for _, _, h in rows],
        }
    )


def test_zip_prices_are_medians_per_zip_with_a_fallback(sales, zips) -> None:
    seattle = sales[sales["statezip"] == "WA 98103"]
    assert zips.per_sqft["WA 98103"] == pytest.approx(
        (seattle["price"] / seattle["sqft_living"]).median()
    )
    assert zips.sales["WA 98103"] == len(seattle)
    assert zips.lookup("WA 98103", 5) == (zips.per_sqft["WA 98103"], len(seattle), "WA 98103")
    # Too few sales in the zip (or none): every zip together.
    rare = next(z for z, n in zips.sales.items() if n < 5)
    for unknown in (rare, "WA 99999"):
        assert zips.lookup(unknown, 5) == (zips.overall_per_sqft, len(sales), ALL_ZIPS)
    assert ZipPrices.empty().lookup("WA 98103", 5) == (None, 0, ALL_ZIPS)


def test_absurd_corrections_are_held_and_honest_ones_pass(sales, zips) -> None:
    cheap = house(sales, 280_000, 320_000)
    dear = house(sales, 600_000, 900_000)
    verdicts = screen_frame(
        frame(
            [
                (12_000_000, cheap["price"], cheap),  # $12M for a $300k house
                (7_500, dear["price"], dear),  # $7.5k for another
                (cheap["price"] * 1.15, cheap["price"], cheap),  # an honest nudge
                # A poor prediction, an honest price: far from the prediction only.
                (dear["price"], dear["price"] / 5, dear),
                # Close to the prediction, far from the zip's prices (an unusual house).
                (cheap["price"] * 8, cheap["price"] * 7, cheap),
                # Its zip has no sales: compared with every zip together.
                (dear["price"] * 10, dear["price"], moved(dear, "WA 99999")),
            ]
        ),
        zips,
        THRESHOLDS,
    )
    assert verdicts["held"].tolist() == [True, True, False, False, False, True]
    assert verdicts["reason"].tolist() == [FAR_FROM_BOTH, FAR_FROM_BOTH, "", "", "", FAR_FROM_BOTH]
    assert verdicts["judged"].all()
    first = verdicts.iloc[0]
    assert first["ratio_to_prediction"] == pytest.approx(12_000_000 / cheap["price"])
    expected = zips.per_sqft[cheap["statezip"]] * cheap["sqft_living"]
    assert first["expected_from_zip"] == pytest.approx(expected)
    assert first["ratio_to_zip"] == pytest.approx(12_000_000 / expected)
    assert (first["zip_scope"], first["zip_sales"]) == (
        cheap["statezip"],
        zips.sales[cheap["statezip"]],
    )
    assert verdicts.iloc[5]["zip_scope"] == ALL_ZIPS


def test_without_both_references_nothing_is_judged(sales, zips) -> None:
    cheap = house(sales, 280_000, 320_000)
    rows = [(12_000_000, np.nan, cheap)]  # no stored prediction
    for found in (zips, ZipPrices.empty()):
        verdicts = screen_frame(frame(rows), found, THRESHOLDS)
        assert verdicts[["held", "judged"]].values.tolist() == [[False, False]]
    no_zip = screen_frame(frame([(12_000_000, 300_000, cheap)]), ZipPrices.empty(), THRESHOLDS)
    assert no_zip[["held", "judged"]].values.tolist() == [[False, False]]
    assert no_zip["ratio_to_prediction"].tolist() == [40.0]


def test_the_ratio_threshold_is_symmetric_and_a_setting(sales, zips) -> None:
    cheap = house(sales, 280_000, 320_000)
    price = float(cheap["price"])
    rows = [(price * 2.5, price, cheap), (price / 2.5, price, cheap)]
    rows = [(c, p, moved(h, "WA 99999")) for c, p, h in rows]  # zip: all
    far_zip = ZipPrices("v1", {}, {}, 1.0, 10)  # $1 per sqft: every price is far from it
    assert screen_frame(frame(rows), far_zip, THRESHOLDS)["held"].tolist() == [False, False]
    strict = Thresholds(max_ratio=2.0, min_zip_sales=5)
    assert screen_frame(frame(rows), far_zip, strict)["held"].tolist() == [True, True]


# -- in the real job ------------------------------------------------------------------------


def predictions_of(settings: Settings):
    return collection(settings).database[settings.COLLECTION_1]


def test_the_job_holds_implausible_corrections_and_a_review_releases_them(make_settings) -> None:
    settings = make_settings(BATCH_SIZE="1")
    put_raw(settings, "sales.csv", sample())
    run(settings)  # v1: the sales the zip prices come from
    corrections, predictions = collection(settings), predictions_of(settings)
    data = open_bucket(settings.BUCKET_2)
    true = [float(sample().iloc[i]["price"]) for i in range(4)]
    # s-0 and s-3 are honest (their sale price); s-1 is $12M, s-2 is $7.5k.
    corrected = [true[0], 12_000_000.0, 7_500.0, true[3]]
    predicted = [true[0] * 0.9, 300_000.0, 400_000.0, true[3] * 1.1]
    docs = []
    for i in range(4):
        docs.append(correction(i, tag="s", corrected_price=corrected[i]))
        predictions.insert_one({"request_id": docs[i]["prediction_id"], "price": predicted[i]})
    corrections.insert_many(docs)

    summary, lines = run(settings)
    assert summary["version"] == "v2"
    assert summary["screening"]["held"] == 2
    assert summary["screening"]["reasons"] == {FAR_FROM_BOTH: 2}
    assert summary["screening"]["zip_prices_from"] == "v1"
    assert summary["screening"]["unjudged"] == 0
    assert any("2 held for review" in line for line in lines)
    v2 = committed_rows(data)
    assert set(v2[v2["where"].str.startswith("v2/")]["source"]) == {
        "correction:s-0",
        "correction:s-3",
    }
    held = {d["request_id"]: d for d in corrections.find(mongo.HELD)}
    assert set(held) == {"s-1", "s-2"}
    for doc in held.values():
        assert (doc["consumed"], doc["consumed_in"]) == (True, f"held:{FAR_FROM_BOTH}")
        assert isinstance(doc["held_at"], datetime)
        assert doc["screen"]["dataset_version"] == "v1"
        assert (
            doc["screen"]["ratio_to_prediction"] > 3 or doc["screen"]["ratio_to_prediction"] < 1 / 3
        )
    assert corrections.count_documents(mongo.HELD) == 2
    assert corrections.count_documents({"consumed_in": "v2"}) == 2

    # Nothing new: the held ones stay out.
    summary, _ = run(settings)
    assert summary["result"] == "nothing new"

    # The operator releases one and rejects the other (the contract dbapp's review writes).
    now = mongo.utc_now()
    corrections.update_one(
        {"request_id": "s-1"}, mongo.review_update("accepted", "ops", "verified", now)
    )
    corrections.update_one(
        {"request_id": "s-2"}, mongo.review_update("rejected", "ops", "typo", now)
    )
    summary, lines = run(settings)
    assert summary["version"] == "v3"
    assert summary["screening"]["released_by_review"] == 1
    assert summary["screening"]["held"] == 0
    rows = committed_rows(data)
    assert rows[rows["source"] == "correction:s-1"]["where"].str.startswith("v3/").all()
    assert "correction:s-2" not in set(rows["source"])
    assert (rows["source"] == "correction:s-1").sum() == 1
    final = {d["request_id"]: d for d in corrections.find({})}
    assert (final["s-1"]["consumed"], final["s-1"]["consumed_in"]) == (True, "v3")
    assert final["s-1"]["review"] == {
        "decision": "accepted",
        "by": "ops",
        "reason": "verified",
        "at": now,
    }
    assert (final["s-2"]["consumed"], final["s-2"]["consumed_in"]) == (True, "rejected:typo")
    assert corrections.count_documents(mongo.HELD) == 0
    assert corrections.count_documents({}) == 4  # never deleted


def test_unreadable_and_unjudged_corrections_are_left_to_the_job(make_settings) -> None:
    settings = make_settings(BATCH_SIZE="1")
    put_raw(settings, "sales.csv", sample())
    run(settings)
    corrections = collection(settings)
    unreadable = correction(1, tag="u", corrected_price="a lot")
    orphan = correction(2, tag="u", corrected_price=12_000_000.0)  # no stored prediction
    corrections.insert_many([unreadable, orphan])
    summary, _ = run(settings)
    assert summary["screening"]["screened"] == 1
    assert (summary["screening"]["unjudged"], summary["screening"]["held"]) == (1, 0)
    assert summary["corrections"]["rejected"] == 1
    docs = {d["request_id"]: d for d in corrections.find({})}
    assert docs["u-1"]["consumed_in"].startswith("rejected:") and "held" not in docs["u-1"]
    assert docs["u-2"]["consumed_in"] == summary["version"]


def test_zip_prices_come_from_committed_versions_only(make_settings, sales) -> None:
    settings = make_settings(BATCH_SIZE="1")
    data = open_bucket(settings.BUCKET_2)
    assert zip_prices(data) == ZipPrices.empty()
    put_raw(settings, "sales.csv", sample())
    run(settings)
    data.write_text("versioned/v2/train.csv", "price,sqft_living,statezip\n1,1,WA 98103\n")
    found = zip_prices(data)  # v2 has no manifest: not a version
    assert found.version == "v1"
    assert found.overall_sales == len(sales)
    assert found.per_sqft == pytest.approx(ZipPrices.from_sales(sales, "v1").per_sqft)
    assert screening.Thresholds.from_settings(settings) == THRESHOLDS


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CORRECTION_MAX_RATIO": "1"}, "CORRECTION_MAX_RATIO='1': must be a finite number"),
        ({"CORRECTION_MAX_RATIO": "inf"}, "CORRECTION_MAX_RATIO='inf'"),
        ({"CORRECTION_MAX_RATIO": "three"}, "CORRECTION_MAX_RATIO='three'"),
        ({"CORRECTION_MIN_ZIP_SALES": "0"}, "CORRECTION_MIN_ZIP_SALES='0': must be at least 1"),
    ],
)
def test_screen_settings_are_checked_at_start(tmp_path, env, message) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path), **env})
    tuned = Settings.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path), "CORRECTION_MAX_RATIO": "2.5"})
    assert Thresholds.from_settings(tuned) == Thresholds(2.5, 5)
