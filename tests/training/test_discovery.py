"""Model folders: which are found, how they are imported, how a broken one is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.model_folders import LINEAR, write_model
from training import discovery
from training.discovery import BrokenModelFolder

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def test_the_repository_models_are_found_by_default(monkeypatch):
    monkeypatch.delenv("MODELS_DIR", raising=False)
    assert discovery.default_models_dir() == REPO_MODELS
    names = [f.name for f in discovery.discover()]
    assert names == sorted(names)
    assert {"linear_regression", "hist_gradient_boosting"} <= set(names)


def test_models_dir_from_the_environment(tmp_path, monkeypatch):
    write_model(tmp_path, "only_one", LINEAR)
    monkeypatch.setenv("MODELS_DIR", str(tmp_path))
    assert [f.name for f in discovery.discover()] == ["only_one"]


def test_only_well_named_folders_with_model_py_count(tmp_path):
    for name in ("b_model", "a2", "_private", "Upper", "with-dash", "with space"):
        write_model(tmp_path, name, LINEAR)
    (tmp_path / "no_model_file").mkdir()
    (tmp_path / "no_model_file" / "train.py").write_text("")
    (tmp_path / "model.py").write_text("")  # a file, not a folder
    assert [f.name for f in discovery.discover(tmp_path)] == ["a2", "b_model"]


def test_missing_models_dir_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        discovery.discover(tmp_path / "nope")


def test_find_lists_the_known_folders(tmp_path):
    write_model(tmp_path, "linear", LINEAR)
    assert discovery.find("linear", tmp_path).path == tmp_path / "linear"
    with pytest.raises(LookupError, match=r"no model folder 'ridge' .*known: linear"):
        discovery.find("ridge", tmp_path)


def test_load_reads_params_docstring_and_trusted_types(tmp_path):
    source = LINEAR + '\nTRUSTED_TYPES = ["collections.OrderedDict"]\n'
    spec = discovery.load(discovery.ModelFolder("linear", write_model(tmp_path, "linear", source)))
    assert spec.name == "linear"
    assert spec.params == {"n_hash_features": 32}
    assert spec.description == "Linear regression on numeric and hashed fields."
    assert spec.trusted_types == ("collections.OrderedDict",)
    first, second = spec.build(), spec.build()
    assert first is not second  # a fresh estimator every time
    assert type(first).__name__ == "Pipeline"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def build_model(:\n", "importing model.py raised SyntaxError"),
        ("import not_a_module_anywhere\n", "importing model.py raised ModuleNotFoundError"),
        ("PARAMS = {}\n", "does not define build_model()"),
        ("build_model = 3\n", "does not define build_model()"),
        ("PARAMS = [1]\ndef build_model():\n    pass\n", "PARAMS must be a dict"),
        ("TRUSTED_TYPES = 'x'\ndef build_model():\n    pass\n", "TRUSTED_TYPES must be a list"),
    ],
)
def test_broken_folders_say_what_is_wrong(tmp_path, source, message):
    folder = discovery.ModelFolder("broken", write_model(tmp_path, "broken", source))
    with pytest.raises(BrokenModelFolder, match="model folder 'broken' is broken") as caught:
        discovery.load(folder)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    raise ValueError('no')\n", "build_model() raised ValueError: no"),
        ("    return None\n", "build_model() returned NoneType, not an estimator"),
        ("    return object()\n", "returned object, not an estimator"),
    ],
)
def test_build_model_must_return_an_estimator(tmp_path, body, message):
    folder = discovery.ModelFolder(
        "odd", write_model(tmp_path, "odd", "def build_model():\n" + body)
    )
    spec = discovery.load(folder)
    with pytest.raises(BrokenModelFolder) as caught:
        spec.build()
    assert message in str(caught.value)
