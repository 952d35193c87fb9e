"""The repository's model folders: contract, serving shape, persistence, quality order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
from threadpoolctl import threadpool_limits

from houseprice.evaluation import evaluate, features, target
from houseprice.registry import SKOPS_TRUSTED_TYPES
from houseprice.schema import FEATURE_NAMES
from tests.support.datasets import sample_rows
from training import discovery

MODELS = Path(__file__).resolve().parents[2] / "models"
FOLDERS = discovery.discover(MODELS)


@pytest.fixture(scope="module")
def split():
    """Earlier sales to fit, later sales to score: how a served model meets new houses."""
    rows = sample_rows()
    return rows[rows["date"] < "2014-06-16"], rows[rows["date"] >= "2014-06-16"]


@pytest.fixture(scope="module")
def fitted(split):
    train = split[0]
    models = {}
    with threadpool_limits(limits=1):
        for folder in FOLDERS:
            models[folder.name] = discovery.load(folder).build().fit(features(train), target(train))
    return models


def test_the_expected_folders_exist():
    assert {"linear_regression", "hist_gradient_boosting"} <= {f.name for f in FOLDERS}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_folder_follows_the_contract(folder):
    spec = discovery.load(folder)
    assert spec.description, "model.py should say what the model is in its docstring"
    assert isinstance(spec.params, dict)
    estimator = spec.build()
    assert hasattr(estimator, "fit") and hasattr(estimator, "predict")
    # Unfitted and independent: the platform fits a fresh one per dataset version.
    assert spec.build() is not estimator


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_numpy_object_rows_and_dataframes_predict_the_same(folder, fitted, split):
    model = fitted[folder.name]
    frame = features(split[1]).iloc[:25]
    from_frame = model.predict(frame)
    assert np.all(np.isfinite(from_frame)) and np.all(from_frame > 0)
    np.testing.assert_array_equal(model.predict(frame.to_numpy(dtype=object)), from_frame)
    for i in range(3):  # one row at a time, as mlapp predicts
        row = np.array([list(frame.iloc[i])], dtype=object)
        assert row.shape == (1, len(FEATURE_NAMES))
        assert model.predict(row)[0] == model.predict(frame.iloc[[i]])[0]
        assert model.predict(row)[0] == pytest.approx(from_frame[i], rel=1e-12)  # BLAS order


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_fitted_model_round_trips_through_skops(folder, fitted, split):
    model = fitted[folder.name]
    trusted = [*SKOPS_TRUSTED_TYPES, *discovery.load(folder).trusted_types]
    loaded = skops.io.loads(skops.io.dumps(model), trusted=trusted)
    frame = features(split[1]).iloc[:10]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_stronger_models_beat_the_linear_baseline_on_later_sales(fitted, split):
    test = split[1]
    mdape = {name: evaluate(model, test)["mdape"] for name, model in fitted.items()}
    baseline = mdape.pop("linear_regression")
    constant = np.median(np.abs(np.median(target(split[0])) - target(test)) / target(test))
    assert baseline < constant  # the baseline itself learns something
    assert all(value < baseline for value in mdape.values()), mdape
