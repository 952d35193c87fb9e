"""Model folders: `models/<name>/model.py` is the whole contract for a new model.

A folder name is lowercase letters, digits and underscores; folders starting with
"_" or without a model.py are ignored. model.py defines `build_model()` returning an
unfitted scikit-learn estimator that takes raw house records, and optionally
`PARAMS: dict` (logged with every run), a docstring (the description) and
`TRUSTED_TYPES` (extra type names skops may load, for estimators beyond the usual).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator

FOLDER_NAME = re.compile(r"[a-z0-9_]+")
MODEL_FILE = "model.py"


class BrokenModelFolder(Exception):
    """A model folder that cannot be imported or does not follow the contract."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"model folder {name!r} is broken: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class ModelFolder:
    name: str
    path: Path

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE


@dataclass(frozen=True)
class ModelSpec:
    """What a model folder provides, once imported."""

    folder: ModelFolder
    build_model: Callable[[], BaseEstimator]
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    trusted_types: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.folder.name

    def build(self) -> BaseEstimator:
        """A fresh, unfitted estimator; BrokenModelFolder if it is not one."""
        try:
            estimator = self.build_model()
        except Exception as exc:
            raise BrokenModelFolder(self.name, f"build_model() raised {_describe(exc)}") from exc
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
            raise BrokenModelFolder(
                self.name,
                f"build_model() returned {type(estimator).__name__}, "
                "not an estimator with fit and predict",
            )
        return estimator


def default_models_dir() -> Path:
    """MODELS_DIR if set, else the repository's models/ folder."""
    configured = os.environ.get("MODELS_DIR")
    if configured:
        return Path(configured).resolve()
    return Path(__file__).resolve().parents[1] / "models"


def discover(models_dir: Path | None = None) -> list[ModelFolder]:
    """Model folders under `models_dir`, sorted by name."""
    root = models_dir or default_models_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"models directory {root} does not exist (set MODELS_DIR)")
    return [
        ModelFolder(entry.name, entry)
        for entry in sorted(root.iterdir())
        if entry.is_dir()
        and FOLDER_NAME.fullmatch(entry.name)
        and not entry.name.startswith("_")
        and (entry / MODEL_FILE).is_file()
    ]


def find(name: str, models_dir: Path | None = None) -> ModelFolder:
    """The folder called `name`; LookupError listing the known ones otherwise."""
    folders = discover(models_dir)
    for folder in folders:
        if folder.name == name:
            return folder
    known = ", ".join(f.name for f in folders) or "none"
    raise LookupError(
        f"no model folder {name!r} in {models_dir or default_models_dir()} (known: {known})"
    )


def load(folder: ModelFolder) -> ModelSpec:
    """Import the folder's model.py from its path; BrokenModelFolder on any problem."""
    module_name = f"houseprice_models.{folder.name}"
    spec = importlib.util.spec_from_file_location(module_name, folder.model_file)
    if spec is None or spec.loader is None:
        raise BrokenModelFolder(folder.name, f"cannot import {folder.model_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as a regular import would (dataclasses need it)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a syntax error or a failing import in someone's model.py
        sys.modules.pop(module_name, None)
        raise BrokenModelFolder(folder.name, f"importing model.py raised {_describe(exc)}") from exc

    build_model = getattr(module, "build_model", None)
    if not callable(build_model):
        raise BrokenModelFolder(folder.name, "model.py does not define build_model()")
    params = getattr(module, "PARAMS", {})
    if not isinstance(params, dict):
        raise BrokenModelFolder(folder.name, "PARAMS must be a dict")
    trusted = getattr(module, "TRUSTED_TYPES", ())
    if not isinstance(trusted, list | tuple) or not all(isinstance(t, str) for t in trusted):
        raise BrokenModelFolder(folder.name, "TRUSTED_TYPES must be a list of type names")
    description = (module.__doc__ or "").strip()
    return ModelSpec(folder, build_model, dict(params), description, tuple(trusted))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
