"""A longer schemathesis run than the suite's, against throwaway mlapp and dbapp.

Starts its own nx-27017 and MLflow in a temporary directory, registers a champion,
starts dbapp and mlapp under gunicorn (tests/support/fuzz.py, the same platform and
settings the suite's tests/contracts uses), then runs `schemathesis run --checks all`
against each service's served /openapi.json with a larger budget and a fresh seed.
Exits non-zero when schemathesis reports any failure. Besides the temporary directory it
writes only the JUnit reports, to test-artifacts/fuzz-<service>-junit.xml.

    .venv/bin/python bench/fuzz.py [--max-examples 300] [--max-time 120] [--seed N]
    make fuzz
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
sys.path.insert(0, str(ROOT))

from tests.support.fuzz import run_schemathesis, throwaway_platform  # noqa: E402
from tests.support.servers import mlflow_server, mongo_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=300, help="cases per operation")
    parser.add_argument("--max-time", type=int, default=None, help="seconds per service")
    parser.add_argument("--seed", type=int, default=None, help="default: a new one")
    parser.add_argument("--service", choices=["mlapp", "dbapp"], action="append")
    args = parser.parse_args()
    failed = []
    with tempfile.TemporaryDirectory(prefix="houseprice-fuzz-") as tmp:
        work = Path(tmp)
        with (
            mongo_server(work / "mongo") as mongo_uri,
            mlflow_server(work / "mlflow") as mlflow_uri,
            throwaway_platform(mongo_uri, mlflow_uri, work / "platform") as platform,
        ):
            for service in args.service or ["mlapp", "dbapp"]:
                result = run_schemathesis(
                    platform,
                    service,
                    max_examples=args.max_examples,
                    seed=args.seed,
                    max_time=args.max_time,
                    timeout=3600,
                )
                print(f"===== {service} =====\n{result.stdout}{result.stderr}", flush=True)
                report = platform.workdir / f"{service}-junit.xml"
                if report.exists():  # kept: the temporary directory goes away
                    ARTIFACTS.mkdir(exist_ok=True)
                    shutil.copy(report, ARTIFACTS / f"fuzz-{service}-junit.xml")
                if result.returncode != 0:
                    failed.append(service)
    print("failures in: " + ", ".join(failed) if failed else "no failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
