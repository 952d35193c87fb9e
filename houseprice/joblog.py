"""What the batch jobs (training, promotion) print: our log lines, and errors as one line."""

from __future__ import annotations

import logging
import sys
import warnings

OURS = ("houseprice", "training", "promotion", "data_collection_and_versioning")
# MLflow's own progress lines and library warnings would drown ours.
NOISY = ("mlflow", "alembic", "urllib3", "skops")


def configure(verbose: bool) -> None:
    """INFO (DEBUG with --verbose) for our loggers whatever the root level; others quieter."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    for name in OURS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        warnings.filterwarnings("ignore")


def first_line(exc: BaseException) -> str:
    """An exception as one short line (servers' messages can run to pages)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def fail(exc: BaseException, log: logging.Logger, then: str = "") -> int:
    """A job's unexpected end as one line on stderr (details in the debug log); status 1.

    `then` is appended to the line, e.g. "; the next run retries".
    """
    if isinstance(exc, KeyboardInterrupt):
        print("error: interrupted", file=sys.stderr)
    else:
        log.debug("details", exc_info=exc)
        print(f"error: {type(exc).__name__}: {first_line(exc)}{then}", file=sys.stderr)
    return 1
