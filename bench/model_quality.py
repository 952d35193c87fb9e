"""Model quality on LATER sales: train on the earlier sales, score on the later ones.

The sample covers 2014-05-02..2014-06-30. Every model folder is fitted on the sales
before --split (default 2014-06-16) and scored on the sales from that day on, the way a
served model meets houses sold after its training data. Tuning used only the earlier
part (fit before 2014-06-02, score 2014-06-02..15: --tuning); the later sales were
scored once the settings were chosen.

    .venv/bin/python bench/model_quality.py [--split 2014-06-16] [--tuning] [--models-dir D]

Prints a Markdown table: MAE, RMSE, R2, MdAPE, fit time and the time of one
single-row predict on a NumPy object row (as mlapp calls it), per model folder.

Range calibration on a time split, as promotion computes it: each folder is also fitted
on the sales before --calibrate-from (default 2014-06-02), calibrated on the held-out
sales from then to the day before --split (houseprice.calibration, level --level,
default 0.8), and the share of the later sales (from --split) whose price falls inside
their range is reported, with the median width of the range relative to the price.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from houseprice.calibration import Calibration  # noqa: E402
from houseprice.evaluation import evaluate, features, predict, target  # noqa: E402
from houseprice.schema import FEATURE_NAMES, validate_frame  # noqa: E402
from training import discovery  # noqa: E402

SAMPLE = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"


def split(rows: pd.DataFrame, day: str, tuning: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    if tuning:  # stay inside the training period: the later sales are never looked at
        rows = rows[rows["date"] < day]
        day = "2014-06-02"
    return rows[rows["date"] < day], rows[rows["date"] >= day]


def single_row_latency(model, row: np.ndarray, repeat: int = 300) -> float:
    for _ in range(30):
        model.predict(row)
    start = time.perf_counter()
    for _ in range(repeat):
        model.predict(row)
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="2014-06-16", help="first day of the test sales")
    parser.add_argument("--tuning", action="store_true", help="score on 2014-06-02..split-1")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--calibrate-from", default="2014-06-02", help="first calibration day")
    parser.add_argument("--level", type=float, default=0.8, help="range level")
    args = parser.parse_args()

    rows, rejected = validate_frame(pd.read_csv(SAMPLE))
    train, test = split(rows, args.split, args.tuning)
    print(
        f"train: {len(train)} sales {train['date'].min()}..{train['date'].max()}; "
        f"test: {len(test)} sales {test['date'].min()}..{test['date'].max()} "
        f"({len(rejected)} rows rejected by validation)\n"
    )
    row = test.loc[:, list(FEATURE_NAMES)].iloc[[0]].to_numpy(dtype=object)
    early = rows[rows["date"] < args.calibrate_from]
    held = rows[(rows["date"] >= args.calibrate_from) & (rows["date"] < args.split)]
    later = rows[rows["date"] >= args.split]
    print(
        f"range: fit on {len(early)} sales before {args.calibrate_from}, calibrate on "
        f"{len(held)} sales to {args.split}, coverage on {len(later)} later sales\n"
    )
    level = f"{args.level:.0%}"
    print(
        f"| model | MdAPE | MAE | RMSE | R2 | fit | 1-row predict | {level} range coverage "
        "| median range width |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for folder in discovery.discover(args.models_dir):
        model = discovery.load(folder).build()
        with threadpool_limits(limits=1):
            start = time.perf_counter()
            model.fit(features(train), target(train))
            fit_seconds = time.perf_counter() - start
            metrics = evaluate(model, test)
            latency = single_row_latency(model, row)
            coverage, width = range_coverage(folder, early, held, later, args.level)
        print(
            f"| {folder.name} | {metrics['mdape']:.1%} | {metrics['mae']:,.0f} | "
            f"{metrics['rmse']:,.0f} | {metrics['r2']:.3f} | {fit_seconds:.1f} s | "
            f"{latency * 1e3:.2f} ms | {coverage:.1%} | {width:.0%} |"
        )


def range_coverage(folder, early, held, later, level: float) -> tuple[float, float]:
    """Fit on `early`, calibrate on `held`, measure on `later`: (coverage, median width)."""
    model = discovery.load(folder).build()
    model.fit(features(early), target(early))
    calibration = Calibration.fit(target(held), predict(model, held), level)
    later_pred = predict(model, later)
    width = (np.exp(calibration.log_high) - np.exp(calibration.log_low)) * later_pred
    return calibration.coverage(target(later), later_pred), float(np.median(width / target(later)))


if __name__ == "__main__":
    main()
