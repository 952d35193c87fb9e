"""Drift of each new dataset version against the data the champion was trained on.

When the data job commits vN, its rows are compared feature by feature with the
training rows of v1..vK, where vK is the champion's `dataset_version` tag in MLflow (or,
with no champion or MLflow unreachable, v1..vN-1). The result is written beside the
version, `versioned/vN/drift.html` (for people) and `drift.json` (for tools), and the
drift share and per-feature flags are pushed to the Pushgateway.

The statistics are scipy's, chosen per column as Evidently's data-drift preset chooses
them (Evidently itself does not import with the pandas this platform pins):
- numeric: two-sample Kolmogorov-Smirnov p < 0.05 up to 1000 reference rows, else the
  Wasserstein distance in reference standard deviations >= 0.1;
- categorical (text, and whole numbers with few values): chi-squared test of the two
  samples' counts p < 0.05 up to 1000 reference rows, else Jensen-Shannon distance >= 0.1,
  over the reference's 20 most frequent values with the rest pooled (with 70 zip codes,
  two random halves of one sample are 0.1 apart by sampling noise alone);
- the version drifted as a whole when at least half of the features did.

A drift check that fails (unreadable data, MLflow down...) is logged and never fails the
data job: the version is already committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment
from scipy import stats
from scipy.spatial import distance

from houseprice import pushgateway, registry
from houseprice.datasets import VERSION_PREFIX, committed_versions, read_split, version_number
from houseprice.schema import FEATURES
from houseprice.settings import Settings
from houseprice.storage import Bucket

log = logging.getLogger(__name__)

REPORT_HTML = "drift.html"
REPORT_JSON = "drift.json"
# Free text (a street per house) says nothing about the population; every other feature counts.
EXCLUDED = frozenset({"street"})
NUMERIC = tuple(f.name for f in FEATURES if f.kind != "str" and f.name not in EXCLUDED)
TEXT = tuple(f.name for f in FEATURES if f.kind == "str" and f.name not in EXCLUDED)
MAX_CATEGORIES_OF_A_NUMBER = 10  # waterfront, view, condition: categories, not quantities
TOP_CATEGORIES = 20  # the rest of a text feature's values are pooled as one
OTHER = "(other)"
SMALL_SAMPLE = 1000  # reference rows up to which the statistical tests are used
P_VALUE = 0.05
DISTANCE = 0.1
SHARE = 0.5  # share of drifted features from which the version drifted
MAX_ROWS = 200_000  # each side is sampled down to this many rows (bounded time and memory)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "numeric" or "categorical"
    method: str
    statistic: float
    threshold: float
    drifted: bool
    reference: dict[str, Any]  # a short description of each side, for the report
    current: dict[str, Any]


@dataclass
class DriftReport:
    version: str
    reference_versions: list[str]
    reference_source: str  # "champion vK (model version M)" or "previous versions"
    reference_rows: int
    current_rows: int
    features: list[FeatureDrift]
    share_threshold: float = SHARE
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def drift_share(self) -> float:
        return sum(f.drifted for f in self.features) / len(self.features) if self.features else 0.0

    @property
    def dataset_drift(self) -> bool:
        return self.drift_share >= self.share_threshold

    def record(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "features": {f.feature: asdict(f) for f in self.features},
        }


# -- the comparison (plain functions on frames)


def compare(reference: pd.DataFrame, current: pd.DataFrame) -> list[FeatureDrift]:
    """Every feature's drift from `reference` to `current` (both with the feature columns)."""
    small = len(reference) <= SMALL_SAMPLE
    found = []
    for name in NUMERIC:
        ref, cur = reference[name].dropna(), current[name].dropna()
        if ref.nunique() <= MAX_CATEGORIES_OF_A_NUMBER and (ref % 1 == 0).all():
            found.append(_categorical(name, ref.astype("int64"), cur.astype("int64"), small))
        else:
            found.append(_numeric(name, ref.astype(float), cur.astype(float), small))
    for name in TEXT:
        ref, cur = reference[name].fillna("").astype(str), current[name].fillna("").astype(str)
        kept = ref.value_counts().index[:TOP_CATEGORIES]
        ref, cur = ref.where(ref.isin(kept), OTHER), cur.where(cur.isin(kept), OTHER)
        found.append(_categorical(name, ref, cur, small))
    return found


