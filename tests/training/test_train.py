"""Training one folder: what a run and a registered version hold."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from houseprice import registry
from houseprice.datasets import Dataset, load_cumulative
from houseprice.schema import FEATURE_NAMES
from houseprice.storage import open_bucket
from tests.support.datasets import sample_rows, write_version
from tests.support.model_folders import LINEAR, write_model
from training import discovery
from training.discovery import BrokenModelFolder
from training.train import needs_training, pending, train


def dataset(env, version: str) -> Dataset:
    train_rows, valid_rows = load_cumulative(open_bucket(env.bucket), version)
    return Dataset(version, train_rows, valid_rows)


def spec_for(env, name: str, source: str) -> discovery.ModelSpec:
    return discovery.load(discovery.ModelFolder(name, write_model(env.models_dir, name, source)))


def test_needs_training():
    assert needs_training(None, "v1")
    assert needs_training("v1", "v2")
    assert needs_training("v9", "v10")  # numbers, not text
    assert not needs_training("v2", "v2")
    assert not needs_training("v3", "v2")


def test_a_run_holds_params_metrics_tags_and_a_registered_model(training_env, tmp_path):
    env = training_env()
    client = env.client()
    write_version(env.bucket, 1, sample_rows().iloc[:500])
    data = dataset(env, "v1")
    spec = spec_for(env, "linear", LINEAR)
    assert pending(client, env.registered, "linear", "v1") == "v1"

    result = train(spec, data, client=client, registered_model=env.registered, commit="c0ffee")

    assert pending(client, env.registered, "linear", "v1") is None
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "linear-v1"
    assert run.data.params["n_hash_features"] == "32"  # the folder's PARAMS
    assert run.data.params["estimator"] == "Pipeline"
    assert run.data.params["estimator.features__encoding"] == "hash"
    assert set(run.data.metrics) == {"mae", "rmse", "r2", "mdape", "train_rows", "valid_rows"}
    assert run.data.metrics["train_rows"] == len(data.train) == result.train_rows
    assert run.data.metrics["mdape"] == pytest.approx(result.metrics["mdape"])
    for tags in (
        run.data.tags,
        client.get_model_version(env.registered, result.model_version).tags,
    ):
        assert tags["dataset_version"] == "v1"
        assert tags["model_folder"] == "linear"
        assert tags["git_commit"] == "c0ffee"
        assert float(tags["mdape"]) == pytest.approx(result.metrics["mdape"], rel=1e-5)
    version = client.get_model_version(env.registered, result.model_version)
    assert version.run_id == result.run_id
    assert "linear trained on dataset v1" in version.description

    # The logged model: signature over the 16 raw fields, an input example, skops format
    # with the trusted types recorded so a plain load_model needs no arguments.
    local = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/{env.registered}/{version.version}", dst_path=str(tmp_path)
        )
    )
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [column["name"] for column in inputs] == list(FEATURE_NAMES)
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert (
        "houseprice.features.HouseFeatures" in mlmodel["flavors"]["sklearn"]["skops_trusted_types"]
    )
    assert (local / "input_example.json").exists()
    requirements = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "skops==" in requirements

    model = mlflow.sklearn.load_model(f"models:/{env.registered}/{version.version}")
    frame = data.valid.loc[:, list(FEATURE_NAMES)].iloc[:5]
    np.testing.assert_array_equal(model.predict(frame.to_numpy(dtype=object)), model.predict(frame))


UNTRUSTED = """
import operator

from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from houseprice.features import HouseFeatures


def build_model():
    return Pipeline(
        [
            ("features", HouseFeatures()),
            ("same", FunctionTransformer(operator.pos)),  # skops does not trust operator.pos
            ("regressor", LinearRegression()),
        ]
    )
"""

OVERFLOW = """
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from houseprice.features import HouseFeatures


# Trusted, so that the check under test (non-finite predictions) is the one that fires.
TRUSTED_TYPES = ["houseprice_models.overflow.Exploding"]


class Exploding(LinearRegression):
    def predict(self, X):
        return super().predict(X) * float("inf")


def build_model():
    return Pipeline([("features", HouseFeatures()), ("regressor", Exploding())])
"""


def test_a_type_skops_does_not_trust_is_a_broken_folder(training_env):
    env = training_env()
    write_version(env.bucket, 1, sample_rows().iloc[:300])
    data = dataset(env, "v1")
    spec = spec_for(env, "odd_types", UNTRUSTED)
    with pytest.raises(BrokenModelFolder, match=r"list them in TRUSTED_TYPES in model\.py"):
        train(spec, data, client=env.client(), registered_model=env.registered)
    trusted = spec_for(env, "odd_types", UNTRUSTED + '\nTRUSTED_TYPES = ["_operator.pos"]\n')
    result = train(trusted, data, client=env.client(), registered_model=env.registered)
    model = registry.load_version(env.client(), env.registered, result.model_version)
    row = data.valid.loc[:, list(FEATURE_NAMES)].iloc[[0]]
    assert model.predict(row)[0] > 0


@pytest.fixture
def assume_finite_globally():
    """What importing mlapp's predictor does to the process: skip finiteness checks."""
    import sklearn

    before = sklearn.get_config()
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)
    yield
    sklearn.set_config(**before)


@pytest.mark.parametrize("global_config", ["default", "assume_finite"])
def test_non_finite_predictions_are_refused(training_env, request, global_config):
    if global_config == "assume_finite":
        request.getfixturevalue("assume_finite_globally")
    env = training_env()
    write_version(env.bucket, 1, sample_rows().iloc[:300])
    spec = spec_for(env, "overflow", OVERFLOW)
    with pytest.raises(
        BrokenModelFolder, match="fitting or scoring raised NonFinitePredictions: Input contains"
    ):
        train(spec, dataset(env, "v1"), client=env.client(), registered_model=env.registered)
    assert registry.model_versions(env.client(), env.registered) == []
