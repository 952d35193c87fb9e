"""`python -m promotion` (console script `houseprice-promote`), once per pipeline.

    promote    judge the champion and every folder's newest version; move the alias
               only on evidence (see promotion.promotion)
    rollback   move the alias back to the previous champion, recorded as a decision

Configuration from the environment: MLFLOW_TRACKING_URI, BUCKET_2,
REGISTERED_MODEL_NAME (houseprice.settings) and the PROMOTION_* settings
(promotion.config). The tracking URI is set here, once, for the whole process.

Exit status: 0 when a decision was made, skipped (unchanged inputs) or another
promoter holds the lease; 1 when nothing could be decided (the champion or MLflow
could not be read: nothing changed, the next run retries); 2 for bad configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

import mlflow
from mlflow import MlflowClient

from houseprice import joblog, pushgateway, registry
from houseprice.datasets import latest_version
from houseprice.settings import Settings, SettingsError
from houseprice.storage import Bucket, Lease, LeaseHeld, open_bucket
from promotion import rows
from promotion.config import PromotionConfig, PromotionConfigError
from promotion.promotion import DEFERRED, Decision, promote, rollback

log = logging.getLogger("promotion")

# One promoter at a time (houseprice.storage.Lease); the data job holds locks/data-job.json.
LEASE_KEY = "leases/promotion.json"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    joblog.configure(args.verbose)
    started = time.monotonic()
    try:
        settings = Settings.from_env()
        config = PromotionConfig.from_env()
    except (SettingsError, PromotionConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    registry.configure_client_timeouts()  # before the first MLflow request
    try:
        registry.check_reachable(settings.MLFLOW_TRACKING_URI)
    except registry.TrackingUnavailable as exc:
        print(f"error: {exc}; nothing changed, the next run retries", file=sys.stderr)
        return 1
    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    client = registry.client_for(settings.MLFLOW_TRACKING_URI)
    bucket = open_bucket(settings.BUCKET_2)
    try:
        with Lease(bucket, LEASE_KEY, ttl=config.lease_seconds) as lease:
            decision = args.command(args, settings, config, client, bucket, lease)
    except LeaseHeld as exc:
        log.info("%s: not promoting now", exc)
        return 0
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Exception) as exc:  # MLflow failed mid-way: one line
        return joblog.fail(exc, log, then="; the next run retries")
    report(decision, args.json)
    if decision.outcome != DEFERRED:  # a deferred run decided nothing: no success to record
        pushgateway.push_promotion(settings.PUSHGATEWAY_URL, decision, started)
    return 1 if decision.outcome == DEFERRED else 0


def cmd_promote(
    args: argparse.Namespace,
    settings: Settings,
    config: PromotionConfig,
    client: MlflowClient,
    bucket: Bucket,
    lease: Lease,
) -> Decision:
    newest = latest_version(bucket)
    if newest is None:
        raise LookupError(f"no dataset version in {bucket.url} yet: run the data job first")
    evaluation = rows.load(bucket, newest, config.recent_min_rows)
    log.info(
        "evaluation rows of %s: %d recent (%s), %d cumulative; corrections kept %s",
        newest,
        int(evaluation.recent.sum()),
        "+".join(evaluation.recent_versions),
        int(evaluation.guard.sum()),
        evaluation.corrections,
    )
    return promote(client, settings.REGISTERED_MODEL_NAME, evaluation, config, renew=lease.renew)


def cmd_rollback(
    args: argparse.Namespace,
    settings: Settings,
    config: PromotionConfig,
    client: MlflowClient,
    bucket: Bucket,
    lease: Lease,
) -> Decision:
    return rollback(client, settings.REGISTERED_MODEL_NAME, latest_version(bucket) or "")


def report(decision: Decision, as_json: bool) -> None:
    """The end of every run: one line (or the whole record) on stdout."""
    if as_json:
        print(json.dumps(decision.record(), default=str))
    else:
        print(f"{decision.outcome}: {decision.summary}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m promotion",
        description="Give the champion alias to a better model, only on evidence; roll back.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--json", action="store_true", help="print the decision record as JSON")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    commands.add_parser("promote", help="judge every folder's newest version").set_defaults(
        command=cmd_promote
    )
    commands.add_parser("rollback", help="move the alias to the previous champion").set_defaults(
        command=cmd_rollback
    )
    return parser
