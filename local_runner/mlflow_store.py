"""A fresh local MLflow store starts from a migrated, empty copy, not from nothing.

MLflow's first start on an empty SQLite file runs every schema migration (about 4 s
of CPU), on the critical path of the first price. The same empty, migrated database
is made once per installed MLflow version (`mlflow db upgrade` on a template kept in
the virtualenv) and copied into each new data directory; MLflow then only checks the
schema version. A store that already exists, or one that is not the local SQLite
default (an operator's PostgreSQL, say), is left alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

SQLITE = "sqlite:///"


def template_path() -> Path:
    """Where the empty store of this environment's MLflow version is kept."""
    version = metadata.version("mlflow")
    return Path(sys.prefix) / "share" / "houseprice" / f"mlflow-{version}-empty.db"


def ensure_template() -> Path:
    """Make the template once (`mlflow db upgrade` on a new file); returns its path."""
    path = template_path()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    subprocess.run(
        [str(mlflow_cli), "db", "upgrade", f"{SQLITE}{partial}"],
        check=True,
        capture_output=True,
    )
    partial.replace(path)  # whole or absent: a half-made template is never copied
    return path


def seed_backend_store(backend_uri: str) -> bool:
    """Copy the template to a local SQLite store that does not exist yet; True if copied."""
    if not backend_uri.startswith(SQLITE):
        return False
    target = Path(backend_uri.removeprefix(SQLITE))
    if target.exists():
        return False
    try:
        template = ensure_template()
    except (OSError, subprocess.CalledProcessError) as exc:  # MLflow then migrates itself
        print(f"note: no MLflow store template ({exc}); MLflow creates its tables", flush=True)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(template, partial)
    partial.replace(target)
    return True