def _numeric(name: str, ref: pd.Series, cur: pd.Series, small: bool) -> FeatureDrift:
    if small:
        p_value = float(stats.ks_2samp(ref, cur).pvalue)
        method, statistic, threshold, drifted = "K-S p-value", p_value, P_VALUE, p_value < P_VALUE
    else:
        spread = float(np.std(ref))
        moved = float(stats.wasserstein_distance(ref, cur))
        statistic = moved / spread if spread > 0 else (0.0 if moved == 0 else float("inf"))
        method, threshold, drifted = "Wasserstein (normed)", DISTANCE, statistic >= DISTANCE
    return FeatureDrift(
        name, "numeric", method, statistic, threshold, drifted, _describe(ref), _describe(cur)
    )


def _categorical(name: str, ref: pd.Series, cur: pd.Series, small: bool) -> FeatureDrift:
    categories = sorted(set(ref.unique()) | set(cur.unique()), key=str)
    ref_counts = ref.value_counts().reindex(categories, fill_value=0).to_numpy()
    cur_counts = cur.value_counts().reindex(categories, fill_value=0).to_numpy()
    if len(categories) < 2:
        method, statistic, threshold, drifted = "single value", 0.0, 0.0, False
    elif small:
        p_value = float(stats.chi2_contingency(np.vstack([ref_counts, cur_counts])).pvalue)
        method, statistic, threshold, drifted = (
            "chi-squared p-value",
            p_value,
            P_VALUE,
            (p_value < P_VALUE),
        )
    else:
        statistic = float(
            distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
        )
        method, threshold, drifted = "Jensen-Shannon distance", DISTANCE, statistic >= DISTANCE
    return FeatureDrift(
        name,
        "categorical",
        method,
        statistic,
        threshold,
        drifted,
        _top(ref_counts, categories),
        _top(cur_counts, categories),
    )


def _describe(values: pd.Series) -> dict[str, Any]:
    q10, q50, q90 = (float(x) for x in np.quantile(values, [0.1, 0.5, 0.9]))
    return {"mean": float(values.mean()), "p10": q10, "median": q50, "p90": q90}


def _top(counts: np.ndarray, categories: list[Any], n: int = 3) -> dict[str, Any]:
    total = int(counts.sum()) or 1
    order = np.argsort(-counts, kind="stable")[:n]
    return {str(categories[i]): round(int(counts[i]) / total, 4) for i in order if counts[i]}


# -- which data the champion saw


def reference_versions(settings: Settings, bucket: Bucket, version: str) -> tuple[list[str], str]:
    """(v1..vK, where they come from): the champion's training data, else every earlier version."""
    earlier = [v for v in committed_versions(bucket) if version_number(v) < version_number(version)]
    if not earlier:
        return [], "no earlier version"
    try:
        registry.configure_client_timeouts()
        registry.check_reachable(settings.MLFLOW_TRACKING_URI)
        from mlflow import MlflowClient  # only here: the check is optional for the job

        uri = settings.MLFLOW_TRACKING_URI
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        champion = registry.champion_version(client, settings.REGISTERED_MODEL_NAME)
    except Exception as exc:  # no registry answer: compare with every earlier version
        log.warning("drift: champion unknown (%s); comparing with the previous versions", exc)
        champion = None
    trained_on = champion.tags.get(registry.TAG_DATASET, "") if champion else ""
    if trained_on in earlier:
        limit = version_number(trained_on)
        chosen = [v for v in earlier if version_number(v) <= limit]
        return chosen, f"champion's data {trained_on} (model version {champion.version})"
    return earlier, "previous versions"


def _rows(bucket: Bucket, versions: list[str], splits: tuple[str, ...]) -> pd.DataFrame:
    frames = [read_split(bucket, v, split) for v in versions for split in splits]
    rows = pd.concat(frames, ignore_index=True)
    return rows.sample(MAX_ROWS, random_state=0) if len(rows) > MAX_ROWS else rows


