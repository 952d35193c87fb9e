"""`python -m training` (console script `houseprice-train`).

    train <folder>   train one model folder if a newer dataset version exists
                     (--promote: then promote, in the same process)
    train-all        train every folder that needs it
    promote          the same as `python -m promotion promote` (kept as an alias)
    leaderboard      table of folders, versions, metrics and the champion

Training only trains and registers: promotion is its own step, run once per pipeline
after every folder trained (`python -m promotion promote`).

Configuration comes from the environment (houseprice.settings): MLFLOW_TRACKING_URI,
BUCKET_2, REGISTERED_MODEL_NAME; MODELS_DIR picks the model folders. Exit status is
0 on success, 1 when anything failed (each problem reported on one line), 2 for bad
usage or configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import mlflow

from houseprice import joblog, pushgateway, registry
from houseprice.datasets import Dataset, NoDatasetVersion, latest_version, load_cumulative
from houseprice.settings import Settings, SettingsError
from houseprice.storage import open_bucket
from training import NO_SHORTCUT, discovery
from training.leaderboard import leaderboard_rows, render
from training.train import TrainResult, pending, train

log = logging.getLogger("training")


class Failure(Exception):
    """Stop the command with this one-line message."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    joblog.configure(args.verbose)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return args.command(args, settings)
    except Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Exception) as exc:  # what the server said, as one line
        return joblog.fail(exc, log)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="houseprice-train",
        description="Train model folders on new dataset versions.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="folder holding the model folders (default: $MODELS_DIR or the repository's models/)",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    one = commands.add_parser("train", help="train one model folder")
    one.add_argument("folder", help="model folder name, e.g. linear_regression")
    one.add_argument(
        "--unless-champion",
        action="store_true",
        help=f"exit {NO_SHORTCUT} without training when a champion exists (first start)",
    )
    one.add_argument(
        "--wait-for-mlflow",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for MLflow to answer (it may still be starting)",
    )
    one.add_argument(
        "--wait-for-data",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a first dataset version (the data job may still be running)",
    )
    one.add_argument(
        "--promote",
        action="store_true",
        help="then run `python -m promotion promote` in this process (saves a start-up)",
    )
    one.set_defaults(command=cmd_train)

    every = commands.add_parser("train-all", help="train every folder that needs it")
    every.set_defaults(command=cmd_train_all)

    again = commands.add_parser("promote", help="alias of `python -m promotion promote`")
    again.set_defaults(command=cmd_promote)

    board = commands.add_parser("leaderboard", help="show folders, versions, metrics, champion")
    board.add_argument("--all", action="store_true", help="every version, not the newest only")
    board.set_defaults(command=cmd_leaderboard)
    return parser


# -- commands


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    job = Job(
        settings,
        args.models_dir,
        wait_seconds=args.wait_for_mlflow,
        data_wait_seconds=args.wait_for_data,
    )
    if args.unless_champion:
        champion = registry.champion_version(job.client, job.registered)
        if champion is not None:
            log.info("version %s is champion: no first-champion training", champion.version)
            return NO_SHORTCUT
    try:
        folder = discovery.find(args.folder, job.models_dir)
    except (LookupError, FileNotFoundError) as exc:
        raise Failure(str(exc)) from None
    failures = job.train_folders([folder])
    if failures:
        return 1
    return cmd_promote(args, settings) if args.promote else 0


def cmd_train_all(args: argparse.Namespace, settings: Settings) -> int:
    job = Job(settings, args.models_dir)
    try:
        folders = discovery.discover(job.models_dir)
    except FileNotFoundError as exc:
        raise Failure(str(exc)) from None
    if not folders:
        raise Failure(f"no model folders in {job.models_dir}")
    log.info("model folders: %s", ", ".join(f.name for f in folders))
    failures = job.train_folders(folders)
    if failures:
        log.error(
            "%d of %d model folders failed: %s", len(failures), len(folders), ", ".join(failures)
        )
    return 1 if failures else 0


def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    from promotion.cli import main as promotion_main

    return promotion_main(["--verbose", "promote"] if args.verbose else ["promote"])


def cmd_leaderboard(args: argparse.Namespace, settings: Settings) -> int:
    job = Job(settings, args.models_dir, need_data=False)
    rows = leaderboard_rows(job.client, job.registered, every=args.all)
    print(render(rows) if rows else f"no versions of {job.registered} registered yet")
    return 0


# -- shared steps


class Job:
    """One command's context: a reachable MLflow, the dataset bucket, the newest version."""

    def __init__(
        self,
        settings: Settings,
        models_dir: Path | None,
        need_data: bool = True,
        wait_seconds: float = 0.0,
        data_wait_seconds: float = 0.0,
    ):
        registry.configure_client_timeouts()  # before the first MLflow request
        self.registered = settings.REGISTERED_MODEL_NAME
        self.models_dir = (models_dir or discovery.default_models_dir()).resolve()
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                registry.check_reachable(settings.MLFLOW_TRACKING_URI)
                break
            except registry.TrackingUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise Failure(str(exc)) from None
                time.sleep(0.2)
        # Set once for the process: run logging and registration use the global URI.
        mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
        self.client = registry.client_for(settings.MLFLOW_TRACKING_URI)
        self.trained: list[str] = []
        self.pushgateway_url = settings.PUSHGATEWAY_URL
        self.started = time.monotonic()
        self.results: dict[str, tuple[TrainResult, float]] = {}  # folder -> (result, seconds)
        self._data: Dataset | None = None
        self.bucket = open_bucket(settings.BUCKET_2)
        self.newest = ""
        if need_data:
            newest = latest_version(self.bucket)
            data_deadline = time.monotonic() + data_wait_seconds
            while newest is None and time.monotonic() < data_deadline:
                time.sleep(0.2)
                newest = latest_version(self.bucket)
            if newest is None:
                raise Failure(
                    f"no dataset version in {self.bucket.url} yet: run the data job first"
                )
            self.newest = newest
            log.info("newest dataset version: %s in %s", newest, self.bucket.url)

    @property
    def data(self) -> Dataset:
        """Cumulative rows of v1..newest, read once per command."""
        if self._data is None:
            try:
                train_rows, valid_rows = load_cumulative(self.bucket, self.newest)
            except NoDatasetVersion as exc:
                raise Failure(str(exc)) from None
            self._data = Dataset(self.newest, train_rows, valid_rows)
            log.info(
                "read v1..%s: %d training rows, %d validation rows",
                self.newest,
                len(train_rows),
                len(valid_rows),
            )
        return self._data

    def train_folders(self, folders: list[discovery.ModelFolder]) -> list[str]:
        """Train each folder that needs it; returns the names of those that failed."""
        commit = registry.git_commit(self.models_dir)
        failures: list[str] = []
        for folder in folders:
            started = time.monotonic()
            try:
                spec = discovery.load(folder)
                if pending(self.client, self.registered, folder.name, self.newest) is None:
                    log.info("%s: already trained on %s, nothing to do", folder.name, self.newest)
                    continue
                log.info("%s: training on v1..%s", folder.name, self.newest)
                result = train(
                    spec,
                    self.data,
                    client=self.client,
                    registered_model=self.registered,
                    commit=commit,
                )
            except discovery.BrokenModelFolder as exc:
                log.error("%s", exc)
                failures.append(folder.name)
                continue
            except Failure:
                raise
            except Exception as exc:  # report it and go on with the other folders
                log.error(
                    "%s: training failed: %s: %s",
                    folder.name,
                    type(exc).__name__,
                    joblog.first_line(exc),
                )
                failures.append(folder.name)
                continue
            self.trained.append(folder.name)
            self.results[folder.name] = (result, time.monotonic() - started)
            m = result.metrics
            log.info(
                "%s: registered %s version %s (run %s), %d rows: "
                "MdAPE %.4f MAE %.0f RMSE %.0f R2 %.3f",
                folder.name,
                self.registered,
                result.model_version,
                result.run_id,
                result.train_rows,
                m["mdape"],
                m["mae"],
                m["rmse"],
                m["r2"],
            )
        names = [f.name for f in folders]
        pushgateway.push_training(self.pushgateway_url, names, self.results, failures, self.started)
        return failures
