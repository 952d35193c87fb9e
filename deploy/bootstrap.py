"""First deploy: put the sample sales into BUCKET_1 when the platform has never seen any data.

The bootstrap Job (k8s_ml/bootstrap.yaml) runs this, then the data job, the training of every
model folder and the promotion, so a fresh cluster ends up serving a model. Each step is
idempotent, and so is this one: it seeds only while BUCKET_1 holds no object at all (not even
an archived or quarantined file) and BUCKET_2 holds no dataset version and nothing in
instream/. Once the seed is in BUCKET_1, or has been versioned, a re-run changes nothing.

    python -m deploy.bootstrap SAMPLE_CSV      # settings from the environment (BUCKET_1, BUCKET_2)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from houseprice.datasets import INSTREAM_PREFIX, committed_versions
from houseprice.settings import Settings, SettingsError
from houseprice.storage import Bucket, open_bucket

SEED_PREFIX = "bootstrap/"


def seed_reason(raw: Bucket, datasets: Bucket) -> str | None:
    """Why seeding would be wrong now, or None when the platform has never seen data."""
    if raw.list():
        return f"{raw.url} is not empty"
    versions = committed_versions(datasets)
    if versions:
        return f"{datasets.url} already holds dataset versions up to {versions[-1]}"
    if datasets.list(INSTREAM_PREFIX):
        return f"{datasets.url} already holds rows waiting in {INSTREAM_PREFIX}"
    return None


def seed(raw: Bucket, datasets: Bucket, sample: Path) -> str:
    """Seed `sample` into `raw` if nothing was ever there; a one-line account either way."""
    reason = seed_reason(raw, datasets)
    if reason is not None:
        return f"not seeding: {reason}"
    key = SEED_PREFIX + sample.name
    raw.write_bytes(key, sample.read_bytes())
    return f"seeded {sample.name} into {raw.url} as {key}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sample", type=Path, help="CSV of raw sales to seed")
    args = parser.parse_args(argv)
    if not args.sample.is_file():
        print(f"error: sample {args.sample} does not exist", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(seed(open_bucket(settings.BUCKET_1), open_bucket(settings.BUCKET_2), args.sample))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