def check_version(settings: Settings, bucket: Bucket, version: str) -> DriftReport | None:
    """Compare `version` with the reference, write its reports; None without a reference."""
    references, source = reference_versions(settings, bucket, version)
    if not references:
        log.info("drift: %s is the first version, nothing to compare it with", version)
        return None
    reference = _rows(bucket, references, ("train",))  # what the champion was fitted on
    current = _rows(bucket, [version], ("train", "valid"))
    report = DriftReport(
        version, references, source, len(reference), len(current), compare(reference, current)
    )
    prefix = f"{VERSION_PREFIX}{version}/"
    bucket.write_text(prefix + REPORT_JSON, json.dumps(report.record(), indent=2) + "\n")
    bucket.write_text(prefix + REPORT_HTML, render_html(report))
    return report


def after_version(
    settings: Settings, bucket: Bucket, summary: dict[str, Any], emit: Callable[[str], None]
) -> None:
    """The data job's hook: a drift report for the version this run committed, if any.

    Never raises; adds a short `drift` entry to the run summary.
    """
    version = summary.get("version") if summary.get("result") == "version" else None
    if not version:
        return
    try:
        report = check_version(settings, bucket, version)
    except Exception as exc:  # the version stands; only its drift report is missing
        log.warning("drift: no report for %s: %s: %s", version, type(exc).__name__, exc)
        summary["drift"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return
    if report is None:
        summary["drift"] = None
        return
    drifted = [f.feature for f in report.features if f.drifted]
    summary["drift"] = {
        "share": round(report.drift_share, 4),
        "dataset_drift": report.dataset_drift,
        "drifted": drifted,
        "reference": report.reference_source,
        "report": f"{VERSION_PREFIX}{version}/{REPORT_HTML}",
    }
    emit(
        f"drift of {version} vs {report.reference_source}: {len(drifted)} of "
        f"{len(report.features)} features drifted ({', '.join(drifted) or 'none'}); "
        f"report {VERSION_PREFIX}{version}/{REPORT_HTML}"
    )
    flags = {f.feature: f.drifted for f in report.features}
    pushgateway.push(
        settings.PUSHGATEWAY_URL, pushgateway.drift_metrics(version, report.drift_share, flags)
    )


# -- the HTML report

_TEMPLATE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift of {{ r.version }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; } td, th { padding: .3rem .7rem; border-bottom: 1px solid #ddd; }
th { text-align: left; } .drifted { color: #b00020; font-weight: bold; } .num { text-align: right; }
</style></head><body>
<h1>Dataset {{ r.version }}: {{ "drift detected" if r.dataset_drift else "no dataset drift" }}</h1>
<p>{{ drifted }} of {{ r.features | length }} features drifted
({{ "%.0f" | format(r.drift_share * 100) }}%; the version counts as drifted from
{{ "%.0f" | format(r.share_threshold * 100) }}%).</p>
<p>Compared {{ r.current_rows }} rows of {{ r.version }} with {{ r.reference_rows }} training
rows of {{ r.reference_versions | join(", ") }}: {{ r.reference_source }}.
Created {{ r.created_at }}.</p>
<table>
<tr><th>feature</th><th>type</th><th>method</th><th class="num">statistic</th>
<th class="num">threshold</th><th>drifted</th><th>reference</th><th>{{ r.version }}</th></tr>
{% for f in r.features %}
<tr><td>{{ f.feature }}</td><td>{{ f.kind }}</td><td>{{ f.method }}</td>
<td class="num">{{ "%.4g" | format(f.statistic) }}</td><td class="num">{{ f.threshold }}</td>
<td class="{{ 'drifted' if f.drifted else '' }}">{{ "yes" if f.drifted else "no" }}</td>
<td>{{ describe(f.reference) }}</td><td>{{ describe(f.current) }}</td></tr>
{% endfor %}
</table></body></html>
"""
)


def _summary_text(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) and k in ("mean", "p10", "median", "p90")
        else f"{k} {v:.0%}" for k, v in values.items()
    )  # fmt: skip


def render_html(report: DriftReport) -> str:
    drifted = sum(f.drifted for f in report.features)
    return _TEMPLATE.render(r=report, drifted=drifted, describe=_summary_text)
