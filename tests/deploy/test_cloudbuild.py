"""The two Cloud Build pipelines: tests gate every build, they build what the manifests run,
push before deploying, pin tag@digest without editing any file in git, migrate MLflow's
database before MLflow rolls out, and bootstrap an empty platform."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.path_filters import fires, load_triggers
from tests.deploy.conftest import ROOT, by_kind, containers, kustomize_build, tool

# Pipeline -> (base, namespace, trigger, the test folders its checks run)
PIPELINES = {
    "cloudbuild_1.yaml": ("k8s_ml", "ml", "houseprice-ml"),
    "cloudbuild_2.yaml": ("k8s_web", "web", "houseprice-web"),
}
# The test folders of what each pipeline ships (and the deployment checks).
SHIPPED_TESTS = {
    "ml": {"houseprice", "data_collection_and_versioning", "training", "promotion", "models"}
    | {"mlapp", "mlflow", "deploy"},
    "web": {"houseprice", "webapp", "dbapp", "deploy"},
}
BUILTIN_SUBSTITUTIONS = {"PROJECT_ID", "SHORT_SHA", "COMMIT_SHA", "BRANCH_NAME", "BUILD_ID"}
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(params=sorted(PIPELINES))
def pipeline(request) -> tuple[str, dict[str, Any]]:
    return request.param, yaml.safe_load((ROOT / request.param).read_text())


def steps_by_id(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    steps = {step["id"]: step for step in config["steps"]}
    assert len(steps) == len(config["steps"]), "step ids must be unique"
    return steps


def ancestors(step_id: str, steps: dict[str, dict[str, Any]]) -> set[str]:
    """Steps that finish before `step_id` starts (Cloud Build's waitFor; none = all before)."""
    order = list(steps)
    wait = steps[step_id].get("waitFor")
    if wait is None:
        direct = set(order[: order.index(step_id)])
    elif wait == ["-"]:
        direct = set()
    else:
        direct = set(wait)
    found = set(direct)
    for parent in direct:
        found |= ancestors(parent, steps)
    return found


def step_text(step: dict[str, Any]) -> str:
    return " ".join([step.get("entrypoint", ""), *map(str, step.get("args", []))])


def built_targets(config: dict[str, Any]) -> list[str]:
    (build,) = [s for s in config["steps"] if "deploy/build_images.sh" in s.get("args", [])]
    args = build["args"]
    assert args[1:4] == ["${_REGISTRY}", "${SHORT_SHA}", "${COMMIT_SHA}"]
    return args[4:]


def rendered_images(resources) -> set[str]:
    return {
        c["image"].removeprefix("houseprice/")
        for _, _, c in containers(resources)
        if c["image"].startswith("houseprice/")
    }


def test_checks_gate_every_step_that_builds_pushes_or_deploys(pipeline) -> None:
    """A failing test stops the pipeline before anything is built or pushed."""
    _, config = pipeline
    steps = steps_by_id(config)
    first = config["steps"][0]
    assert first["id"] == "checks"
    assert "allowFailure" not in first and "allowExitCodes" not in first
    for step_id, step in steps.items():
        if step_id != "checks":
            assert "checks" in ancestors(step_id, steps), f"{step_id} may start before the tests"
        assert not step.get("allowFailure"), step_id


def test_checks_run_lint_and_the_tests_of_what_the_pipeline_ships(pipeline) -> None:
    name, config = pipeline
    _, namespace, _ = PIPELINES[name]
    checks = steps_by_id(config)["checks"]
    assert checks["entrypoint"] == "bash"
    assert checks["args"] == ["deploy/pipeline_checks.sh", namespace]
    script = (ROOT / "deploy" / "pipeline_checks.sh").read_text()
    assert "set -euo pipefail" in script and "bash deploy/lint.sh" in script
    suites = re.search(rf"\n  {namespace}\)\n\s+suites=\(([^)]*)\)", script).group(1).split()
    assert {s.removeprefix("tests/") for s in suites} == SHIPPED_TESTS[namespace]
    assert all((ROOT / s).is_dir() for s in suites)
    # The checks step uses the images' Python.
    assert "FROM " + checks["name"] + " AS deps" in (ROOT / "Dockerfile").read_text()


def test_the_checks_script_refuses_an_unknown_pipeline() -> None:
    bad = subprocess.run(
        ["bash", str(ROOT / "deploy" / "pipeline_checks.sh"), "nope"], capture_output=True
    )
    assert bad.returncode == 2


def test_the_pipeline_builds_exactly_the_images_its_namespace_runs(pipeline, rendered) -> None:
    name, config = pipeline
    base, _, _ = PIPELINES[name]
    assert set(built_targets(config)) == rendered_images(rendered[base])
    declared = {
        re.fullmatch(r"\$\{_REGISTRY\}/([a-z0-9-]+):\$\{SHORT_SHA\}", image).group(1)
        for image in config.get("images", [])
    }
    assert declared == set(built_targets(config))


def test_images_are_tagged_with_the_commit_and_carry_it() -> None:
    done = subprocess.run(
        ["bash", "deploy/build_images.sh", "--dry-run", "REG", "abc1234", "abc1234def", "mlapp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "docker build --target mlapp --build-arg GIT_COMMIT=abc1234def -t REG/mlapp:abc1234 .",
        "docker push REG/mlapp:abc1234",
        "record mlapp",
    ]
    bad = subprocess.run(
        ["bash", "deploy/build_images.sh", "--dry-run", "REG", "a;b", "c", "mlapp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "invalid tag" in bad.stderr


def test_images_are_pushed_before_the_cluster_hears_of_them(pipeline) -> None:
    _, config = pipeline
    steps = steps_by_id(config)
    assert "build-push" in ancestors("set-image-tags", steps)
    for step_id, step in steps.items():
        if "kubectl" in step["name"] and step_id != "cluster-credentials":
            assert "set-image-tags" in ancestors(step_id, steps), step_id


def test_the_overlay_is_pinned_by_digest_and_rendered(pipeline) -> None:
    name, config = pipeline
    _, namespace, _ = PIPELINES[name]
    script = " ".join(steps_by_id(config)["set-image-tags"]["args"])
    overlay = f"overlays/${{_OVERLAY}}/{namespace}"
    assert 'sh deploy/check_overlay.sh overlays/${_OVERLAY} "${PROJECT_ID}" "${_REGION}"' in script
    assert (
        f'sh deploy/set_image_tags.sh {overlay} "${{_REGISTRY}}" "${{SHORT_SHA}}" '
        "/workspace/digests" in script
    )
    assert f"kustomize build {overlay} > /workspace/k8s_{namespace}.rendered.yaml" in script
    deploy = steps_by_id(config)["deploy"]
    assert deploy["args"] == ["apply", "-f", f"/workspace/k8s_{namespace}.rendered.yaml"]
    assert config["substitutions"]["_OVERLAY"] in ("staging", "prod")


def test_the_build_runs_as_its_own_service_account(pipeline) -> None:
    _, config = pipeline
    assert config["serviceAccount"] == (
        "projects/${PROJECT_ID}/serviceAccounts/houseprice-build@${PROJECT_ID}.iam.gserviceaccount.com"
    )
    # A user-specified service account needs an explicit logging choice.
    assert config["options"]["logging"] == "CLOUD_LOGGING_ONLY"


def test_substitutions_are_declared(pipeline) -> None:
    name, config = pipeline
    text = (ROOT / name).read_text().split("steps:")[1]
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", text))
    declared = set(config["substitutions"]) | BUILTIN_SUBSTITUTIONS
    assert used <= declared, used - declared
    assert config["options"]["dynamicSubstitutions"] is True  # _REGISTRY uses _REGION
    trigger = load_triggers()[PIPELINES[name][2]]
    assert set(trigger["substitutions"]) <= set(config["substitutions"])


def test_files_the_pipeline_runs_fire_its_trigger(pipeline) -> None:
    name, config = pipeline
    _, _, trigger_name = PIPELINES[name]
    trigger = load_triggers()[trigger_name]
    assert trigger["filename"] == name
    text = yaml.safe_dump(config["steps"])
    referenced = set(re.findall(r"(?:deploy|scripts)/[\w./-]+", text))
    referenced = {path for path in referenced if (ROOT / path).is_file()}
    assert "deploy/build_images.sh" in referenced
    for path in referenced | {name, "Dockerfile"}:
        assert fires(trigger, [path]), f"changing {path} does not run {name}"


def test_mlflow_database_is_migrated_before_mlflow_rolls_out() -> None:
    config = yaml.safe_load((ROOT / "cloudbuild_1.yaml").read_text())
    steps = steps_by_id(config)
    migrate = " ".join(steps["migrate"]["args"])
    assert "-l houseprice.io/deploy-phase=migrate" in migrate
    assert 'bash deploy/run_job.sh ml mlflow-db-upgrade "${BUILD_ID}"' in migrate
    assert "migrate" in ancestors("deploy", steps)


def test_the_migrate_phase_holds_the_upgrade_job_and_what_it_needs(rendered) -> None:
    phase = [
        r
        for r in rendered["k8s_ml"]
        if r["metadata"].get("labels", {}).get("houseprice.io/deploy-phase") == "migrate"
    ]
    assert {(r["kind"], r["metadata"]["name"]) for r in phase} == {
        ("CronJob", "mlflow-db-upgrade"),
        ("ServiceAccount", "mlflow"),
    }
    upgrade = by_kind(phase, "CronJob")["mlflow-db-upgrade"]
    assert upgrade["spec"]["suspend"] is True
    pod = upgrade["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "houseprice/mlflow"
    assert container["command"] == ["mlflow", "db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"]
    # Only the database Secret: a ConfigMap is not in the migrate phase.
    assert "envFrom" not in container
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-db"


def test_first_deploy_bootstraps_then_waits_for_mlapp() -> None:
    config = yaml.safe_load((ROOT / "cloudbuild_1.yaml").read_text())
    steps = steps_by_id(config)
    assert steps["bootstrap"]["args"][:4] == ["deploy/run_job.sh", "ml", "bootstrap", "${BUILD_ID}"]
    assert {"deploy", "wait-mlflow"} <= ancestors("bootstrap", steps)
    assert steps["wait-mlapp"]["args"][:4] == ["-n", "ml", "rollout", "status"]
    assert "deployment/mlapp" in steps["wait-mlapp"]["args"]
    assert "bootstrap" in ancestors("wait-mlapp", steps)
    prune = steps["prune-removed-models"]["args"]
    assert "--prune" in prune and "app.kubernetes.io/component=training" in prune
    assert "--prune-allowlist=batch/v1/CronJob" in prune


def test_kubectl_steps_use_the_credentials_step(pipeline) -> None:
    _, config = pipeline
    steps = steps_by_id(config)
    creds = steps["cluster-credentials"]
    assert creds["entrypoint"] == "gcloud"
    assert creds["args"][:3] == ["container", "clusters", "get-credentials"]
    for step_id, step in steps.items():
        if "kubectl" in step_text(step) and step_id != "cluster-credentials":
            assert "cluster-credentials" in ancestors(step_id, steps), step_id


# ---- the scripts the steps run ----------------------------------------------------------


def upstream_images(resources) -> set[str]:
    return {c["image"] for _, _, c in containers(resources) if "/" in c["image"]} - {
        f"houseprice/{name}" for name in rendered_images(resources)
    }


def digests_for(tmp_path: Path, names: set[str], upstream: set[str] = frozenset()) -> Path:
    folder = tmp_path / "digests"
    (folder / "upstream").mkdir(parents=True)
    for name in names:
        (folder / name).write_text(DIGEST + "\n")
    for image in upstream:
        (folder / "upstream" / image.replace("/", "_").replace(":", "_")).write_text(DIGEST)
    return folder


def set_tags(directory: str, digests: Path, tag: str = "abc1234") -> subprocess.CompletedProcess:
    script = ["sh", "deploy/set_image_tags.sh", "--dry-run"]
    return subprocess.run(
        [*script, directory, "REG/houseprice", tag, str(digests)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KUSTOMIZE_BUILD": f"{tool('kubectl')} kustomize"},
    )


def test_set_image_tags_pins_every_houseprice_image_by_digest(pipeline, rendered, tmp_path) -> None:
    name, _ = pipeline
    base, namespace, _ = PIPELINES[name]
    images = rendered_images(rendered[base])
    upstream = upstream_images(rendered[base])
    done = set_tags(f"overlays/prod/{namespace}", digests_for(tmp_path, images, upstream))
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.splitlines()) == {
        f"kustomize edit set image houseprice/{image}=REG/houseprice/{image}:abc1234@{DIGEST}"
        for image in images
    } | {
        f"kustomize edit set image {image.rsplit(':', 1)[0]}={image}@{DIGEST}" for image in upstream
    }


def test_upstream_images_are_resolved_to_digests_by_the_pipeline(pipeline, rendered) -> None:
    name, config = pipeline
    base, _, _ = PIPELINES[name]
    upstream = upstream_images(rendered[base])
    steps = steps_by_id(config)
    if not upstream:
        assert "pin-upstream" not in steps
        return
    pin = steps["pin-upstream"]
    assert pin["args"] == ["deploy/pin_upstream_images.sh", f"{base}/kustomization.yaml"]
    assert "pin-upstream" in ancestors("set-image-tags", steps)
    done = subprocess.run(
        ["bash", *pin["args"][:1], "--dry-run", *pin["args"][1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    pulled = {line.split()[-1] for line in done.stdout.splitlines() if line.startswith("docker")}
    assert (
        pulled == upstream
    )  # every upstream image the namespace runs, read from its kustomization


def test_set_image_tags_refuses_a_missing_digest(tmp_path) -> None:
    done = set_tags("overlays/prod/web", digests_for(tmp_path, {"webapp", "dbapp"}))
    assert done.returncode == 1 and "no digest for" in done.stderr
    assert re.search(r"no digest for [a-z0-9./_-]+:[\w.-]+ ", done.stderr)  # an upstream repo:tag
    done = set_tags("overlays/prod/ml", digests_for(tmp_path / "ml", {"mlapp"}))
    assert done.returncode == 1 and "no digest for" in done.stderr


@pytest.mark.parametrize("tag", ["", "bad tag", "x;rm -rf /"])
def test_set_image_tags_refuses_a_bad_tag(tag: str, tmp_path) -> None:
    done = set_tags("overlays/prod/web", digests_for(tmp_path, {"webapp", "dbapp"}), tag)
    assert done.returncode == 2 and "invalid image tag" in done.stderr


def test_pinned_images_render_as_tag_at_digest(tmp_path: Path) -> None:
    """What `kustomize edit set image` writes, then a build: every container tag@digest."""
    import shutil

    for folder in ("k8s_ml", "k8s_web", "overlays"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    overlay = tmp_path / "overlays" / "prod" / "ml"
    document = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    images = rendered_images(kustomize_build(overlay))
    document["images"] = [
        {"name": f"houseprice/{i}", "newName": f"REG/{i}", "newTag": "abc1234", "digest": DIGEST}
        for i in sorted(images)
    ]
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(document))
    for where, _, container in containers(kustomize_build(overlay)):
        assert re.fullmatch(r"REG/[a-z-]+:abc1234@sha256:[0-9a-f]{64}", container["image"]), where


def test_check_overlay_refuses_another_project(tmp_path) -> None:
    ok = subprocess.run(
        ["sh", "deploy/check_overlay.sh", "overlays/prod", "example-prod", "europe-west1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    wrong = subprocess.run(
        ["sh", "deploy/check_overlay.sh", "overlays/prod", "example-staging", "europe-west1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 1 and "example-prod" in wrong.stderr


def fake_kubectl(tmp_path: Path, conditions: str) -> dict[str, str]:
    """A kubectl on PATH that records its calls and reports the given Job conditions."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {shlex.quote(str(tmp_path / "calls"))}\n'
        'case "$*" in\n'
        '  *" get job/"*" -o "*) printf "' + conditions + '";;\n'
        '  *" get job/"*) exit 1;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(("conditions", "status"), [("Complete\\n", 0), ("Failed\\n", 1)])
def test_run_job_creates_the_job_and_reports_its_outcome(tmp_path, conditions, status) -> None:
    env = fake_kubectl(tmp_path, conditions)
    done = subprocess.run(
        ["bash", "deploy/run_job.sh", "ml", "bootstrap", "b1234", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == status, done.stdout + done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert "-n ml create job bootstrap-b1234 --from=cronjob/bootstrap" in calls
    assert any(c.startswith("-n ml logs job/bootstrap-b1234") for c in calls)


def test_run_job_refuses_a_bad_name(tmp_path) -> None:
    done = subprocess.run(
        ["bash", "deploy/run_job.sh", "ml", "Boot_Strap", "x"], cwd=ROOT, capture_output=True
    )
    assert done.returncode == 2
