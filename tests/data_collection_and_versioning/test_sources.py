"""Reading raw CSVs and corrections into clean records."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from bson import ObjectId

from data_collection_and_versioning import sources
from data_collection_and_versioning.rows import CANONICAL_DTYPES
from houseprice.schema import RAW_COLUMNS
from tests.data_collection_and_versioning.helpers import (
    clean_sample,
    correction,
    csv_bytes,
    sample,
)


def test_raw_keys_skip_archive_quarantine_and_other_files() -> None:
    keys = [
        "a.csv",
        "archive/a.csv",
        "quarantine/b.csv",
        "quarantine/b.csv.reason.json",
        "2014/May/B.CSV",
        "notes.txt",
        "deep/archive/c.csv",
    ]
    assert sources.raw_keys(keys) == ["a.csv", "2014/May/B.CSV", "deep/archive/c.csv"]


def test_sample_file_reads_with_lines_and_sha256() -> None:
    data = csv_bytes(sample())
    raw = sources.parse_raw("s.csv", data)
    assert raw.sha256 == sources.sha256_hex(data)
    assert (raw.rows_read, len(raw.valid), len(raw.rejected)) == (3947, 3737, 210)
    assert list(raw.valid.columns) == list(RAW_COLUMNS)
    assert {c: str(t) for c, t in raw.valid.dtypes.items()} == CANONICAL_DTYPES
    assert raw.lines[0] == 2 and len(raw.lines) == 3737
    zero_price_lines = set(sample().index[sample()["price"] == 0] + 2)
    frame = sample()
    before_built = frame.index[
        (frame["yr_renovated"] > 0) & (frame["yr_renovated"] < frame["yr_built"])
    ]
    assert set(raw.rejected["line"]) == zero_price_lines | set(before_built + 2)
    assert not set(raw.rejected["line"]) & set(raw.lines)
    assert raw.valid["date"].iloc[0] == "2014-05-02"


def test_optional_date_extra_columns_bom_and_crlf() -> None:
    frame = sample().iloc[:5].drop(columns=["date"])
    frame["agent"] = "someone"
    text = frame.to_csv(index=False, lineterminator="\r\n")
    raw = sources.parse_raw("x.csv", b"\xef\xbb\xbf" + text.encode())
    assert len(raw.valid) == 5 and len(raw.rejected) == 0
    assert set(raw.valid["date"]) == {""}
    assert "agent" not in raw.valid.columns
    assert raw.valid["street"].iloc[0] == "18810 Densmore Ave N"


def test_a_bad_cell_deep_in_a_big_file_rejects_only_its_row() -> None:
    frame = pd.concat([clean_sample()] * 15, ignore_index=True)  # ~56k rows, many blocks
    frame["sqft_lot"] = frame["sqft_lot"].astype(object)
    frame.loc[50_000, "sqft_lot"] = "big"
    frame.loc[50_004, "sqft_lot"] = ""
    frame["date"] = frame["date"].astype(object)
    frame.loc[50_001, "date"] = "yesterday"
    raw = sources.parse_raw("big.csv", csv_bytes(frame))
    assert len(raw.valid) == len(frame) - 3
    reasons = dict(zip(raw.rejected["line"], raw.rejected["reason"], strict=True))
    assert reasons == {
        50_002: "sqft_lot: not a number",
        50_003: "date: not a date",
        50_006: "sqft_lot: is required",
    }
    assert raw.valid["sqft_lot"].dtype == np.int64


def test_dates_in_other_forms_are_normalised() -> None:
    frame = sample().iloc[:4].copy()
    frame["date"] = ["2014-05-02", "2014-05-03T10:00:00Z", "05/04/2014", ""]
    raw = sources.parse_raw("d.csv", csv_bytes(frame))
    assert list(raw.valid["date"]) == ["2014-05-02", "2014-05-03", "2014-05-04", ""]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\n\n  \n", "empty file"),
        (
            b"\xff\xfe\x00p\x00r\x00i\x00c\x00e\n",
            "not UTF-8 text (the header line cannot be decoded)",
        ),
        (b"price,city\n1,2\n", "missing required columns: bedrooms, bathrooms"),
        (
            csv_bytes(sample().iloc[:2].assign(extra=1).rename(columns={"extra": "price"})),
            "repeated columns: price",
        ),
    ],
)
def test_unusable_files_raise_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(sources.UnreadableFile) as caught:
        sources.parse_raw("bad.csv", data)
    assert str(caught.value).startswith(reason)


def test_invalid_utf8_in_a_text_column_makes_the_file_unreadable() -> None:
    frame = sample().iloc[:3].copy()
    frame.loc[1, "street"] = "Crème Ave"
    with pytest.raises(sources.UnreadableFile, match=r"not UTF-8 text \(column street\)"):
        sources.parse_raw("latin.csv", frame.to_csv(index=False).encode("latin-1"))


def test_correction_becomes_a_raw_record() -> None:
    doc = {**correction(4), "_id": ObjectId()}
    result = sources.to_correction(doc)
    assert result.reason == "" and result.request_id == "c-4"
    assert result.record["price"] == 250_004.0
    assert result.record["date"] == "2025-03-01"
    assert result.record["street"] == sample().iloc[4]["street"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"request_id": 5}, "request_id: must be non-empty text"),
        ({"corrected_price": True}, "price: must be a number from 1000 to 1000000000"),
        ({"corrected_price": None}, "price: is required"),
        ({"created_at": "2025-03-01"}, "created_at: must be a date"),
        ({"features": "cheap"}, "features: must be an object of the 16 house features"),
    ],
)
def test_bad_corrections_get_a_reason(change: dict, reason: str) -> None:
    result = sources.to_correction({**correction(1), **change})
    assert result.record is None
    assert result.reason == reason


def test_read_corrections_gives_the_same_dtypes_as_csv_rows() -> None:
    docs = [correction(i) for i in range(3)] + [correction(9, corrected_price=5)]
    corrections, frame = sources.read_corrections(docs)
    assert [c.record is not None for c in corrections] == [True, True, True, False]
    assert {c: str(t) for c, t in frame.dtypes.items()} == CANONICAL_DTYPES
    assert list(frame["price"]) == [250_000.0, 250_001.0, 250_002.0]
    rejected = sources.rejected_corrections_frame(corrections)
    assert list(rejected["request_id"]) == ["c-9"]
    assert rejected["reason"].iloc[0] == "price: must be a number from 1000 to 1000000000"


def test_snapshot_is_oldest_first(make_settings) -> None:
    from tests.data_collection_and_versioning.helpers import collection

    settings = make_settings()
    docs = collection(settings)
    late = correction(1, created_at=datetime(2025, 5, 1, tzinfo=UTC))
    early = correction(2, created_at=datetime(2025, 1, 1, tzinfo=UTC))
    done = correction(3, consumed=True, consumed_in="v1")
    docs.insert_many([late, early, done])
    snapshot = sources.snapshot_corrections(docs)
    assert [d["request_id"] for d in snapshot] == ["c-2", "c-1"]


def test_rejected_rows_file_neutralises_formulas_but_keeps_numbers() -> None:
    frame = clean_sample().iloc[:3].copy()
    frame["city"] = frame["city"].astype(object)
    frame.loc[0, "city"] = '=HYPERLINK("http://evil.example","x")'
    frame.loc[1, "city"] = "@cmd"
    frame["sqft_lot"] = frame["sqft_lot"].astype(object)
    frame.loc[2, "sqft_lot"] = "-5"
    raw = sources.parse_raw("f.csv", csv_bytes(frame))
    assert len(raw.rejected) == 3
    written = pd.read_csv(io.BytesIO(sources.frame_to_csv(raw.rejected)), dtype=str)
    assert written["city"].iloc[0] == "'" + '=HYPERLINK("http://evil.example","x")'
    assert written["city"].iloc[1] == "'@cmd"
    assert written["sqft_lot"].iloc[2] == "-5"  # a plain number is no formula
    assert "formula" in written["reason"].iloc[0]
