"""CLI and container entry point: `python -m data_collection_and_versioning [--json]`.

Exit codes: 0 success (also when there was nothing new), 1 the run failed,
2 the configuration is invalid. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any

from data_collection_and_versioning.job import JobError, first_line, run
from houseprice.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="houseprice-data-job",
        description=(
            "Turn raw sales CSVs (BUCKET_1) and pending corrections (COLLECTION_2) into "
            "versioned datasets in BUCKET_2. Settings come from the environment."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON summary as the last line of stdout"
    )
    args = parser.parse_args(argv)

    def emit(line: str) -> None:
        print(line, flush=True)

    try:
        settings = Settings.from_env()
        summary = run(settings, emit=emit)
    except KeyboardInterrupt:
        return _fail("interrupted", args.json, 130)
    except SettingsError as exc:
        return _fail(" ".join(str(exc).split()), args.json, 2)
    except Exception as exc:
        if os.environ.get("HOUSEPRICE_DEBUG"):
            traceback.print_exc()
        return _fail(describe(exc), args.json, 1)
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=str), flush=True)
    return 0


def describe(exc: Exception) -> str:
    """One line that says what failed, without a traceback."""
    if isinstance(exc, JobError):
        return str(exc)
    module = type(exc).__module__
    if module.startswith("pymongo"):
        return f"MongoDB error: {first_line(exc)}"
    if module.startswith("google") or isinstance(exc, OSError):
        return f"storage error: {first_line(exc)}"
    return f"{type(exc).__name__}: {first_line(exc)}"


def _fail(message: str, as_json: bool, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    if as_json:
        summary: dict[str, Any] = {"ok": False, "error": message}
        print(json.dumps(summary, sort_keys=True), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
