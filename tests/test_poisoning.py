"""Poisoned corrections, through the real services: they are held, never learnt.

May sales make v1 and a champion trained on it (models/linear_regression). People then
price June houses in the web app and correct them: most to the price the house really
sold for, a few to absurd prices ($12M for a $300k house, $7.5k for others). The data
job, as its own process, holds the absurd ones for review and puts the honest ones in v2
exactly once. A model retrained on v1+v2 and served by mlapp prices later June sales no
worse than the champion did, while the same retrain with the absurd corrections would.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from houseprice import mongo
from houseprice.datasets import load_cumulative
from houseprice.evaluation import score
from houseprice.schema import FEATURE_NAMES, validate_frame
from houseprice.settings import Settings
from houseprice.storage import open_bucket
from tests.data_collection_and_versioning.helpers import cli, committed_rows
from tests.support.stack import (
    SAMPLE_CSV,
    _build_model,
    register_champion,
    wait_until_ready,
    web_stack,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MODEL_FOLDER = "linear_regression"
HONEST, ABSURD_HIGH, ABSURD_LOW = 24, 5, 5
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def hidden_fields(html: str) -> dict[str, str]:
    return dict(HIDDEN.findall(html))


def form_values(sale: pd.Series) -> dict[str, str]:
    return {name: str(sale[name]) for name in FEATURE_NAMES}


def predict_and_correct(http: requests.Session, webapp: str, sale: pd.Series, price: float) -> str:
    """What a person does in the web app: price a house, then send the price they believe."""
    form = hidden_fields(http.get(f"{webapp}/", timeout=10).text)
    result = http.post(f"{webapp}/", data={**form, **form_values(sale)}, timeout=30)
    assert result.status_code == 200, result.text[:2000]
    fields = hidden_fields(result.text)
    sent = http.post(
        f"{webapp}/correction", data={**fields, "corrected_price": f"{price:.0f}"}, timeout=30
    )
    assert sent.status_code == 200, sent.text[:2000]
    return fields["correction_id"]


def served_mdape(mlapp: str, sales: pd.DataFrame) -> tuple[float, str]:
    """MdAPE of what mlapp serves on these sales, and the model version that answered."""
    records = [
        {name: (v.item() if hasattr(v, "item") else v) for name, v in row.items()}
        for row in sales[list(FEATURE_NAMES)].to_dict("records")
    ]
    prices: list[float] = []
    versions = set()
    for start in range(0, len(records), 1000):  # mlapp's largest batch
        answer = requests.post(f"{mlapp}/predict", json=records[start : start + 1000], timeout=60)
        assert answer.status_code == 200, answer.text[:500]
        prices += answer.json()["prices"]
        versions.add(str(answer.json()["model"]["version"]))
    (version,) = versions
    mdape = score(sales["price"].to_numpy(dtype=float), np.array(prices, dtype=float))["mdape"]
    return mdape, version


def local_mdape(train: pd.DataFrame, sales: pd.DataFrame) -> float:
    model = _build_model(MODEL_FOLDER)
    model.fit(train[list(FEATURE_NAMES)], train["price"].to_numpy(dtype=float))
    return score(sales["price"].to_numpy(dtype=float), model.predict(sales[list(FEATURE_NAMES)]))[
        "mdape"
    ]


def wait_for_version(mlapp: str, version: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with_model = requests.get(f"{mlapp}/model", timeout=5)
        if with_model.ok and str(with_model.json()["model"].get("version")) == version:
            return
        time.sleep(0.5)
    raise AssertionError(f"mlapp did not swap to version {version} in {timeout}s")


def test_absurd_corrections_are_held_and_the_served_model_does_not_get_worse(
    mongo_uri: str, mlflow_uri: str, tmp_path: Path
) -> None:
    sales, _ = validate_frame(pd.read_csv(SAMPLE_CSV))
    may = sales[sales["date"] < "2014-06-01"]
    june = sales[sales["date"] >= "2014-06-01"].reset_index(drop=True)
    corrected, later = june.iloc[:90], june.iloc[90:]
    honest, pool = corrected.iloc[:HONEST], corrected.iloc[HONEST:]
    cheap = pool[(pool["price"] > 250_000) & (pool["price"] < 350_000)]
    high = cheap.iloc[:ABSURD_HIGH]  # $12M for a $300k house
    low = pool[~pool.index.isin(high.index)].iloc[:ABSURD_LOW]  # $7.5k for others
    assert len(high) == ABSURD_HIGH

    suffix = uuid.uuid4().hex[:8]
    env = {
        "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
        "MONGO_URI": mongo_uri,
        "MONGO_DB": f"poison_{suffix}",
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "REGISTERED_MODEL_NAME": f"poison-{suffix}",
        "MODEL_POLL_SECONDS": "1",
        "BATCH_SIZE": "1",
        "CORRECTION_RATE_LIMIT": "1000 per minute",  # one test client sends them all
    }
    settings = Settings.from_env(env)
    raw, data = open_bucket(settings.BUCKET_1), open_bucket(settings.BUCKET_2)
    raw.write_bytes("may.csv", may.to_csv(index=False).encode())
    first = cli(settings, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["version"] == "v1"
    v1_train, _ = load_cumulative(data)
    v1_csv = tmp_path / "v1_train.csv"
    v1_train.to_csv(v1_csv, index=False)
    champion = register_champion(
        mlflow_uri, settings.REGISTERED_MODEL_NAME, MODEL_FOLDER, "v1", csv=v1_csv
    )

    with web_stack(mongo_uri, mlflow_uri, tmp_path / "stack", champion=False, env=env) as stack:
        wait_until_ready(f"{stack.mlapp_url}/ready")
        before, version = served_mdape(stack.mlapp_url, later)
        assert version == champion.version

        http = requests.Session()
        honest_ids = [
            predict_and_correct(http, stack.webapp_url, sale, float(sale["price"]))
            for _, sale in honest.iterrows()
        ]
        absurd_ids = [
            predict_and_correct(http, stack.webapp_url, sale, 12_000_000)
            for _, sale in high.iterrows()
        ]
        absurd_ids += [
            predict_and_correct(http, stack.webapp_url, sale, 7_500) for _, sale in low.iterrows()
        ]

        run = cli(stack.settings, "--json")
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout.splitlines()[-1])
        assert summary["version"] == "v2"
        screening = summary["screening"]
        assert (screening["screened"], screening["held"]) == (
            len(honest_ids) + len(absurd_ids),
            len(absurd_ids),
        )
        assert screening["zip_prices_from"] == "v1"
        assert f"{len(absurd_ids)} held for review" in run.stdout + run.stderr

        client = mongo.connect(settings)
        held = {d["request_id"]: d for d in mongo.corrections(client, settings).find(mongo.HELD)}
        client.close()
        assert set(held) == set(absurd_ids)
        assert all(d["consumed_in"].startswith("held:") for d in held.values())
        rows = committed_rows(data)
        from_corrections = rows[rows["source"].str.startswith("correction:")]
        assert sorted(from_corrections["source"]) == sorted(f"correction:{i}" for i in honest_ids)
        assert from_corrections["where"].str.startswith("v2/").all()

        again = cli(stack.settings, "--json")  # nothing new: held ones stay out
        assert json.loads(again.stdout.splitlines()[-1])["result"] == "nothing new"
        assert committed_rows(data)["source"].str.startswith("correction:").sum() == HONEST

        # Retrain on v1+v2 and serve it; mlapp swaps to it without a restart.
        train, _ = load_cumulative(data)
        train_csv = tmp_path / "v2_train.csv"
        train.to_csv(train_csv, index=False)
        retrained = register_champion(
            mlflow_uri, settings.REGISTERED_MODEL_NAME, MODEL_FOLDER, "v2", csv=train_csv
        )
        wait_for_version(stack.mlapp_url, retrained.version)
        after, version = served_mdape(stack.mlapp_url, later)
        assert version == retrained.version

    # What the retrain would have learnt had the absurd corrections gone in too.
    absurd_rows = pd.concat(
        [high.assign(price=12_000_000.0), low.assign(price=7_500.0)], ignore_index=True
    )
    poisoned = local_mdape(pd.concat([train, absurd_rows], ignore_index=True), later)
    print(
        f"MdAPE on {len(later)} later sales: champion v1 {before:.4f}, "
        f"served after screening {after:.4f}, unscreened retrain {poisoned:.4f}"
    )
    assert after <= before + 0.002  # honest corrections: no worse (within 0.2 points)
    assert poisoned > after + 0.005  # the screen made a real difference
