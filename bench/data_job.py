"""Benchmark of the data job: wall time and peak memory of one real run.

Generates N sales (default 1,000,000) drawn from the sample dataset with their
numbers perturbed, writes them as CSV files into a temporary BUCKET_1, starts a
throwaway nx-27017, runs `python -m data_collection_and_versioning --json` as a
subprocess, and reports the wall time and the child's peak RSS. The sample
dataset alone is measured first, in its own pair of buckets.

    .venv/bin/python bench/data_job.py [--rows 1000000] [--files 4] [--segment-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"

from tests.support.servers import mongo_server  # noqa: E402

GENERATE_BATCH = 500_000  # rows generated and written at a time: bounded memory here too


def generate(rows: int, files: int, folder: Path, seed: int = 7) -> None:
    """`rows` sales over `files` CSVs: sample rows with perturbed price, areas and date."""
    sample = pd.read_csv(SAMPLE)
    rng = np.random.default_rng(seed)
    per_file = -(-rows // files)
    for index in range(files):
        count = min(per_file, rows - index * per_file)
        with open(folder / f"sales_{index:03d}.csv", "wb") as sink:
            for start in range(0, count, GENERATE_BATCH):
                batch = min(GENERATE_BATCH, count - start)
                frame = sample.sample(batch, replace=True, random_state=seed + index + start)
                frame = frame.reset_index(drop=True)
                frame["price"] = (frame["price"] * rng.uniform(0.85, 1.15, batch)).round()
                grow = rng.integers(-50, 51, batch)
                frame["sqft_living"] = (frame["sqft_living"] + grow).clip(lower=300)
                frame["sqft_above"] = (frame["sqft_above"] + grow).clip(lower=300)
                days = rng.integers(0, 120, batch).astype("timedelta64[D]")
                frame["date"] = (np.datetime64("2014-05-01") + days).astype(str)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                options = pacsv.WriteOptions(include_header=start == 0)
                pacsv.write_csv(table, sink, write_options=options)


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_job(env: dict[str, str]) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, summary) of one job run as a subprocess."""
    cpu = child_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "data_collection_and_versioning", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"job failed ({done.returncode}): {done.stderr.strip()}")
    return wall, child_cpu() - cpu, json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the largest of every child waited for so far.
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument(
        "--segment-rows",
        type=int,
        default=None,
        help="SEGMENT_ROWS for the job (default: the job's own default)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-data-job-") as tmp:
        work = Path(tmp)
        with mongo_server(work / "mongo") as mongo_uri:
            results = []
            # Smallest first: the children's peak RSS only ever grows.
            for label, prepare in (
                (
                    "sample (3,947 rows, 1 file)",
                    lambda d: (d / "sales.csv").write_bytes(SAMPLE.read_bytes()),
                ),
                (
                    f"{args.rows:,} rows, {args.files} files",
                    lambda d: generate(args.rows, args.files, d),
                ),
            ):
                case = work / f"case{len(results)}"
                raw = case / "bucket_1"
                raw.mkdir(parents=True)
                started = time.perf_counter()
                prepare(raw)
                size = sum(p.stat().st_size for p in raw.iterdir()) / 1e6
                print(
                    f"{label}: generated {size:.0f} MB in {time.perf_counter() - started:.1f}s",
                    flush=True,
                )
                env = {
                    **os.environ,
                    "HOUSEPRICE_DATA_DIR": str(case),
                    "MONGO_URI": mongo_uri,
                    "MONGO_DB": f"bench{len(results)}",
                    "BUCKET_1": str(raw),
                    "BUCKET_2": str(case / "bucket_2"),
                }
                if args.segment_rows:
                    env["SEGMENT_ROWS"] = str(args.segment_rows)
                load = os.getloadavg()[0]
                wall, cpu, summary = run_job(env)
                peak = peak_rss_mb()
                results.append((label, wall, cpu, peak, load, summary))
                print(
                    f"{label}: {wall:.2f}s wall, {cpu:.2f}s CPU, peak RSS {peak:.0f} MB, "
                    f"committed {summary['rows_committed_in_run']:,} rows in "
                    f"{len(summary['commits'])} commits "
                    f"({summary['rejected_in_run']:,} rejected)",
                    flush=True,
                )
    # CPU time (user + system) depends far less than wall time on what else the machine runs.
    print(
        "\n| input | wall time | CPU time | peak RSS | rows committed | rejected | commits "
        "| load avg |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, wall, cpu, peak, load, summary in results:
        print(
            f"| {label} | {wall:.1f} s | {cpu:.1f} s | {peak:.0f} MB "
            f"| {summary['rows_committed_in_run']:,} | {summary['rejected_in_run']:,} "
            f"| {len(summary['commits'])} | {load:.1f} |"
        )


if __name__ == "__main__":
    main()
