"""The lean predict function gives the model's own prices, or is not used."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from houseprice.features import HouseFeatures
from houseprice.schema import FEATURE_NAMES, PRICE
from mlapp.predictor import build_predict
from tests.conftest import ROOT
from tests.mlapp.conftest import train


def _rows(sample: pd.DataFrame) -> np.ndarray:
    # The shape mlapp predicts on: objects in schema order, as parsed from JSON.
    return sample.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=object)


MODEL_FOLDERS = sorted(p.parent.name for p in (ROOT / "models").glob("[a-z0-9]*/model.py"))


@pytest.mark.parametrize("folder", MODEL_FOLDERS)
def test_every_model_folder_gets_a_lean_predict_with_identical_prices(sample, folder):
    model = train(sample, folder)
    rows = _rows(sample)
    predict, kind = build_predict(model, rows[:3])
    assert kind == "lean"
    np.testing.assert_allclose(predict(rows[:500]), model.predict(rows[:500]), rtol=1e-9)
    np.testing.assert_allclose(predict(rows[9:10]), model.predict(rows[9:10]), rtol=1e-9)


def test_linear_regression_folder_gets_the_lean_path_with_identical_prices(sample):
    model = train(sample, "linear_regression")
    rows = _rows(sample)
    predict, kind = build_predict(model, rows[:3])
    assert kind == "lean"
    assert predict is not model.predict
    np.testing.assert_allclose(predict(rows), model.predict(rows), rtol=1e-12)
    np.testing.assert_allclose(predict(rows[7:8]), model.predict(rows[7:8]), rtol=1e-12)


@pytest.mark.parametrize(
    "regressor",
    [
        HistGradientBoostingRegressor(max_iter=30, random_state=0),
        TransformedTargetRegressor(LinearRegression(), func=np.log, inverse_func=np.exp),
    ],
    ids=["hist_gradient_boosting", "log_target"],
)
def test_other_final_steps_are_unrolled_with_identical_prices(sample, regressor):
    model = Pipeline([("features", HouseFeatures(n_hash_features=16)), ("regressor", regressor)])
    model.fit(sample.loc[:, list(FEATURE_NAMES)], sample[PRICE.name].to_numpy(float))
    rows = _rows(sample)
    predict, kind = build_predict(model, rows[:3])
    assert kind == "lean"
    np.testing.assert_allclose(predict(rows), model.predict(rows), rtol=1e-12)


def test_a_step_set_to_pandas_output_still_gives_identical_prices(sample):
    features = HouseFeatures(n_hash_features=16).set_output(transform="pandas")
    model = Pipeline([("features", features), ("ols", LinearRegression())])
    model.fit(sample.loc[:, list(FEATURE_NAMES)], sample[PRICE.name].to_numpy(float))
    rows = _rows(sample)
    predict, kind = build_predict(model, rows[:3])
    assert kind == "lean"
    np.testing.assert_allclose(predict(rows), model.predict(rows), rtol=1e-12)


def test_a_target_transformer_object_keeps_the_models_own_predict(sample):
    model = TransformedTargetRegressor(
        Pipeline([("features", HouseFeatures(n_hash_features=16)), ("ols", LinearRegression())]),
        transformer=StandardScaler(),
    )
    model.fit(sample.loc[:, list(FEATURE_NAMES)], sample[PRICE.name].to_numpy(float))
    rows = _rows(sample)
    predict, kind = build_predict(model, rows[:3])
    assert kind == "standard"
    np.testing.assert_allclose(predict(rows), model.predict(rows), rtol=1e-12)


def test_without_an_input_example_the_model_predict_is_used(sample):
    model = train(sample, "linear_regression")
    predict, kind = build_predict(model, None)
    assert kind == "standard"
    assert predict == model.predict


def test_a_model_that_cannot_price_its_own_example_is_refused(sample):
    model = train(sample, "linear_regression")
    broken = _rows(sample)[:3, :10]  # columns missing: the model itself raises
    with pytest.raises(ValueError):
        build_predict(model, broken)


_WITHOUT_NAME = """
import importlib, logging, sys
import sklearn.compose, sklearn.ensemble, sklearn.linear_model, sklearn.pipeline
module_name, name = sys.argv[1], sys.argv[2]
module = importlib.import_module(module_name)
saved = getattr(module, name, None)
if name:  # gone while mlapp imports it, as after a release that renamed it
    delattr(module, name)
import mlapp.predictor
if name:
    setattr(module, name, saved)  # scikit-learn's own code still uses it
logging.basicConfig(level="WARNING")
import numpy as np
from sklearn.linear_model import LinearRegression
import mlapp.app  # the service still imports
from mlapp.predictor import build_predict
X = np.arange(12.0).reshape(6, 2)
model = LinearRegression().fit(X, X @ [1.0, 2.0] + 3)
predict, kind = build_predict(model, X[:3])
print(kind, bool(np.allclose(predict(X), model.predict(X))))
"""


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.utils._set_output", "_wrap_method_output"),
        ("sklearn.linear_model._base", "MultiOutputLinearModel"),
        ("sklearn.linear_model._base", ""),  # nothing removed: the lean path
    ],
)
def test_a_missing_scikit_learn_internal_falls_back_to_the_standard_predict(module, name):
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NAME, module, name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    if name:
        assert result.stdout.split() == ["standard", "True"]
        assert "lean predict unavailable" in result.stderr and name in result.stderr
    else:
        assert result.stdout.split() == ["lean", "True"]


@pytest.mark.parametrize("folder", ["hist_gradient_boosting", "blend"])
def test_tree_models_walk_their_trees_with_the_exact_floats_of_scikit_learn(sample, folder):
    from mlapp.tree_predict import PER_TREE_FROM_ROWS, hist_gradient_boosting

    model = train(sample, folder)
    features = model.regressor_
    pipelines = features.estimators_ if hasattr(features, "estimators_") else [features]
    [trees] = [p for p in pipelines if isinstance(p[-1], HistGradientBoostingRegressor)]
    rows = _rows(sample)
    unknown = sample.loc[:, list(FEATURE_NAMES)].assign(city="Nowhere", statezip="WA 99999")
    for X in (rows, unknown.to_numpy(dtype=object)):
        encoded = trees[:-1].transform(X)
        walk = hist_gradient_boosting(trees[-1])
        assert walk is not None
        expected = trees[-1].predict(encoded)
        # Both strategies: all trees as one (few rows), tree after tree (many rows).
        few = np.concatenate([walk(encoded[i : i + 1]) for i in range(PER_TREE_FROM_ROWS + 2)])
        assert np.array_equal(few, expected[: PER_TREE_FROM_ROWS + 2])
        below = PER_TREE_FROM_ROWS - 1
        assert np.array_equal(walk(encoded[:below]), expected[:below])
        assert np.array_equal(walk(encoded), expected)
