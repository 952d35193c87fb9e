"""Job metrics through the Prometheus Pushgateway: the one helper every job pushes with.

Jobs run to completion, so Prometheus cannot scrape them: each run pushes its gauges to
the Pushgateway at PUSHGATEWAY_URL (empty: no push), which Prometheus scrapes with
`honor_labels: true`. One grouping key per job (`job`, plus `folder` for training), and
`pushadd` rather than `push`: only the metric names a push carries are replaced in the
group, so a failed run keeps the group's last success time and last good figures.

A Pushgateway that is down or slow never fails a job: `push` logs one line and returns.
The metric names below are the contract the alert rules and dashboards read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from houseprice import datasets

log = logging.getLogger(__name__)

PUSH_TIMEOUT_SECONDS = 5.0

# Grouping-key `job` of each job (also the `job` label its metrics carry in Prometheus).
DATA_JOB = "data-job"
TRAINING = "training"
PROMOTION = "promotion"

# name -> (help, label names). The `job` (and `folder`) labels come from the grouping key.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "houseprice_job_last_success_timestamp_seconds": (
        "Unix time the job last finished successfully",
        (),
    ),
    "houseprice_job_last_failure_timestamp_seconds": ("Unix time the job last failed", ()),
    "houseprice_job_duration_seconds": ("Seconds the job's last run took", ()),
    "houseprice_data_rows": (
        "Rows of the data job's last run by outcome (read, rejected, held, versioned, instream)",
        ("outcome",),
    ),
    "houseprice_dataset_version": ("Number N of the newest committed dataset version vN", ()),
    "houseprice_corrections_held": ("Corrections held for review right now", ()),
    "houseprice_drift_share": (
        "Share of features whose distribution drifted in the newest version",
        (),
    ),
    "houseprice_feature_drift": (
        "1 if the feature drifted in the newest version (vs the champion's data), else 0",
        ("feature",),
    ),
    "houseprice_drift_dataset_version": ("Number N of the version the drift report is for", ()),
    "houseprice_training_rows": (
        "Rows the folder's last training run used, by split (train, valid)",
        ("split",),
    ),
    "houseprice_training_dataset_version": (
        "Number N of the dataset version the folder last trained on",
        (),
    ),
    "houseprice_model_mdape": (
        "Median absolute percentage error of a registered model version on validation rows",
        ("version",),
    ),
    "houseprice_training_metric": (
        "A registered version's score at training on the validation rows (mdape, mae, rmse, r2)",
        ("metric", "version"),
    ),
    "houseprice_champion_version": ("Registered model version holding the champion alias", ()),
    "houseprice_champion_dataset_version": (
        "Number N of the dataset version the champion was trained on",
        (),
    ),
    "houseprice_champion_metric": (
        "The champion's score on the promotion's evaluation rows (mdape, mae, rmse, r2)",
        ("metric",),
    ),
    "houseprice_promotion_changed": (
        "1 if the last promotion moved the champion alias, else 0",
        (),
    ),
}


@dataclass
class JobMetrics:
    """The gauges of one job run, in a registry of their own, pushed as one group."""

    job: str
    grouping: dict[str, str] = field(default_factory=dict)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _gauges: dict[str, Gauge] = field(default_factory=dict)

    def set(self, name: str, value: float, **labels: str) -> None:
        help_text, label_names = METRICS[name]
        if name == "houseprice_model_mdape" and "folder" not in self.grouping:
            label_names = ("folder", *label_names)  # promotion: every folder in one group
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = Gauge(name, help_text, label_names, registry=self.registry)
            self._gauges[name] = gauge
        (gauge.labels(**labels) if label_names else gauge).set(value)

    def finished(self, started: float, ok: bool = True) -> None:
        """Duration since `started` (time.monotonic()) and the success or failure time."""
        self.set("houseprice_job_duration_seconds", time.monotonic() - started)
        outcome = "success" if ok else "failure"
        self.set(f"houseprice_job_last_{outcome}_timestamp_seconds", time.time())


def push(url: str, metrics: JobMetrics, timeout: float = PUSH_TIMEOUT_SECONDS) -> bool:
    """Push (add/replace by name) the group; True if the Pushgateway took it. Never raises."""
    if not url:
        return False
    try:
        pushadd_to_gateway(
            url,
            job=metrics.job,
            registry=metrics.registry,
            grouping_key=metrics.grouping,
            timeout=timeout,
        )
    except Exception as exc:  # down, slow, refusing: the job's own work matters more
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        log.warning("metrics of %s not pushed to %s: %s", metrics.job, url, reason)
        return False
    return True


def version_number(version: str | None) -> int | None:
    """3 for "v3"; None for anything that is not a dataset version (no figure is pushed)."""
    try:
        return datasets.version_number(version or "")
    except ValueError:
        return None


# -- what each job pushes


def data_job_metrics(
    summary: Mapping[str, Any], started: float, newest: str | None, held: int | None
) -> JobMetrics:
    """A successful data-job run: rows by outcome, newest version, held corrections."""
    metrics = JobMetrics(DATA_JOB)
    files = summary.get("files") or []
    corrections = summary.get("corrections") or {}
    read = sum(int(f.get("rows_read", 0)) for f in files) + int(corrections.get("read", 0))
    versioned = summary.get("rows_written", 0) if summary.get("result") == "version" else 0
    instream = summary.get("rows_written", 0) if summary.get("result") == "instream" else 0
    rows = {
        "read": read,
        "rejected": int(summary.get("rejected", 0)),
        "held": int(corrections.get("held", 0)),
        "versioned": int(versioned),
        "instream": int(instream),
    }
    for outcome, count in rows.items():
        metrics.set("houseprice_data_rows", count, outcome=outcome)
    number = version_number(newest)
    if number is not None:
        metrics.set("houseprice_dataset_version", number)
    if held is not None:
        metrics.set("houseprice_corrections_held", held)
    metrics.finished(started)
    return metrics


def push_data_job(
    settings: Any, summary: Mapping[str, Any], started: float, data_bucket: Any, corrections: Any
) -> bool:
    """After a successful data-job run: read the newest version (BUCKET_2) and the number of
    held corrections (COLLECTION_2), then push. Neither read may fail the job either."""
    if not settings.PUSHGATEWAY_URL:
        return False
    newest = held = None
    try:
        newest = datasets.latest_version(data_bucket)
        held = corrections.count_documents({"held": True})
    except Exception as exc:  # reported, and pushed without the figure it could not read
        log.warning("job metrics incomplete: %s: %s", type(exc).__name__, str(exc)[:200])
    return push(settings.PUSHGATEWAY_URL, data_job_metrics(summary, started, newest, held))


def drift_metrics(version: str, share: float, drifted: Mapping[str, bool]) -> JobMetrics:
    """Drift of one new version; pushed into the data job's group (different names)."""
    metrics = JobMetrics(DATA_JOB)
    metrics.set("houseprice_drift_share", share)
    number = version_number(version)
    if number is not None:
        metrics.set("houseprice_drift_dataset_version", number)
    for feature, flag in drifted.items():
        metrics.set("houseprice_feature_drift", 1.0 if flag else 0.0, feature=feature)
    return metrics


