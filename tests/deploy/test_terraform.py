"""infra/: every file parses (python-hcl2; `terraform validate` runs on the operator's machine,
no Terraform binary here), and it builds the same platform as the runbook and the manifests:
names, per-workload bucket grants, Workload Identity, the cluster's Dataplane V2, private
Cloud SQL, the build's account and the triggers from deploy/triggers/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from deploy import trigger_config
from tests.deploy.conftest import ROOT
from tests.deploy.test_runbook import script

INFRA = ROOT / "infra"


def clean(value: Any) -> Any:
    """python-hcl2's output without its quoting and block markers."""
    if isinstance(value, dict):
        return {
            clean(k): clean(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def terraform() -> dict[str, list[Any]]:
    """Top-level block type -> every block of that type, across infra/*.tf."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in clean(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def resources(terraform, kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: body
        for block in terraform["resource"]
        if kind in block
        for name, body in block[kind].items()
    }


def locals_(terraform) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in terraform["locals"]:
        merged.update(block)
    return merged


def test_every_file_parses_and_declares_what_it_needs(terraform) -> None:
    files = sorted(p.name for p in INFRA.glob("*.tf"))
    assert {"versions.tf", "variables.tf", "cluster.tf", "buckets.tf", "sql.tf", "iam.tf"} <= set(
        files
    )
    (settings,) = terraform["terraform"]
    assert "google" in settings["required_providers"][0]
    for variable in terraform["variable"]:
        for name, body in variable.items():
            assert body.get("description"), f"variable {name} has no description"


def test_a_parse_error_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tf"
    broken.write_text('resource "google_storage_bucket" "x" {\n  name = \n')
    with broken.open() as handle, pytest.raises(Exception):  # noqa: B017 - lark's own errors
        hcl2.load(handle)


def test_no_state_or_variable_values_are_committed() -> None:
    committed = [p.name for p in INFRA.rglob("*") if p.is_file()]
    assert not [n for n in committed if n.endswith((".tfstate", ".tfvars", ".tfstate.backup"))]
    ignore = (ROOT / ".gitignore").read_text()
    for pattern in ("*.tfstate", "*.tfvars", ".terraform/"):
        assert pattern in ignore, pattern


def test_buckets_are_the_overlays_buckets_and_private(terraform) -> None:
    buckets = locals_(terraform)["buckets"]
    assert {k: v.replace("${var.project_id}", "P") for k, v in buckets.items()} == {
        "raw": "P-houseprice-raw",
        "datasets": "P-houseprice-datasets",
        "mlflow": "P-houseprice-mlflow",
    }
    for name, bucket in resources(terraform, "google_storage_bucket").items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        assert bucket["versioning"][0]["enabled"] is True, name


def test_each_workload_gets_the_runbooks_grants_and_workload_identity(terraform) -> None:
    accounts = resources(terraform, "google_service_account")
    assert accounts["workload"]["for_each"] == (
        '${toset(["mlflow", "data-job", "training", "promotion"])}'
    )
    grants = {
        (g["bucket"], g["account"], g["role"]) for g in locals_(terraform)["bucket_grants"].values()
    }
    use = {"raw": "BUCKET_1", "datasets": "BUCKET_2", "mlflow": "BUCKET_3"}
    runbook = set(
        re.findall(
            r'add-iam-policy-binding "\$(BUCKET_\d)" --role (roles/storage\.\w+) \\\n\s+--member '
            r'"serviceAccount:houseprice-([\w-]+)@',
            script(),
        )
    )
    lease = resources(terraform, "google_storage_bucket_iam_member")["promotion_lease"]
    assert lease["role"] == "roles/storage.objectUser"
    assert lease["condition"][0]["expression"].endswith('/objects/leases/promotion.json\\"')
    grants.add(("datasets", "promotion", "roles/storage.objectUser"))
    assert {(use[bucket], role, account) for bucket, account, role in grants} == runbook
    binding = resources(terraform, "google_service_account_iam_member")["workload_identity"]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == "serviceAccount:${var.project_id}.svc.id.goog[ml/${each.key}]"


def test_the_cluster_enforces_network_policies_with_workload_identity(terraform) -> None:
    cluster = resources(terraform, "google_container_cluster")["houseprice"]
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"  # Dataplane V2
    assert cluster["location"] == "${var.region}"  # regional, not zonal
    assert (
        cluster["workload_identity_config"][0]["workload_pool"] == "${var.project_id}.svc.id.goog"
    )
    assert cluster["private_cluster_config"][0]["enable_private_nodes"] is True
    # Cloud Build runs on Google Cloud addresses: it must reach the control plane, as in the
    # runbook's --enable-google-cloud-access.
    assert cluster["master_authorized_networks_config"][0]["gcp_public_cidrs_access_enabled"]
    assert "--enable-google-cloud-access" in script()
    pool = resources(terraform, "google_container_node_pool")["default"]
    assert pool["node_config"][0]["workload_metadata_config"][0]["mode"] == "GKE_METADATA"


def test_cloud_sql_is_private_and_the_runbooks_version(terraform) -> None:
    instance = resources(terraform, "google_sql_database_instance")["mlflow"]
    settings = instance["settings"][0]
    assert settings["ip_configuration"][0]["ipv4_enabled"] is False
    assert settings["ip_configuration"][0]["ssl_mode"] == "ENCRYPTED_ONLY"
    assert f"--database-version {instance['database_version']}" in script()
    assert resources(terraform, "google_service_networking_connection")["sql"]


def test_names_shared_with_the_manifests_and_pipelines(terraform) -> None:
    addresses = resources(terraform, "google_compute_global_address")
    assert addresses["web"]["name"] == "houseprice-web"  # k8s_web/ingress.yaml
    assert resources(terraform, "google_compute_address")["nat"]["name"] == "houseprice-nat"
    assert locals_(terraform)["repository"] == "houseprice"  # cloudbuild _REGISTRY
    build = resources(terraform, "google_service_account")["build"]
    assert build["account_id"] == trigger_config.BUILD_ACCOUNT
    roles = resources(terraform, "google_project_iam_member")["build"]["for_each"]
    assert "roles/container.developer" in roles and "roles/owner" not in roles


def test_triggers_come_from_the_tested_trigger_files(terraform) -> None:
    triggers = locals_(terraform)["triggers"]
    assert triggers == {
        "ml": '${yamldecode(file("${path.module}/../deploy/triggers/ml.yaml"))}',
        "web": '${yamldecode(file("${path.module}/../deploy/triggers/web.yaml"))}',
    }
    trigger = resources(terraform, "google_cloudbuild_trigger")["pipeline"]
    assert trigger["included_files"] == "${each.value.includedFiles}"
    assert trigger["service_account"] == "${google_service_account.build.id}"
    assert "repository_event_config" in trigger


def test_the_docs_say_where_terraform_validate_runs() -> None:
    readme = (INFRA / "README.md").read_text()
    assert "terraform validate" in readme and "python-hcl2" in readme and "checkov" in readme
