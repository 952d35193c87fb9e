"""The one Dockerfile: lint clean, pinned, non-root, one target per deployable with its fixed
entry point, a minimal build context, and every target built by the pipeline that ships it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from deploy.gen_model_cronjobs import model_folders
from deploy.path_filters import glob_regex, load_triggers, matches
from tests.deploy.conftest import ROOT, by_kind, containers, tool
from tests.deploy.dockerfile import (
    DOCKERFILE,
    chain,
    command,
    copy_sources,
    effective,
    instructions,
    stages,
)
from tests.support.servers import free_port

BASE_IMAGE = re.compile(r"python:3\.11\.\d+-slim-bookworm")
UID = "10001"
# Target -> (CMD, port its HEALTHCHECK and EXPOSE use, or None for run-to-completion jobs).
# mlflow's command is run for real in test_mlflow_image.py; training's default is read-only,
# the CronJobs give the real commands.
TARGETS: dict[str, tuple[list[str] | None, int | None]] = {
    "webapp": (["gunicorn", "-c", "webapp/gunicorn.conf.py", "webapp.app:create_app()"], 8000),
    "mlapp": (["gunicorn", "-c", "mlapp/gunicorn.conf.py", "mlapp.app:create_app()"], 8001),
    "dbapp": (["gunicorn", "-c", "dbapp/gunicorn.conf.py", "dbapp.app:create_app()"], 8002),
    "data-job": (["python", "-m", "data_collection_and_versioning"], None),
    "training": (["python", "-m", "training", "leaderboard"], None),
    "bootstrap": (
        ["python", "-m", "deploy.bootstrap", "/app/sample_dataset/house_sales_2014-05_to_06.csv"],
        None,
    ),
    "mlflow": (None, 5000),
}
# Target -> the trigger whose pipeline builds it.
PIPELINE = {
    "webapp": "houseprice-web",
    "dbapp": "houseprice-web",
    "mlapp": "houseprice-ml",
    "data-job": "houseprice-ml",
    "training": "houseprice-ml",
    "bootstrap": "houseprice-ml",
    "mlflow": "houseprice-ml",
}


@pytest.fixture(params=sorted(TARGETS))
def target(request) -> str:
    return request.param


def test_the_targets_are_the_deployables() -> None:
    every = stages()
    built_on = {stage.base for stage in every.values()}
    copied_from = {
        args.split("--from=")[1].split()[0]
        for stage in every.values()
        for keyword, args in stage.instructions
        if keyword == "COPY" and "--from=" in args
    }
    leaves = set(every) - built_on - copied_from
    assert leaves == set(TARGETS)
    # One image definition: no other Dockerfile anywhere.
    others = [p for p in ROOT.rglob("Dockerfile*") if ".venv" not in p.parts and p != DOCKERFILE]
    assert others == []


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_hadolint_would_catch_a_root_image(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN pip install flask\n")
    done = subprocess.run([tool("hadolint"), "--no-color", str(broken)], capture_output=True)
    assert done.returncode != 0


def test_scripts_pass_shellcheck() -> None:
    scripts = [*sorted((ROOT / "deploy").glob("*.sh")), ROOT / "scripts" / "install-system-deps.sh"]
    assert len(scripts) >= 6
    done = subprocess.run([tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_stage_starts_from_one_exact_slim_tag() -> None:
    images = {stage.base for stage in stages().values() if stage.base not in stages()}
    # One base everywhere: a Python upgrade is one search-and-replace, reviewed once.
    assert len(images) == 1 and BASE_IMAGE.fullmatch(images.pop())


def test_runs_as_a_numeric_non_root_user(target: str) -> None:
    pairs = effective(target)
    users = [args for keyword, args in pairs if keyword == "USER"]
    assert users == [f"{UID}:{UID}"]
    user_at = next(i for i, (keyword, _) in enumerate(pairs) if keyword == "USER")
    # Nothing after USER runs as root, and the command starts as that user.
    assert all(keyword != "RUN" for keyword, _ in pairs[user_at:])
    assert f"--uid {UID}" in " ".join(args for keyword, args in pairs if keyword == "RUN")


def test_entry_point_is_the_fixed_one(target: str) -> None:
    expected, port = TARGETS[target]
    own = chain(target)[-1].instructions
    assert [k for k, _ in own].count("CMD") == 1
    if expected is not None:
        assert command(target) == expected
    healthchecks = [args for keyword, args in effective(target) if keyword == "HEALTHCHECK"]
    exposed = [args for keyword, args in effective(target) if keyword == "EXPOSE"]
    if port is None:
        assert healthchecks == [] and exposed == []
    else:
        assert exposed == [str(port)]
        assert len(healthchecks) == 1 and f"127.0.0.1:{port}/health" in healthchecks[0]


def test_every_image_carries_its_git_commit(target: str) -> None:
    pairs = effective(target)
    assert ("ARG", "GIT_COMMIT=unknown") in pairs
    assert ("ENV", "GIT_COMMIT=${GIT_COMMIT}") in pairs


def test_pip_never_caches_and_installs_only_pinned_requirements() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    installs = [part for run in runs for part in run.split("&&") if "pip install" in part]
    assert installs
    for install in installs:
        assert "--no-cache-dir" in install and "--no-deps" in install, install
        assert install.rstrip().endswith("-r runtime.txt"), install


def test_no_secret_is_baked_in() -> None:
    for keyword, args in instructions():
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|MONGO_URI|_KEY)\s*=", args, re.I), args


def test_copied_sources_exist(target: str) -> None:
    sources = copy_sources(target)
    assert "requirements.lock" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"{target}: COPY {source} missing"


def test_each_target_ships_only_its_own_folders() -> None:
    shipped = {
        target: {s.split("/")[0] for s in copy_sources(target)} - {"requirements.lock", "deploy"}
        for target in TARGETS
    }
    assert shipped["mlflow"] == set()
    assert shipped["mlapp"] == {"houseprice", "mlapp"}
    assert shipped["dbapp"] == {"houseprice", "dbapp"}
    assert shipped["webapp"] == {"houseprice", "webapp", "sample_dataset"}
    assert shipped["data-job"] == {"houseprice", "data_collection_and_versioning"}
    assert shipped["training"] == {"houseprice", "training", "promotion", "models"}
    assert shipped["bootstrap"] == {"houseprice", "sample_dataset"}


def test_training_image_holds_every_model_folder() -> None:
    assert "models" in copy_sources("training")
    assert ("ENV", "MODELS_DIR=/app/models") in effective("training")


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


def test_context_holds_every_copied_source(target: str, context_files: set[str]) -> None:
    for source in copy_sources(target):
        inside = {f for f in context_files if f == source or f.startswith(source + "/")}
        assert inside, f"{target}: COPY {source} but .dockerignore excludes it"


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
        "deploy/secrets.env",
        "infra/terraform.tfvars",
    ):
        assert not in_context(path, rules), path
    assert not any(re.search(r"(secret|\.env$|\.pem$|\.key$|tfvars)", f) for f in context_files)
    assert "houseprice/settings.py" in context_files


def test_copied_sources_fire_the_pipeline_that_builds_them(target: str) -> None:
    """A change to anything an image is built from must rebuild it (docs excepted)."""
    trigger = load_triggers()[PIPELINE[target]]
    sample = {
        f"{source}/x.py" if (ROOT / source).is_dir() else source for source in copy_sources(target)
    }
    sample.add("Dockerfile")
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
    for name, (_, port) in TARGETS.items():
        if port is not None:
            assert ports[name] == port, name


# ---- the commands the CronJobs give the images, run as the image would ------------------


def run_as_image(target: str, argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`argv` run from a copy of the target's /app (its folders come first on the path, as in
    the image), with local buckets under tmp_path and an MLflow that is not there."""
    app = tmp_path / "app"
    dependencies_only = set(copy_sources("deps"))  # land in the build stage, not in /app
    for source in [] if app.exists() else copy_sources(target):
        if source in dependencies_only:
            continue
        origin = ROOT / source
        destination = app / source
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, destination)
    # -S: no .pth files, so the checkout's editable install is not on the path; only /app and
    # the third-party packages are, as in the image.
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": f"{app}:{sysconfig.get_paths()['purelib']}",
        "MODELS_DIR": str(app / "models"),
        "HOME": str(tmp_path),
        "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
    }
    argv = [sys.executable, "-S", *argv[1:]] if argv[0] == "python" else argv
    return subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=240)


