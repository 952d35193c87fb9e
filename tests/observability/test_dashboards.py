"""The dashboards as files: well formed, provisioned in namespace web, every query valid
PromQL over metrics that exist (the live check is in test_dashboard_queries.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import by_kind, tool
from tests.deploy.test_prometheus import RULES, defined_metrics, referenced_metrics
from tests.observability.dashboards import DASHBOARDS, ROOT, SERVING_HISTOGRAMS, load, queries

PROVISIONING = ROOT / "k8s_web" / "grafana" / "provisioning"


def test_each_dashboard_is_complete_and_uses_the_provisioned_datasource() -> None:
    (datasource,) = yaml.safe_load((PROVISIONING / "datasources.yaml").read_text())["datasources"]
    boards = load()
    assert set(boards) == {"services.json", "pipeline.json", "models.json"}
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            assert panel["title"] and panel["targets"], (name, panel.get("title"))
            assert panel["datasource"]["uid"] == datasource["uid"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["expr"].strip(), (name, panel["title"])
                assert target["datasource"]["uid"] == datasource["uid"]


def test_the_panels_cover_services_pipeline_and_models() -> None:
    exprs = {q.dashboard: " ".join(x.expr for x in queries() if x.dashboard == q.dashboard)
             for q in queries()}  # fmt: skip
    for name in ("prediction_requests_total", "prediction_latency_seconds_bucket",
                 "store_requests_total", "prediction_batch_size_bucket"):  # fmt: skip
        assert name in exprs["services.json"], name
    for name in ("houseprice_job_last_success_timestamp_seconds", "houseprice_data_rows",
                 "houseprice_corrections_held", "houseprice_drift_share"):  # fmt: skip
        assert name in exprs["pipeline.json"], name
    for name in ("houseprice_champion_version", "houseprice_model_mdape", "served_model_version"):
        assert name in exprs["models.json"], name


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each expression (as a recording rule, its offline PromQL check)."""
    rules = [{"record": f"dashboard:query_{i}", "expr": q.expr} for i, q in enumerate(queries())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The check is real: a broken expression fails it.
    path.write_text(path.read_text().replace("sum by (le)", "sum by (le", 1))
    broken = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert broken.returncode != 0


def known_metrics() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    return defined_metrics() | recorded | {"up"}


def unknown_metrics(expr: str) -> set[str]:
    known = known_metrics()
    return {
        name
        for name in referenced_metrics(expr)
        if name not in known and re.sub(r"_(bucket|count|sum)$", "", name) not in known
    }


@pytest.mark.parametrize("query", queries(), ids=lambda q: q.id)
def test_every_query_reads_metrics_that_exist(query) -> None:
    assert unknown_metrics(query.expr) == set()


def test_the_batching_panels_read_the_histograms_mlapp_exports() -> None:
    assert [q for q in queries() if q.needs_serving_histograms]
    assert set(SERVING_HISTOGRAMS) <= known_metrics()


def test_grafana_is_provisioned_with_every_dashboard(rendered) -> None:
    web = rendered["k8s_web"]
    configmaps = by_kind(web, "ConfigMap")
    (dashboards,) = [c for n, c in configmaps.items() if n.startswith("grafana-dashboards-")]
    files = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert dashboards["data"] == files
    (provisioning,) = [c for n, c in configmaps.items() if n.startswith("grafana-provisioning-")]
    provider = yaml.safe_load(provisioning["data"]["dashboards.yaml"])["providers"][0]
    pod = by_kind(web, "Deployment")["grafana"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    dashboard_volume = volumes[mounts[provider["options"]["path"]]]
    assert dashboard_volume["configMap"]["name"] == dashboards["metadata"]["name"]
    # The datasource URL is the Prometheus Service of the same namespace.
    datasource = yaml.safe_load(provisioning["data"]["datasources.yaml"])["datasources"][0]
    service = by_kind(web, "Service")["prometheus"]
    assert datasource["url"] == f"http://prometheus:{service['spec']['ports'][0]['port']}"
