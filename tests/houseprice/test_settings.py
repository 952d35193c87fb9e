"""Settings.from_env: local defaults, one validator per kind of value, errors reported together."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from houseprice.settings import Settings, SettingsError


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path), **env})


def error_for(tmp_path: Path, **env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        settings(tmp_path, **env)
    return str(caught.value)


def test_defaults_run_on_one_machine(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.MONGO_URI == "mongodb://127.0.0.1:27017"
    assert (s.MONGO_DB, s.COLLECTION_1, s.COLLECTION_2) == (
        "houseprice",
        "predictions",
        "corrections",
    )
    assert str(tmp_path.resolve() / "bucket_1") == s.BUCKET_1
    assert str(tmp_path.resolve() / "bucket_2") == s.BUCKET_2
    assert str(tmp_path.resolve() / "bucket_3") == s.BUCKET_3
    assert s.BATCH_SIZE == 1000 and isinstance(s.BATCH_SIZE, int)
    assert s.TRAIN_TEST_SPLIT == 0.2
    assert s.MLAPP_URL == "http://127.0.0.1:8001"
    assert s.MODEL_POLL_SECONDS == 10.0


def test_values_are_parsed_and_trimmed(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        BATCH_SIZE=" 250 ",
        TRAIN_TEST_SPLIT="0.35",
        MLAPP_URL="https://mlapp.ml.svc:8080/",
        MLFLOW_TRACKING_URI="sqlite:///tmp/mlflow.db",
        HTTP_TIMEOUT_SECONDS="2.5",
    )
    assert (s.BATCH_SIZE, s.TRAIN_TEST_SPLIT) == (250, 0.35)
    assert s.MLAPP_URL == "https://mlapp.ml.svc:8080"
    assert s.HTTP_TIMEOUT_SECONDS == 2.5


def test_reads_the_process_environment_by_default(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOUSEPRICE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BATCH_SIZE", "7")
    assert Settings.from_env().BATCH_SIZE == 7


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BATCH_SIZE", "abc", "must be a whole number"),
        ("BATCH_SIZE", "0", "must be at least 1"),
        ("BATCH_SIZE", "2.5", "must be a whole number"),
        ("TRAIN_TEST_SPLIT", "1.5", "must be strictly between 0 and 1"),
        ("TRAIN_TEST_SPLIT", "0", "must be strictly between 0 and 1"),
        ("TRAIN_TEST_SPLIT", "a fifth", "must be a number between 0 and 1"),
        ("MONGO_URI", "http://127.0.0.1:27017", "must start with mongodb:// or mongodb+srv://"),
        ("MONGO_URI", "127.0.0.1:27017", "must start with mongodb://"),
        ("MONGO_DB", "house price", "must be 1-120 letters"),
        ("COLLECTION_2", "corrections;drop", "must be 1-120 letters"),
        ("MLAPP_URL", "ftp://mlapp", "must be an http(s) URL"),
        ("DBAPP_URL", "dbapp:8002", "must be an http(s) URL"),
        ("MLFLOW_TRACKING_URI", "mlflow-server", "must be an http(s) URL of an MLflow server"),
        ("MODEL_POLL_SECONDS", "-1", "must be greater than 0"),
        ("HTTP_TIMEOUT_SECONDS", "soon", "must be a number of seconds"),
        ("ADMIN_TOKEN", "   ", "must not be empty"),
    ],
)
def test_each_validator_names_the_variable(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    error = error_for(tmp_path, **{name: value})
    assert f"{name}={value!r}: " in error
    assert message in error


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("gs://house-raw", "gs://house-raw"),
        ("gs://house-raw/sales/2024/", "gs://house-raw/sales/2024"),
        ("gs://my.bucket_2", "gs://my.bucket_2"),
        ("file:///srv/data/raw", "file:///srv/data/raw"),
        ("/srv/data/raw", "/srv/data/raw"),
        ("relative/raw", "relative/raw"),
    ],
)
def test_bucket_forms_accepted(tmp_path: Path, value: str, stored: str) -> None:
    assert stored == settings(tmp_path, BUCKET_1=value).BUCKET_1


@pytest.mark.parametrize(
    "value", ["gs://Upper-Case", "gs://x", "gs://-leading", "s3://bucket", "http://host/dir", ""]
)
def test_bucket_forms_refused(tmp_path: Path, value: str) -> None:
    error = error_for(tmp_path, BUCKET_2=value)
    assert f"BUCKET_2={value!r}: " in error


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    error = error_for(
        tmp_path, BATCH_SIZE="abc", TRAIN_TEST_SPLIT="1.5", MONGO_URI="localhost", BUCKET_3="s3://x"
    )
    lines = error.splitlines()
    assert lines[0] == "invalid configuration:"
    assert len(lines) == 5
    for name in ("BATCH_SIZE", "TRAIN_TEST_SPLIT", "MONGO_URI", "BUCKET_3"):
        assert sum(line.strip().startswith(f"{name}=") for line in lines) == 1


def test_public_hides_secrets_and_passwords(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        ADMIN_TOKEN="admin-very-secret",
        SECRET_KEY="flask-very-secret",
        MONGO_URI="mongodb+srv://app:hunter2@cluster0.example.net/houseprice",
        MLFLOW_TRACKING_URI="https://ci:pa55@mlflow.example.net",
    )
    shown = s.public()
    assert "ADMIN_TOKEN" not in shown and "SECRET_KEY" not in shown
    text = repr(shown)
    for secret in ("admin-very-secret", "flask-very-secret", "hunter2", "pa55"):
        assert secret not in text
    assert shown["MONGO_URI"] == "mongodb+srv://app:***@cluster0.example.net/houseprice"
    assert shown["MLFLOW_TRACKING_URI"] == "https://ci:***@mlflow.example.net"
    assert shown["BATCH_SIZE"] == s.BATCH_SIZE and shown["BUCKET_1"] == s.BUCKET_1


def test_settings_are_immutable(tmp_path: Path) -> None:
    s = settings(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.BATCH_SIZE = 5  # type: ignore[misc]


REMOTE = {"BUCKET_1": "gs://acme-raw", "ADMIN_TOKEN": "a" * 40, "SECRET_KEY": "s" * 40}


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"MONGO_URI": "mongodb://localhost:27017,127.0.0.2:27018/db"},
        {"MONGO_URI": "mongodb://user:pw@[::1]:27017"},
    ],
)
def test_local_runs_keep_the_local_secrets(tmp_path: Path, env: dict[str, str]) -> None:
    s = settings(tmp_path, **env)
    assert s.is_local
    s.require_secrets()  # returns: the local defaults are fine on one machine
    assert s.ADMIN_TOKEN == "local-admin-token"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BUCKET_1": "gs://acme-raw"}, ["ADMIN_TOKEN", "SECRET_KEY"]),
        ({**REMOTE, "ADMIN_TOKEN": "REPLACE_ME"}, ["ADMIN_TOKEN"]),
        ({**REMOTE, "SECRET_KEY": "local-dev-secret-key"}, ["SECRET_KEY"]),
        ({**REMOTE, "SECRET_KEY": "<long random string>"}, ["SECRET_KEY"]),
        ({**REMOTE, "ADMIN_TOKEN": "short"}, ["ADMIN_TOKEN"]),
        (
            {"MONGO_URI": "mongodb+srv://u:p@cluster.example.net/", "ADMIN_TOKEN": "b" * 40},
            ["SECRET_KEY"],
        ),
        ({"MONGO_URI": "mongodb://mongo.web.svc:27017", "SECRET_KEY": "c" * 40}, ["ADMIN_TOKEN"]),
    ],
)
def test_outside_a_local_run_placeholder_secrets_stop_the_service(
    tmp_path: Path, env: dict[str, str], named: list[str]
) -> None:
    s = settings(tmp_path, **env)
    assert not s.is_local
    with pytest.raises(SettingsError) as caught:
        s.require_secrets()
    message = str(caught.value)
    for name in ("ADMIN_TOKEN", "SECRET_KEY"):
        assert (f"{name}:" in message) == (name in named), message


def test_real_secrets_pass_outside_a_local_run(tmp_path: Path) -> None:
    settings(tmp_path, **REMOTE).require_secrets()  # returns without raising
    assert not settings(tmp_path, **REMOTE).is_local


@pytest.mark.parametrize("service", ["mlapp", "dbapp", "webapp"])
def test_every_service_refuses_to_start_with_template_secrets(tmp_path: Path, service: str) -> None:
    import importlib

    create_app = importlib.import_module(f"{service}.app").create_app
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        create_app(settings(tmp_path, BUCKET_2="gs://acme-data", ADMIN_TOKEN="x" * 40))


def test_proxy_hops_is_a_small_whole_number(tmp_path: Path) -> None:
    assert settings(tmp_path).PROXY_HOPS == 0
    assert settings(tmp_path, PROXY_HOPS="1").PROXY_HOPS == 1
    assert "PROXY_HOPS" in error_for(tmp_path, PROXY_HOPS="-1")