# Target -> a module its command imports first (gunicorn's app, or `python -m`'s package).
ENTRY_MODULES = {
    "webapp": "webapp.app",
    "mlapp": "mlapp.app",
    "dbapp": "dbapp.app",
    "data-job": "data_collection_and_versioning.__main__",
    "training": "training.cli",
    "bootstrap": "deploy.bootstrap",
}


@pytest.mark.parametrize("target", sorted(ENTRY_MODULES))
def test_each_target_ships_everything_its_entry_point_imports(target: str, tmp_path) -> None:
    module = ENTRY_MODULES[target]
    done = run_as_image(
        target,
        ["python", "-c", f"import {module}"],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # And no other deployable is importable instead (the training image runs promotion too).
    own = {module.split(".")[0]} | ({"promotion"} if target == "training" else set())
    others = sorted(
        {"webapp", "mlapp", "dbapp", "data_collection_and_versioning", "training", "promotion"}
        - own
    )
    probe = (
        f"import importlib.util as u; print([m for m in {others!r} if u.find_spec(m) is not None])"
    )
    done = run_as_image(target, ["python", "-c", probe], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_training_cronjob_command_runs_in_the_training_image(tmp_path: Path, rendered) -> None:
    """A generated CronJob's command: the CLI accepts it (usage errors exit 2) and stops at
    the unreachable MLflow with one line."""
    name = f"train-{model_folders(ROOT / 'models')[0].replace('_', '-')}"
    cronjob = by_kind(rendered["k8s_ml"], "CronJob")[name]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    done = run_as_image("training", container["command"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "usage:" not in done.stderr
    assert "is unreachable" in done.stderr, done.stderr


def test_bootstrap_training_command_is_accepted(tmp_path: Path, rendered) -> None:
    pod = by_kind(rendered["k8s_ml"], "CronJob")["bootstrap"]["spec"]["jobTemplate"]["spec"]
    (train,) = [c for c in pod["template"]["spec"]["initContainers"] if c["name"] == "train"]
    done = run_as_image("training", train["command"], tmp_path)
    assert done.returncode == 1 and "usage:" not in done.stderr, done.stderr
    assert "is unreachable" in done.stderr, done.stderr


def test_promotion_command_runs_in_the_training_image(tmp_path: Path, rendered) -> None:
    cronjob = by_kind(rendered["k8s_ml"], "CronJob")["promotion"]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "promotion", "promote"]
    assert container["image"] == "houseprice/training"
    done = run_as_image("training", container["command"], tmp_path)
    assert done.returncode == 1 and "usage:" not in done.stderr, done.stderr


def test_bootstrap_image_seeds_from_its_own_copy(tmp_path: Path) -> None:
    """The bootstrap target's CMD, run with only what the image holds: it seeds the sample."""
    argv = command("bootstrap")
    sample = argv[-1].removeprefix("/app/")
    done = run_as_image(
        "bootstrap",
        [*argv[:-1], str(tmp_path / "app" / sample)],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "seeded house_sales_2014-05_to_06.csv" in done.stdout
    seeded = tmp_path / "data" / "bucket_1" / "bootstrap" / "house_sales_2014-05_to_06.csv"
    assert seeded.read_bytes() == (ROOT / "sample_dataset" / seeded.name).read_bytes()


def test_gunicorn_configs_and_entry_modules_exist() -> None:
    for service in ("webapp", "mlapp", "dbapp"):
        assert (ROOT / service / "app.py").is_file(), service
        assert (ROOT / service / "gunicorn.conf.py").is_file(), service
    assert (ROOT / "data_collection_and_versioning" / "__main__.py").is_file()
    assert (ROOT / "training" / "__main__.py").is_file()
    assert yaml.safe_load((ROOT / "k8s_ml" / "kustomization.yaml").read_text())["images"]


def test_mlflow_sends_no_telemetry_and_runs_no_job_runner(target: str) -> None:
    env = {
        pair.split("=", 1)[0]: pair.split("=", 1)[1]
        for keyword, args in effective(target)
        if keyword == "ENV"
        for pair in args.replace("\\\n", " ").split()
        if "=" in pair
    }
    assert env.get("MLFLOW_DISABLE_TELEMETRY") == "true", target
    if target == "mlflow":  # MLflow's server-side job runner: eight more processes
        assert env.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION") == "false"
