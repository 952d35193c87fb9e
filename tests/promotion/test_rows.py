"""Evaluation rows: recent first, cumulative guard, corrections capped at their training share."""

from __future__ import annotations

import pandas as pd

from houseprice.datasets import SOURCE_COLUMN
from houseprice.storage import open_bucket
from promotion import rows
from tests.support.datasets import sample_rows, write_version


def part(start: int, count: int, corrections: int = 0) -> pd.DataFrame:
    frame = sample_rows().iloc[start : start + count].copy()
    frame[SOURCE_COLUMN] = [f"sales.csv:{i}" for i in range(start, start + count)]
    if corrections:
        frame.iloc[:corrections, frame.columns.get_loc(SOURCE_COLUMN)] = [
            f"correction:req-{start + i}" for i in range(corrections)
        ]
    return frame.reset_index(drop=True)


def test_recent_is_the_newest_version_filled_up_from_the_ones_before():
    parts = [part(0, 100), part(100, 30), part(130, 50)]
    evaluation = rows.build(["v1", "v2", "v3"], parts, 1000, 0, recent_min_rows=40)
    assert evaluation.recent_versions == ("v3",)
    assert evaluation.recent.sum() == 50 and evaluation.recent[-50:].all()
    assert evaluation.guard.all() and len(evaluation.valid) == 180

    wider = rows.build(["v1", "v2", "v3"], parts, 1000, 0, recent_min_rows=60)
    assert wider.recent_versions == ("v2", "v3")
    assert wider.recent.sum() == 80 and not wider.recent[:100].any()


def test_corrections_never_outweigh_their_share_of_the_training_data():
    # Training: 10% corrections. Validation: 40 of 100 rows are corrections.
    parts = [part(0, 100, corrections=40)]
    evaluation = rows.build(["v1"], parts, 1000, 100, recent_min_rows=1)
    is_correction = rows.is_correction(evaluation.valid)
    for mask in (evaluation.recent, evaluation.guard):
        kept = int((mask & is_correction).sum())
        assert kept == 6  # 6 / (60 + 6) <= 10% < 7 / 67
        assert kept / mask.sum() <= 0.1
        assert (mask | is_correction).all()  # only corrections are left out
    assert evaluation.corrections["recent"] == {"kept": 6, "left_out": 34}
    # Deterministic: the same rows give the same subset.
    again = rows.build(["v1"], [part(0, 100, corrections=40)], 1000, 100, recent_min_rows=1)
    assert (again.guard == evaluation.guard).all()


def test_no_corrections_in_training_means_none_in_the_evaluation():
    evaluation = rows.build(["v1"], [part(0, 50, corrections=5)], 500, 0, recent_min_rows=1)
    assert evaluation.guard.sum() == 45
    assert evaluation.describe()["corrections"]["guard"] == {"kept": 0, "left_out": 5}


def test_load_reads_the_bucket(tmp_path):
    bucket_url = str(tmp_path / "bucket_2")
    write_version(bucket_url, 1, sample_rows().iloc[:500])
    write_version(bucket_url, 2, sample_rows().iloc[500:600])
    evaluation = rows.load(open_bucket(bucket_url), "v2", recent_min_rows=10)
    assert evaluation.recent_versions == ("v2",)
    assert evaluation.recent.sum() == 20 and evaluation.guard.sum() == 120
    assert evaluation.train_rows == 480
