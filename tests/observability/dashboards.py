"""The Grafana dashboards under k8s_web/grafana/dashboards, read the way Grafana reads them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "k8s_web" / "grafana" / "dashboards"
# Histograms the batching mlapp exposes; the panels reading them are kept even where
# mlapp does not export them yet, and the checks on them are marked as expected to fail.
SERVING_HISTOGRAMS = ("prediction_batch_size", "prediction_queue_wait_seconds")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}: {self.panel}: {self.expr[:60]}"

    @property
    def needs_serving_histograms(self) -> bool:
        return any(name in self.expr for name in SERVING_HISTOGRAMS)


def load() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def queries() -> list[Query]:
    return [
        Query(name, panel["title"], target["expr"])
        for name, board in load().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]
