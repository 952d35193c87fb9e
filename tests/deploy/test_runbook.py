"""docs/deployment.md's runbook: its shell blocks, in order, pass shellcheck as one script,
every variable is set before it is used, every step the platform needs is there, and the
commands it runs from this repository exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from deploy import trigger_config
from tests.deploy.conftest import ROOT, tool

RUNBOOK = ROOT / "docs" / "deployment.md"
FENCE = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
# Set by the shell or the login itself, never by the reader.
ENVIRONMENT = {"HOME", "PATH", "USER", "PWD", "EDITOR"}
ASSIGNMENT = re.compile(r"(?:^|[;&|(]\s*|\bexport\s+|\blocal\s+)([A-Za-z_][A-Za-z0-9_]*)=")
LOOP = re.compile(r"\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b")
USE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


def blocks(text: str | None = None) -> list[str]:
    return FENCE.findall(RUNBOOK.read_text() if text is None else text)


def script(text: str | None = None) -> str:
    return "#!/usr/bin/env bash\n" + "\n".join(blocks(text))


def expanded_part(line: str) -> str:
    """What the shell would expand on this line: single-quoted text is literal."""
    return re.sub(r"'[^']*'", "''", line)


def undefined_before_use(text: str) -> list[str]:
    """`VAR (line N)` for each variable used before any line of the script sets it."""
    defined = set(ENVIRONMENT)
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        expanded = expanded_part(code)
        defined |= set(LOOP.findall(code))  # `for X in ...; do ... $X` on one line
        for match in USE.finditer(expanded):
            name = match.group(1) or match.group(2)
            if name not in defined:
                problems.append(f"{name} (line {number})")
        defined |= set(ASSIGNMENT.findall(code))
    return problems


def test_the_runbook_has_its_shell_blocks() -> None:
    assert len(blocks()) >= 15


def test_shellcheck_passes_the_runbook_as_one_script(tmp_path: Path) -> None:
    path = tmp_path / "runbook.sh"
    path.write_text(script())
    done = subprocess.run(
        [tool("shellcheck"), "--shell=bash", "--severity=style", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


def test_shellcheck_would_catch_a_mistake(tmp_path: Path) -> None:
    path = tmp_path / "broken.sh"
    path.write_text(script("```sh\nfor f in $(ls *.csv); do rm $f; done\n```\n"))
    done = subprocess.run([tool("shellcheck"), str(path)], capture_output=True, text=True)
    assert done.returncode != 0


def test_every_variable_is_set_before_it_is_used() -> None:
    assert undefined_before_use(script()) == []


def test_the_variable_check_catches_a_use_before_its_definition() -> None:
    text = script(
        '```sh\necho "$LATER" \'$QUOTED\'\nLATER=1\nfor X in a; do echo "$X"; done\n```\n'
    )
    assert undefined_before_use(text) == ["LATER (line 2)"]


@pytest.mark.parametrize(
    ("step", "pattern"),
    [
        ("APIs", r"gcloud services enable"),
        (
            "regional GKE with Dataplane V2",
            r"clusters create \"\$CLUSTER\" --region[\s\S]*--enable-dataplane-v2",
        ),
        ("Workload Identity pool", r"--workload-pool \"\$PROJECT_ID\.svc\.id\.goog\""),
        ("Artifact Registry", r"gcloud artifacts repositories create"),
        ("buckets", r"gcloud storage buckets create \"\$BUCKET\""),
        ("VPC peering", r"gcloud services vpc-peerings connect"),
        ("Cloud SQL by private IP", r"gcloud sql instances create[\s\S]*--no-assign-ip"),
        ("Atlas allow-list", r"atlas accessLists create \"\$NAT_IP/32\""),
        ("Workload Identity bindings", r"roles/iam\.workloadIdentityUser"),
        ("the build's account", r"gcloud iam service-accounts create houseprice-build"),
        ("2nd gen triggers", r"gcloud builds connections create github"),
        ("1st gen triggers", r"--github \"\$GITHUB_OWNER/\$GITHUB_REPO\""),
        ("trigger import", r"gcloud builds triggers import"),
        (
            "secrets from env files",
            r"create secret generic houseprice-secrets \\\n\s+--from-env-file",
        ),
        ("first deploy", r"gcloud builds triggers run houseprice-ml"),
        ("verification over HTTPS", r"curl[^\n]*\"https://\$WEB_DOMAIN/\""),
        ("rollback", r"rollout undo"),
        ("database upgrade", r"deploy/run_job\.sh ml mlflow-db-upgrade"),
    ],
)
def test_the_runbook_covers(step: str, pattern: str) -> None:
    assert re.search(pattern, script()), step


def test_each_workload_account_gets_exactly_its_bucket_grants() -> None:
    grants = re.findall(
        r'add-iam-policy-binding "\$(BUCKET_\d)" --role (roles/storage\.\w+) \\\n\s+--member '
        r'"serviceAccount:houseprice-([\w-]+)@',
        script(),
    )
    assert sorted(grants) == sorted(
        [
            ("BUCKET_3", "roles/storage.objectAdmin", "mlflow"),
            ("BUCKET_1", "roles/storage.objectAdmin", "data-job"),
            ("BUCKET_2", "roles/storage.objectAdmin", "data-job"),
            ("BUCKET_2", "roles/storage.objectViewer", "training"),
            ("BUCKET_2", "roles/storage.objectViewer", "promotion"),
            ("BUCKET_2", "roles/storage.objectUser", "promotion"),
        ]
    )
    # The promotion's write access is its lease object only.
    lease = "objects/leases/promotion.json'\""
    assert re.search(
        r"--role roles/storage\.objectUser \\\n.*\n\s+--condition .*" + re.escape(lease), script()
    )


def test_names_agree_with_the_manifests_and_pipelines() -> None:
    text = script()
    bucket_names = re.findall(r'BUCKET_\d="gs://\$PROJECT_ID-(houseprice-\w+)"', text)
    assert bucket_names == ["houseprice-raw", "houseprice-datasets", "houseprice-mlflow"]
    for env in ("staging", "prod"):
        config = (ROOT / "overlays" / env / "project" / "config.env").read_text()
        for name in bucket_names:
            assert f"-{name}\n" in config, (env, name)
    assert "houseprice-web" in (ROOT / "k8s_web" / "ingress.yaml").read_text()
    assert "gcloud compute addresses create houseprice-web --global" in text
    assert f'BUILD_SA="{trigger_config.BUILD_ACCOUNT}@$PROJECT_ID' in text
    assert "cloudbuild_1.yaml" in (ROOT / "deploy" / "triggers" / "ml.yaml").read_text()


def test_repository_commands_it_runs_exist() -> None:
    text = script()
    for path in set(re.findall(r"\b((?:deploy|k8s_ml|k8s_web)/[\w./-]+\.(?:sh|yaml))", text)):
        assert (ROOT / path).is_file(), path
    for module in set(re.findall(r"python -m (deploy\.\w+)", text)):
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    for template in ("cluster-secrets.env.example", "mlflow-db.env.example"):
        keys = {
            line.split("=")[0]
            for line in (ROOT / "deploy" / "env" / template).read_text().splitlines()
            if line and not line.startswith("#")
        }
        written = re.search(
            rf"cat > \"\$SECRETS_DIR/{template[:-8]}\" <<EOF\n(.*?)\nEOF", text, re.S
        )
        assert written, template
        assert {line.split("=")[0] for line in written.group(1).splitlines()} == keys


def test_trigger_config_fills_in_either_connection() -> None:
    first = trigger_config.trigger("houseprice-ml", "p1", github="o/r")
    assert first["github"] == {"owner": "o", "name": "r", "push": {"branch": "^main$"}}
    assert first["serviceAccount"].endswith("houseprice-build@p1.iam.gserviceaccount.com")
    repository = "projects/p1/locations/europe-west1/connections/c/repositories/r"
    second = trigger_config.trigger("houseprice-web", "p1", repository=repository)
    assert "github" not in second
    assert second["repositoryEventConfig"] == {
        "repository": repository,
        "push": {"branch": "^main$"},
    }
    assert second["includedFiles"] and second["filename"] == "cloudbuild_2.yaml"
    with pytest.raises(ValueError):
        trigger_config.trigger("houseprice-ml", "p1")
    with pytest.raises(ValueError):
        trigger_config.trigger("houseprice-ml", "p1", repository="github.com/o/r")
