"""Every Dockerfile: lint clean, pinned, non-root, the fixed entry points, a minimal context."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.gen_model_cronjobs import model_folders
from deploy.path_filters import glob_regex, load_triggers, matches
from tests.deploy.conftest import DOCKERFILES, ROOT, containers, tool
from tests.support.servers import free_port

BASE_IMAGE = re.compile(r"python:3\.11\.\d+-slim-bookworm")
UID = "10001"
# Dockerfile -> (CMD, port its HEALTHCHECK and EXPOSE use, or None for run-to-completion jobs)
ENTRY_POINTS: dict[str, tuple[list[str], int | None]] = {
    "webapp": (["gunicorn", "-c", "webapp/gunicorn.conf.py", "webapp.app:create_app()"], 8000),
    "mlapp": (["gunicorn", "-c", "mlapp/gunicorn.conf.py", "mlapp.app:create_app()"], 8001),
    "dbapp": (["gunicorn", "-c", "dbapp/gunicorn.conf.py", "dbapp.app:create_app()"], 8002),
    "data_collection_and_versioning": (["python", "-m", "data_collection_and_versioning"], None),
    "models": (
        [
            "sh",
            "-c",
            # Train only (the CLI's train would promote too), then one promotion.
            'python -m training train --no-promote "$MODEL_NAME" '
            "&& exec python -m training promote",
        ],
        None,
    ),
    "mlflow": (None, 5000),  # its command is run for real in test_mlflow_image.py
}
# Dockerfile folder -> the trigger whose pipeline builds it.
PIPELINE = {
    "webapp": "houseprice-web",
    "dbapp": "houseprice-web",
    "mlapp": "houseprice-ml",
    "data_collection_and_versioning": "houseprice-ml",
    "models": "houseprice-ml",
    "mlflow": "houseprice-ml",
}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    pairs = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(pairs) if keyword == "FROM")
    return pairs[last_from:]


def copy_sources(dockerfile: Path) -> list[str]:
    """Build-context paths COPY reads (not --from=stage copies), ${MODEL_NAME} expanded."""
    sources = []
    for keyword, args in instructions(dockerfile):
        if keyword != "COPY" or "--from=" in args:
            continue
        *paths, _destination = shlex.split(args)
        for path in paths:
            if "${MODEL_NAME}" in path:
                sources += [
                    path.replace("${MODEL_NAME}", m) for m in model_folders(ROOT / "models")
                ]
            else:
                sources.append(path)
    return [path.rstrip("/") for path in sources]


@pytest.fixture(params=DOCKERFILES, ids=lambda path: path.parent.name)
def dockerfile(request) -> Path:
    return request.param


def test_every_deployable_has_a_dockerfile() -> None:
    assert {path.parent.name for path in DOCKERFILES} == set(ENTRY_POINTS)


def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_deploy_scripts_pass_shellcheck() -> None:
    scripts = sorted((ROOT / "deploy").glob("*.sh"))
    assert scripts
    done = subprocess.run([tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_base_image_is_an_exact_slim_tag(dockerfile: Path) -> None:
    bases = [args.split()[0] for keyword, args in instructions(dockerfile) if keyword == "FROM"]
    assert bases and all(BASE_IMAGE.fullmatch(base) for base in bases), bases
    # One base everywhere: a Python upgrade is one search-and-replace, reviewed once.
    all_bases = {
        args.split()[0]
        for path in DOCKERFILES
        for keyword, args in instructions(path)
        if keyword == "FROM"
    }
    assert len(all_bases) == 1


def test_runs_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    stage = final_stage(dockerfile)
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users == [f"{UID}:{UID}"]
    user_at = next(i for i, (keyword, _) in enumerate(stage) if keyword == "USER")
    # Nothing after USER runs as root, and the command starts as that user.
    assert all(keyword != "RUN" for keyword, _ in stage[user_at:])
    assert f"--uid {UID}" in " ".join(args for keyword, args in stage if keyword == "RUN")


def test_entry_point_is_the_fixed_one(dockerfile: Path) -> None:
    expected, port = ENTRY_POINTS[dockerfile.parent.name]
    stage = final_stage(dockerfile)
    cmds = [json.loads(args) for keyword, args in stage if keyword == "CMD"]
    assert len(cmds) == 1
    if expected is not None:
        assert cmds[0] == expected
    healthchecks = [args for keyword, args in stage if keyword == "HEALTHCHECK"]
    exposed = [args for keyword, args in stage if keyword == "EXPOSE"]
    if port is None:
        assert healthchecks == [] and exposed == []
    else:
        assert exposed == [str(port)]
        assert len(healthchecks) == 1 and f"127.0.0.1:{port}/health" in healthchecks[0]


def test_pip_never_caches_and_installs_only_pinned_requirements(dockerfile: Path) -> None:
    runs = [args for keyword, args in instructions(dockerfile) if keyword == "RUN"]
    installs = [part for run in runs for part in run.split("&&") if "pip install" in part]
    assert installs
    for install in installs:
        assert "--no-cache-dir" in install and "--no-deps" in install, install
        assert install.rstrip().endswith(("-r runtime.txt", " .")), install


def test_no_secret_is_baked_in(dockerfile: Path) -> None:
    for keyword, args in instructions(dockerfile):
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|MONGO_URI|_KEY)\s*=", args, re.I), args


def test_copied_sources_exist(dockerfile: Path) -> None:
    sources = copy_sources(dockerfile)
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"{dockerfile.parent.name}: COPY {source} missing"


def test_service_packages_have_their_entry_modules() -> None:
    for service in ("webapp", "mlapp", "dbapp"):
        assert (ROOT / service / "app.py").is_file(), service
        assert (ROOT / service / "gunicorn.conf.py").is_file(), service
    assert (ROOT / "data_collection_and_versioning" / "__main__.py").is_file()
    assert (ROOT / "training" / "__main__.py").is_file()
    assert (ROOT / "promotion" / "__init__.py").is_file()


# ---- build context (.dockerignore) ------------------------------------------------------


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) in file order; `!` lines re-include."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:] if negated else line
        rules.append((not negated, glob_regex(pattern.strip("/"))))
    return rules


def in_context(path: str, rules) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for excludes, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = excludes
    return not excluded


@pytest.fixture(scope="module")
def context_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    rules = dockerignore_rules()
    return {path for path in listed if (ROOT / path).is_file() and in_context(path, rules)}


def test_context_holds_every_copied_source(dockerfile: Path, context_files: set[str]) -> None:
    for source in copy_sources(dockerfile):
        inside = {f for f in context_files if f == source or f.startswith(source + "/")}
        assert inside, f"{dockerfile.parent.name}: COPY {source} but .dockerignore excludes it"


def test_context_leaves_out_local_state_tests_and_secrets(context_files: set[str]) -> None:
    rules = dockerignore_rules()
    for path in (
        ".venv/bin/python",
        ".data/bucket_1/a.csv",
        "tests/conftest.py",
        "k8s_ml/secret.yaml",
        "webapp/.env",
        "houseprice/__pycache__/x.pyc",
        "local_runner/cli.py",
        ".git/config",
        "test-artifacts/log.txt",
    ):
        assert not in_context(path, rules), path
    assert not any(re.search(r"(secret|\.env$|\.pem$|\.key$)", f) for f in context_files)
    assert "houseprice/settings.py" in context_files


def test_copied_sources_fire_the_pipeline_that_builds_them(dockerfile: Path) -> None:
    """A change to anything an image is built from must rebuild it (docs excepted)."""
    trigger = load_triggers()[PIPELINE[dockerfile.parent.name]]
    sample = {
        f"{source}/x.py" if (ROOT / source).is_dir() else source
        for source in copy_sources(dockerfile)
    }
    sample.add(str(dockerfile.relative_to(ROOT)))
    for path in sample:
        if any(matches(g, path) for g in trigger.get("ignoredFiles", [])):
            assert path.endswith(".md"), f"{path} is copied but ignored by {trigger['name']}"
            continue
        assert any(matches(g, path) for g in trigger["includedFiles"]), (path, trigger["name"])


def test_ports_agree_with_the_manifests(rendered) -> None:
    ports = {}
    for resources in rendered.values():
        for _, _, container in containers(resources):
            image = container["image"].split(":")[0]
            if image.startswith("houseprice/") and container.get("ports"):
                ports[image.removeprefix("houseprice/")] = container["ports"][0]["containerPort"]
    for name, (_, port) in ENTRY_POINTS.items():
        if port is not None:
            assert ports[name] == port, name


def test_training_command_is_accepted_by_the_training_cli(tmp_path: Path) -> None:
    """models/Dockerfile's CMD, run as the image would (only its folder under MODELS_DIR):
    the CLI accepts the arguments (usage errors exit 2) and stops at the unreachable MLflow,
    without running the promotion after a failed training."""
    (command,) = [
        json.loads(a) for k, a in final_stage(ROOT / "models" / "Dockerfile") if k == "CMD"
    ]
    name = model_folders(ROOT / "models")[0]
    shutil.copytree(ROOT / "models" / name, tmp_path / "models" / name)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MODEL_NAME": name,
        "MODELS_DIR": str(tmp_path / "models"),
        "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 1, done.stderr
    assert "usage:" not in done.stderr
    assert done.stderr.count("is unreachable") == 1, done.stderr
