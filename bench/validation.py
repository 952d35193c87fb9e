"""Cost of validating one house record on mlapp's hot path, before and after a change.

`houseprice.schema.validate_features` as it is in this checkout is timed side by side
with the same function from another git revision (default: commit 849b81b, before the
cross-field rules), on the first 200 valid sales of the sample dataset, in one process:
rounds alternate between them so machine load hits all alike. A third timing runs the
current function with `consistency_errors` switched off, which separates the cost of the
cross-field rules from the rest. Prints the median microseconds per record and ratios.

    .venv/bin/python bench/validation.py [--base REV] [--rounds 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from houseprice import schema as current  # noqa: E402


def load_revision(rev: str):
    source = subprocess.run(
        ["git", "show", f"{rev}:houseprice/schema.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "schema_base.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("schema_base", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def records(count: int = 200) -> list[dict]:
    valid, _ = current.validate_frame(
        pd.read_csv(ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv")
    )
    rows = json.loads(valid.loc[:, list(current.FEATURE_NAMES)].to_json(orient="records"))
    clean = [r for r in rows if not current.validate_features(r)[1]]
    return clean[:count]


def per_record_us(validate, batch: list[dict], repeat: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for record in batch:
            validate(record)
    return (time.perf_counter() - started) / (repeat * len(batch)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="849b81b")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    base = load_revision(args.base)
    batch = records()
    for record in batch:  # both accept every record: the same work is timed
        assert not base.validate_features(record)[1]
    timings: dict[str, list[float]] = {"base": [], "current": [], "no_rules": []}
    rules = current.consistency_errors
    for _ in range(args.rounds):
        timings["base"].append(per_record_us(base.validate_features, batch))
        timings["current"].append(per_record_us(current.validate_features, batch))
        current.consistency_errors = lambda record, checked=False: {}
        try:
            timings["no_rules"].append(per_record_us(current.validate_features, batch))
        finally:
            current.consistency_errors = rules
    before, after, no_rules = (statistics.median(timings[k]) for k in timings)
    print(f"records: {len(batch)}, rounds: {args.rounds}")
    print(f"validate_features at {args.base}: {before:.2f} us/record (median)")
    print(f"validate_features now: {after:.2f} us/record (median)")
    print(f"validate_features now, cross-field rules off: {no_rules:.2f} us/record (median)")
    print(
        f"ratio now/{args.base}: {after / before:.2f}; without the rules: {no_rules / before:.2f}"
    )


if __name__ == "__main__":
    main()
