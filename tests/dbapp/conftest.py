"""dbapp fixtures: realistic records and an app wired to a real nx-27017 database."""

from __future__ import annotations

import copy
import csv
import functools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dbapp.app import create_app
from houseprice.schema import FEATURE_NAMES, TEXT_NAMES, validate_features
from houseprice.settings import Settings
from tests.conftest import SAMPLE_CSV


@functools.cache
def _valid_records(count: int = 200) -> tuple[dict[str, Any], ...]:
    records = []
    with SAMPLE_CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            raw = {name: row[name] for name in FEATURE_NAMES}
            typed = {k: v if k in TEXT_NAMES else float(v) for k, v in raw.items()}
            clean, errors = validate_features(typed)
            if not errors and float(row["price"]) > 0:
                records.append({"features": clean, "price": float(row["price"])})
            if len(records) == count:
                return tuple(records)
    raise AssertionError("not enough valid rows in the sample dataset")


def sample_records(count: int) -> list[dict[str, Any]]:
    """The first `count` valid rows (price > 0) of the sample dataset, as the API receives them."""
    if count > len(_valid_records()):
        raise ValueError(f"at most {len(_valid_records())} sample records")
    return copy.deepcopy(list(_valid_records()[:count]))


def prediction_body(index: int = 0, **overrides: Any) -> dict[str, Any]:
    record = sample_records(index + 1)[index]
    return {
        "request_id": f"pred-{uuid.uuid4().hex[:12]}",
        "features": record["features"],
        "price": record["price"],
        "model_name": "house-price",
        "model_version": "3",
        "dataset_version": "v2",
        **overrides,
    }


@pytest.fixture
def features() -> dict[str, Any]:
    return dict(sample_records(1)[0]["features"])


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    app.extensions["dbapp.repository"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
