"""What mlapp's comparables cost: reading a dataset version once, then answering from memory.

Writes one committed version of N sales (the sample, then rows drawn from it with living
area and price perturbed) into a temporary local BUCKET_2, then measures side by side:
- the first `SalesCache.get()` (reads and indexes the cumulative rows) against a cached one;
- one answer (comparables + zip points + familiarity) from the indexed rows, against
  re-reading the version from the bucket for every request (what the cache avoids).

    .venv/bin/python bench/comparables.py                # sample, then 1,000,000 rows
    .venv/bin/python bench/comparables.py --rows 200000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from houseprice.datasets import load_cumulative
from houseprice.storage import open_bucket
from mlapp.sales import Sales, SalesCache
from tests.support.datasets import sample_rows, write_version

REQUESTS = 200


def rows_of(count: int) -> pd.DataFrame:
    sample = sample_rows()
    if count <= len(sample):
        return sample
    rng = np.random.default_rng(7)
    drawn = sample.iloc[rng.integers(0, len(sample), count)].reset_index(drop=True)
    factor = rng.uniform(0.8, 1.2, count)
    drawn["sqft_living"] = np.maximum(100, (drawn["sqft_living"] * factor).round()).astype("int64")
    drawn["sqft_above"] = (drawn["sqft_living"] - drawn["sqft_basement"]).clip(lower=0)
    drawn["price"] = (drawn["price"] * rng.uniform(0.85, 1.15, count)).round()
    return drawn


def houses(sales: Sales, count: int) -> list[dict]:
    rng = np.random.default_rng(11)
    picked = sales.frame.iloc[rng.integers(0, sales.rows, count)]
    return [
        {
            "statezip": row.statezip,
            "sqft_living": int(row.sqft_living),
            "bedrooms": float(row.bedrooms),
            "bathrooms": float(row.bathrooms),
            "yr_built": int(row.yr_built),
        }
        for row in picked.itertuples()
    ]


def answer(sales: Sales, house: dict) -> None:
    sales.comparables(house, 5)
    sales.zip_points(house["statezip"])
    sales.familiarity(house)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-comparables-") as tmp:
        bucket_url = str(Path(tmp) / "bucket_2")
        write_version(bucket_url, 1, rows_of(count))
        cache = SalesCache(bucket_url, refresh_seconds=3600)
        started = time.perf_counter()
        sales = cache.get()
        first = time.perf_counter() - started
        held = sales.frame.memory_usage(deep=True).sum()
        held += sum(a.nbytes for a in sales.numbers.values())
        held += sum(a.nbytes for a in sales.by_zip.values())
        cached = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            cache.get()
            cached.append(time.perf_counter() - started)
        answers = []
        for house in houses(sales, REQUESTS):
            started = time.perf_counter()
            answer(sales, house)
            answers.append(time.perf_counter() - started)
        rereads = []
        for house in houses(sales, 5):  # re-reading is slow: a few suffice
            started = time.perf_counter()
            train, valid = load_cumulative(open_bucket(bucket_url), "v1")
            answer(Sales.from_frame("v1", pd.concat([train, valid])), house)
            rereads.append(time.perf_counter() - started)
    return {
        "rows": sales.rows,
        "first_s": first,
        "held_mb": held / 1e6,
        "cached_get_us": median_ms(cached) * 1000,
        "answer_ms": median_ms(answers),
        "reread_ms": median_ms(rereads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(
        "| rows | first read + index | memory held | cached get | answer (median) "
        "| re-read per request (median) | ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for count in (0, args.rows):
        m = measure(count)
        print(
            f"| {m['rows']:,} | {m['first_s']:.2f} s | {m['held_mb']:.0f} MB "
            f"| {m['cached_get_us']:.1f} µs | {m['answer_ms']:.2f} ms | {m['reread_ms']:.0f} ms "
            f"| {m['reread_ms'] / m['answer_ms']:.0f}x |"
        )


if __name__ == "__main__":
    main()
