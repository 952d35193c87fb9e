"""Prometheus configuration for the local run: scrape the three services and the Pushgateway."""

from __future__ import annotations

from pathlib import Path

import yaml

from local_runner.config import REPO, LocalConfig

RULES = REPO / "k8s_web" / "prometheus" / "rules.yml"


def write_config(config: LocalConfig, pushgateway: bool = False) -> Path:
    """prometheus.yml under the data dir; `pushgateway`: also scrape the jobs' metrics."""
    jobs = []
    for service in ("webapp", "mlapp", "dbapp"):
        jobs.append(
            {
                "job_name": service,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{config.ports[service]}"]}],
            }
        )
    if pushgateway:
        # The pushed groups carry their own `job` label (data-job, training, promotion):
        # honor_labels keeps it instead of renaming it exported_job.
        jobs.append(
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{config.ports['pushgateway']}"]}],
            }
        )
    document = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "15s"},
        "scrape_configs": jobs,
    }
    if RULES.exists():
        document["rule_files"] = [str(RULES)]
    path = config.data_dir / "prometheus" / "prometheus.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
