"""The two Cloud Build pipelines: they build what the manifests run, push before deploying,
and set tags without editing any file in git."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import gen_model_cronjobs as gen
from deploy.path_filters import fires, load_triggers
from tests.deploy.conftest import ROOT, containers, tool

PIPELINES = {
    "cloudbuild_1.yaml": ("k8s_ml", "houseprice-ml"),
    "cloudbuild_2.yaml": ("k8s_web", "houseprice-web"),
}
BUILTIN_SUBSTITUTIONS = {"PROJECT_ID", "SHORT_SHA", "COMMIT_SHA", "BRANCH_NAME", "BUILD_ID"}
IMAGE_REF = re.compile(r"\$\{_REGISTRY\}/([a-z0-9-]+):\$\{SHORT_SHA\}")


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


def docker_builds(config: dict[str, Any]) -> dict[str, str]:
    """Image short name -> Dockerfile, for the explicit `docker build` steps."""
    built = {}
    for step in config["steps"]:
        args = step.get("args", [])
        if step["name"].endswith("/docker") and args[:1] == ["build"]:
            dockerfile = args[args.index("-f") + 1]
            tag = args[args.index("-t") + 1]
            match = IMAGE_REF.fullmatch(tag)
            assert match, f"{step['id']}: tag {tag} is not ${{_REGISTRY}}/<name>:${{SHORT_SHA}}"
            built[match.group(1)] = dockerfile
    return built


def model_image_builds(dry_run: bool = True) -> list[str]:
    done = subprocess.run(
        ["bash", "deploy/build_model_images.sh", "--dry-run", "REG", "TAG"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def rendered_images(rendered, folder: str) -> set[str]:
    return {
        c["image"].removeprefix("houseprice/")
        for _, _, c in containers(rendered[folder])
        if c["image"].startswith("houseprice/")
    }


def test_build_steps_use_existing_dockerfiles_from_the_repo_root(pipeline) -> None:
    _, config = pipeline
    builds = docker_builds(config)
    assert builds
    for step in config["steps"]:
        args = step.get("args", [])
        if args[:1] == ["build"]:
            assert args[-1] == ".", "the build context is the repository root"
    for dockerfile in builds.values():
        assert (ROOT / dockerfile).is_file(), dockerfile


def test_every_image_built_is_deployed_and_every_deployed_image_built(pipeline, rendered) -> None:
    name, config = pipeline
    folder, _ = PIPELINES[name]
    built = set(docker_builds(config))
    if any("build_model_images.sh" in " ".join(s.get("args", [])) for s in config["steps"]):
        built |= {
            line.split(" -t ")[1].split()[0].removeprefix("REG/").removesuffix(":TAG")
            for line in model_image_builds()
            if line.startswith("docker build")
        }
    assert built == rendered_images(rendered, folder)
    declared = {IMAGE_REF.fullmatch(image).group(1) for image in config.get("images", [])}
    assert declared <= built


def test_model_images_come_from_models_dockerfile_one_per_folder() -> None:
    lines = model_image_builds()
    jobs = gen.training_jobs(ROOT / "models")
    builds = [line for line in lines if line.startswith("docker build")]
    pushes = [line for line in lines if line.startswith("docker push")]
    assert len(builds) == len(pushes) == len(jobs) >= 1
    for job in jobs:
        image = f"REG/train-{job.slug}:TAG"
        assert (
            f"docker build -f models/Dockerfile --build-arg MODEL_NAME={job.model} -t {image} ."
            in builds
        )
        assert f"docker push {image}" in pushes


def test_images_are_pushed_before_the_cluster_is_told_about_them(pipeline) -> None:
    _, config = pipeline
    steps = steps_by_id(config)
    before_tags = ancestors("set-image-tags", steps)
    for step_id, step in steps.items():
        args = step.get("args", [])
        if args[:1] == ["build"]:
            image = args[args.index("-t") + 1]
            pushers = [sid for sid, s in steps.items() if s.get("args", [])[:2] == ["push", image]]
            assert len(pushers) == 1 and pushers[0] in before_tags, step_id
        if "build_model_images.sh" in " ".join(args):
            assert step_id in before_tags
    assert "set-image-tags" in ancestors("deploy", steps)


def test_tags_are_set_by_kustomize_on_the_right_folder(pipeline) -> None:
    name, config = pipeline
    folder, _ = PIPELINES[name]
    script = " ".join(steps_by_id(config)["set-image-tags"]["args"])
    assert f'sh deploy/set_image_tags.sh {folder} "${{_REGISTRY}}" "${{SHORT_SHA}}"' in script
    assert f"kustomize build {folder} > /workspace/{folder}.rendered.yaml" in script
    deploy = steps_by_id(config)["deploy"]
    assert deploy["args"] == ["apply", "-f", f"/workspace/{folder}.rendered.yaml"]


def test_substitutions_are_declared(pipeline) -> None:
    name, config = pipeline
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", (ROOT / name).read_text().split("steps:")[1]))
    declared = set(config["substitutions"]) | BUILTIN_SUBSTITUTIONS
    assert used <= declared, used - declared
    assert config["options"]["dynamicSubstitutions"] is True  # _REGISTRY uses _REGION


def test_files_the_pipeline_runs_fire_its_trigger(pipeline) -> None:
    name, config = pipeline
    _, trigger_name = PIPELINES[name]
    trigger = load_triggers()[trigger_name]
    assert trigger["filename"] == name
    text = yaml.safe_dump(config["steps"])
    referenced = set(re.findall(r"(?:deploy|mlflow|models|webapp|mlapp|dbapp)/[\w./-]+", text))
    referenced = {path for path in referenced if (ROOT / path).is_file()}
    assert referenced
    for path in referenced | {name}:
        assert fires(trigger, [path]), f"changing {path} does not run {name}"


def test_set_image_tags_pins_every_houseprice_image(pipeline, rendered) -> None:
    name, _ = pipeline
    folder, _ = PIPELINES[name]
    done = subprocess.run(
        ["sh", "deploy/set_image_tags.sh", "--dry-run", folder, "REG/houseprice", "abc1234"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KUSTOMIZE_BUILD": f"{tool('kubectl')} kustomize"},
        check=True,
    )
    expected = {
        f"kustomize edit set image houseprice/{image}=REG/houseprice/{image}:abc1234"
        for image in rendered_images(rendered, folder)
    }
    assert set(done.stdout.splitlines()) == expected


@pytest.mark.parametrize("tag", ["", "bad tag", "x;rm -rf /"])
def test_set_image_tags_refuses_a_bad_tag(tag: str) -> None:
    done = subprocess.run(
        ["sh", "deploy/set_image_tags.sh", "--dry-run", "k8s_web", "REG", tag],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "invalid image tag" in done.stderr


def test_pipeline_python_steps_need_only_the_standard_library(tmp_path: Path) -> None:
    """check-model-cronjobs runs on a bare python image: no site-packages (-S) here either."""
    done = subprocess.run(
        [sys.executable, "-S", "deploy/gen_model_cronjobs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            "deploy/runtime_requirements.py",
            "requirements.lock",
            "deploy/image-excludes.txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "mlflow==" in done.stdout, done.stderr


def test_ml_pipeline_checks_model_cronjobs_before_building_training_images() -> None:
    config = yaml.safe_load((ROOT / "cloudbuild_1.yaml").read_text())
    steps = steps_by_id(config)
    check = steps["check-model-cronjobs"]
    assert check["args"] == ["deploy/gen_model_cronjobs.py", "--check"]
    # The same Python as the images.
    dockerfile = (ROOT / "models" / "Dockerfile").read_text()
    assert f"FROM {check['name']} AS build" in dockerfile
    assert "check-model-cronjobs" in ancestors("build-push-training", steps)
    prune = steps["prune-removed-models"]["args"]
    assert "--prune" in prune and "app.kubernetes.io/component=training" in prune
    assert "--prune-allowlist=batch/v1/CronJob" in prune
