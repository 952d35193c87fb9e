"""Path filters of the two Cloud Build triggers: which pipeline a change fires."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from deploy.path_filters import fires, glob_regex, load_triggers, matches, pipelines_for
from tests.deploy.conftest import ROOT

ML, WEB = "houseprice-ml", "houseprice-web"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("models/**", "models/x/model.py", True),
        ("models/**", "models/Dockerfile", True),
        ("models/**", "modelsx/model.py", False),
        ("models/**", "other/models/x.py", False),
        ("**/*.md", "README.md", True),
        ("**/*.md", "docs/deep/deployment.md", True),
        ("**/*.md", "docs/deployment.md.txt", False),
        ("*.md", "docs/deployment.md", False),  # "*" never crosses a "/"
        ("houseprice/*.py", "houseprice/settings.py", True),
        ("houseprice/*.py", "houseprice/storage/gcs.py", False),
        ("houseprice/**/gcs.py", "houseprice/gcs.py", True),  # "**" can be zero segments
        ("houseprice/**/gcs.py", "houseprice/storage/gcs.py", True),
        ("a**b/c", "axxb/c", True),  # "**" inside a segment is a plain "*"
        ("a**b/c", "ax/xb/c", False),
        ("k8s_?eb/x", "k8s_web/x", True),
        ("k8s_?eb/x", "k8s_/eb/x", False),
        ("{webapp,dbapp}/**", "dbapp/app.py", True),
        ("{webapp,dbapp}/**", "mlapp/app.py", False),
        ("[md]lapp/*", "mlapp/app.py", True),
        ("[!m]lapp/*", "mlapp/app.py", False),
        ("cloudbuild_1.yaml", "cloudbuild_1.yaml", True),
        ("cloudbuild_1.yaml", "cloudbuild_1xyaml", False),  # "." is literal
        (".dockerignore", ".dockerignore", True),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected, glob_regex(pattern).pattern


def test_malformed_glob_is_refused() -> None:
    with pytest.raises(ValueError, match="unclosed"):
        matches("models/[abc", "models/a")


def test_ignored_files_win_and_included_files_need_one_match() -> None:
    trigger = {"includedFiles": ["src/**"], "ignoredFiles": ["**/*.md"]}
    assert fires(trigger, ["src/a.py"])
    assert not fires(trigger, ["src/notes.md"])  # ignored even though included
    assert fires(trigger, ["src/notes.md", "src/a.py"])
    assert not fires(trigger, ["other/a.py"])
    assert not fires(trigger, [])
    # Without includedFiles, any file that is not ignored fires.
    assert fires({"ignoredFiles": ["**/*.md"]}, ["anything.txt"])
    assert not fires({"ignoredFiles": ["**/*.md"]}, ["a.md"])


@pytest.fixture(scope="module")
def triggers() -> dict:
    return load_triggers()


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["webapp/app.py"], {WEB}),
        (["webapp/templates/index.html"], {WEB}),
        (["dbapp/repository.py"], {WEB}),
        (["k8s_web/prometheus/rules.yml"], {WEB}),
        (["cloudbuild_2.yaml"], {WEB}),
        (["sample_dataset/house_sales_2014-05_to_06.csv"], {ML, WEB}),  # webapp, bootstrap
        (["Dockerfile"], {ML, WEB}),
        (["overlays/prod/project/config.env"], {ML, WEB}),
        (["overlays/prod/web/hsts.yaml"], {ML, WEB}),
        (["models/linear_regression/model.py"], {ML}),
        (["models/new_model/model.py"], {ML}),
        (["mlapp/app.py"], {ML}),
        (["mlflow/start.sh"], set()),  # the local start script; the image is the Dockerfile's
        (["k8s_ml/bootstrap.yaml"], {ML}),
        (["deploy/bootstrap.py"], {ML}),
        (["deploy/run_job.sh"], {ML}),
        (["data_collection_and_versioning/job.py"], {ML}),
        (["k8s_ml/models/linear-regression.yaml"], {ML}),
        (["deploy/gen_model_cronjobs.py"], {ML}),
        (["promotion/promotion.py"], {ML}),
        (["houseprice/settings.py"], {ML, WEB}),
        (["houseprice/storage/gcs.py"], {ML, WEB}),
        (["requirements.lock"], {ML, WEB}),
        (["pyproject.toml"], {ML, WEB}),
        (["deploy/set_image_tags.sh"], {ML, WEB}),
        (["deploy/pipeline_checks.sh"], {ML, WEB}),
        (["infra/main.tf"], set()),
        ([".github/workflows/test.yml"], set()),
        (["README.md"], set()),
        (["docs/deployment.md"], set()),
        (["webapp/README.md"], set()),
        (["tests/webapp/test_app.py"], set()),
        (["bench/run_all.py"], set()),
        (["local_runner/cli.py"], set()),
        (["deploy/triggers/ml.yaml"], set()),
        (["Makefile", ".gitignore"], set()),
        (["README.md", "webapp/app.py"], {WEB}),
        (["webapp/app.py", "mlapp/app.py"], {ML, WEB}),
    ],
)
def test_which_pipelines_a_change_fires(changed: list[str], expected: set, triggers) -> None:
    assert set(pipelines_for(changed, triggers)) == expected


def test_triggers_are_importable_build_triggers(triggers) -> None:
    assert set(triggers) == {ML, WEB}
    for trigger in triggers.values():
        assert (ROOT / trigger["filename"]).is_file()
        assert trigger["github"]["push"]["branch"] == "^main$"
        # Fields gcloud's BuildTrigger import knows; a typo would be rejected at import.
        known = {
            "name",
            "description",
            "filename",
            "github",
            "includedFiles",
            "ignoredFiles",
            "substitutions",
        }
        assert set(trigger) <= known


def test_cli_reads_paths_from_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deploy.path_filters", "-"],
        input="houseprice/settings.py\nREADME.md\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert "houseprice-ml (cloudbuild_1.yaml): fires" in done.stdout
    assert "houseprice-web (cloudbuild_2.yaml): fires" in done.stdout


def _imported_modules(package_dir) -> set[str]:
    found: set[str] = set()
    for path in package_dir.rglob("*.py"):
        found |= _imported_modules_file(path)
    return found


def _reachable_houseprice_modules(packages: list[str]) -> set[str]:
    """houseprice modules imported, directly or through other houseprice modules."""
    seen: set[str] = set()
    todo = set()
    for package in packages:
        todo |= {m for m in _imported_modules(ROOT / package) if m.startswith("houseprice")}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        base = ROOT / module.replace(".", "/")
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.exists():
                todo |= {m for m in _imported_modules_file(candidate) if m.startswith("houseprice")}
    return seen


def _imported_modules_file(path) -> set[str]:
    """Modules a file imports (relative imports resolved), plus `module.name` candidates."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize(
    ("trigger_name", "packages"),
    [
        (WEB, ["webapp", "dbapp"]),
        (ML, ["mlapp", "data_collection_and_versioning", "training", "promotion"]),
    ],
)
def test_ignored_shared_code_is_not_imported_by_that_pipeline(
    trigger_name: str, packages: list[str], triggers
) -> None:
    """An ignoredFiles glob under houseprice/ is only safe if the images never import it."""
    packages = [p for p in packages if (ROOT / p).is_dir()]
    reachable = _reachable_houseprice_modules(packages)
    ignored = triggers[trigger_name]["ignoredFiles"]
    for module in reachable:
        as_path = module.replace(".", "/")
        for path in (f"{as_path}.py", f"{as_path}/__init__.py"):
            assert not any(matches(g, path) for g in ignored), (module, trigger_name)
