"""Prometheus in namespace web: promtool accepts what is deployed, the rules do what they say,
and every scrape target and metric name exists."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import ROOT, by_kind, tool

RULES = ROOT / "k8s_web" / "prometheus" / "rules.yml"
RULE_TESTS = ROOT / "tests" / "deploy" / "rules_test.yml"
METRIC_MODULES = [ROOT / s / "metrics.py" for s in ("webapp", "mlapp", "dbapp")]
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "irate", "absent",
    "histogram_quantile", "clamp_min", "by", "without", "on", "ignoring", "unless", "or",
    "and", "bool", "offset", "vector", "time", "scalar", "group_left",
}  # fmt: skip


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def deployed_config(rendered, tmp_path_factory) -> Path:
    """The prometheus-config ConfigMap as Prometheus sees it: files in one directory."""
    (configmap,) = [
        c
        for n, c in by_kind(rendered["k8s_web"], "ConfigMap").items()
        if n.startswith("prometheus-config-")
    ]
    directory = tmp_path_factory.mktemp("etc-prometheus")
    for name, content in configmap["data"].items():
        (directory / name).write_text(content)
    return directory / "prometheus.yml"


def test_promtool_accepts_the_deployed_config(deployed_config: Path) -> None:
    done = promtool("check", "config", str(deployed_config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    config = yaml.safe_load(deployed_config.read_text())
    for rule_file in config["rule_files"]:
        assert (deployed_config.parent / rule_file).is_file(), rule_file


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check is real: an expression that does not parse fails it."""
    broken = tmp_path / "rules.yml"
    broken.write_text(RULES.read_text().replace("rate(prediction_requests_total[5m])", "rate(", 1))
    assert promtool("check", "rules", str(broken)).returncode != 0


def test_rules_pass_promtool_check() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_unit_tests_pass() -> None:
    """tests/deploy/rules_test.yml: each alert fires on its condition and only then."""
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_is_unit_tested_and_labelled() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert {
        "ServiceDown",
        "HighPredictionErrorRate",
        "MongoDown",
        "NoModelLoaded",
        "HighPredictionLatencyP99",
        "JobNotSucceeding",
        "ChampionBehindData",
        "MlappNotServingChampion",
        "HeldCorrectionsPilingUp",
        "DataDrift",
    } <= set(alerts)
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert set(alerts) <= tested
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def defined_metrics() -> set[str]:
    """Metric names the services register (prometheus_client constructors' first argument)
    and those the jobs push (houseprice/pushgateway.py)."""
    from houseprice.pushgateway import METRICS

    names = set(METRICS)
    for module in METRIC_MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") in ("Counter", "Gauge", "Histogram", "Summary")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def referenced_metrics(expr: str) -> set[str]:
    names = set()
    for alternatives in re.findall(r'__name__=~"([^"]+)"', expr):
        names |= set(alternatives.split("|"))
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r'"[^"]*"', "", expr)
    for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if token not in PROMQL_WORDS and not token.replace(".", "").isdigit():
            names.add(token)
    return names


def test_rules_use_only_metrics_the_services_export() -> None:
    defined = defined_metrics()
    assert {
        "prediction_requests_total",
        "mongo_health_status",
        "model_load_time_seconds",
    } <= defined
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for group in groups:
        for rule in group["rules"]:
            for name in referenced_metrics(rule["expr"]):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                assert name in recorded or name == "up" or base in defined, (
                    f"{rule.get('alert') or rule.get('record')}: unknown metric {name}"
                )
    assert referenced_metrics('rate(store_latency_seconds_bucket{job="dbapp"}[5m])') == {
        "store_latency_seconds_bucket"
    }


def test_scrape_jobs_reach_every_pod_of_each_service(rendered, deployed_config: Path) -> None:
    config = yaml.safe_load(deployed_config.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"webapp", "dbapp", "mlapp"} <= set(jobs)
    namespaces = {"web": rendered["k8s_web"], "ml": rendered["k8s_ml"]}
    for name in ("webapp", "dbapp", "mlapp"):
        (sd,) = jobs[name]["dns_sd_configs"]
        (dns_name,) = sd["names"]
        service_name, namespace, *_ = dns_name.split(".")
        assert dns_name == f"{service_name}.{namespace}.svc.cluster.local"
        service = by_kind(namespaces[namespace], "Service")[service_name]
        # Headless and listing unready pods: one target per pod, a pod without a model
        # (unready) still reports, and the job name is the service name, as in local runs.
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is True
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert sd["port"] == service["spec"]["ports"][0]["port"]
        assert sd["type"] == "A"


def test_local_runner_uses_the_same_rules_file() -> None:
    from local_runner import prometheus

    assert prometheus.RULES == RULES


def test_the_pushgateway_is_scraped_keeping_the_jobs_labels(rendered, deployed_config) -> None:
    """Pushed groups carry job="data-job" etc.: honor_labels keeps them (not exported_job)."""
    config = yaml.safe_load(deployed_config.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "pushgateway"]
    assert job["honor_labels"] is True
    (sd,) = job["static_configs"]
    (target,) = sd["targets"]
    host, port = target.split(":")
    service = by_kind(rendered["k8s_web"], "Service")[host.split(".")[0]]
    assert host == "pushgateway.web.svc.cluster.local"
    assert int(port) == service["spec"]["ports"][0]["port"]
    # The jobs push where Prometheus scrapes.
    for folder in ("k8s_ml", "k8s_web"):
        env = (ROOT / folder / "config.env").read_text()
        assert f"PUSHGATEWAY_URL=http://{target}\n" in env, folder