def training_metrics(
    folder: str,
    started: float,
    *,
    ok: bool,
    result: Any | None = None,
    seconds: float | None = None,
) -> JobMetrics:
    """One folder's training run. `result` is a training.train.TrainResult (None: no new
    model, because the folder already trained on the newest version or it failed)."""
    metrics = JobMetrics(TRAINING, {"folder": folder})
    if result is not None:
        metrics.set("houseprice_training_rows", result.train_rows, split="train")
        metrics.set("houseprice_training_rows", result.valid_rows, split="valid")
        number = version_number(result.dataset_version)
        if number is not None:
            metrics.set("houseprice_training_dataset_version", number)
        for name, value in result.metrics.items():
            metrics.set(
                "houseprice_training_metric", value, metric=name, version=result.model_version
            )
        if "mdape" in result.metrics:
            metrics.set(
                "houseprice_model_mdape", result.metrics["mdape"], version=result.model_version
            )
    metrics.finished(started, ok=ok)
    if seconds is not None:
        metrics.set("houseprice_job_duration_seconds", seconds)
    return metrics


def push_training(
    url: str,
    folders: Iterable[str],
    results: Mapping[str, tuple[Any, float]],
    failures: Iterable[str],
    started: float,
) -> None:
    """One group per model folder of a training command (`train <folder>` or `train-all`).

    `results`: folder -> (TrainResult, seconds its training took) for the folders that
    trained; the others already trained on the newest version (success) or are `failures`.
    """
    failed = set(failures)
    for folder in folders:
        result, seconds = results.get(folder, (None, None))
        ok = folder not in failed
        push(url, training_metrics(folder, started, ok=ok, result=result, seconds=seconds))


def promotion_metrics(decision: Any, started: float) -> JobMetrics:
    """A promotion decision (promotion.promotion.Decision): champion, its scores on the
    recent rows, every scored candidate's MdAPE on the same rows."""
    metrics = JobMetrics(PROMOTION)
    metrics.set("houseprice_promotion_changed", 1.0 if decision.changed else 0.0)
    for candidate in decision.candidates:
        if not candidate.error and "mdape" in candidate.recent:
            metrics.set(
                "houseprice_model_mdape",
                candidate.recent["mdape"],
                folder=candidate.model_folder,
                version=candidate.version,
            )
    champion = decision.champion
    if champion is not None:
        metrics.set("houseprice_champion_version", float(champion.version))
        number = version_number(champion.dataset_version)
        if number is not None:
            metrics.set("houseprice_champion_dataset_version", number)
        for name, value in decision.champion_metrics.items():
            metrics.set("houseprice_champion_metric", value, metric=name)
    metrics.finished(started)
    return metrics


def push_promotion(url: str, decision: Any, started: float) -> bool:
    return push(url, promotion_metrics(decision, started))
