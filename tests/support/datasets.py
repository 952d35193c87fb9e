"""Build committed dataset versions in a BUCKET_2 directory, as the data job would.

`versioned/vN/{train,valid}.csv` with DATASET_COLUMNS, then manifest.json last (the
commit marker). Rows come from the sample dataset, validated like the data job does.
"""

from __future__ import annotations

import io
import json
from functools import cache

import pandas as pd

from houseprice.datasets import DATASET_COLUMNS, SOURCE_COLUMN
from houseprice.schema import validate_frame
from houseprice.storage import open_bucket
from tests.conftest import SAMPLE_CSV


@cache
def sample_rows() -> pd.DataFrame:
    """Valid sample sales (the 44 sales with price 0 are rejected), oldest first."""
    raw = pd.read_csv(SAMPLE_CSV)
    valid, _ = validate_frame(raw)
    valid[SOURCE_COLUMN] = [f"{SAMPLE_CSV.name}:{i + 2}" for i in range(len(valid))]
    return valid


def write_version(
    bucket_url: str, number: int, rows: pd.DataFrame, valid_every: int = 5
) -> tuple[int, int]:
    """Commit version v<number> holding `rows`; every `valid_every`-th row is validation.

    Returns (train rows, valid rows).
    """
    bucket = open_bucket(bucket_url)
    rows = rows.reset_index(drop=True)
    is_valid = (rows.index % valid_every) == valid_every - 1
    prefix = f"versioned/v{number}"
    counts = {}
    for split, part in (("train", rows[~is_valid]), ("valid", rows[is_valid])):
        buffer = io.StringIO()
        part.loc[:, list(DATASET_COLUMNS)].to_csv(buffer, index=False)
        bucket.write_text(f"{prefix}/{split}.csv", buffer.getvalue())
        counts[split] = len(part)
    manifest = {
        "version": f"v{number}",
        "parent": f"v{number - 1}" if number > 1 else None,
        "rows": counts,
        "sources": sorted(set(rows[SOURCE_COLUMN].str.split(":").str[0])),
    }
    bucket.write_text(f"{prefix}/manifest.json", json.dumps(manifest))
    return counts["train"], counts["valid"]
