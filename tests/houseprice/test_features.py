"""HouseFeatures: raw records (DataFrame or NumPy object rows) -> numeric matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline

from houseprice.features import (
    DERIVED_NAMES,
    TRUSTED_TYPES,
    HouseFeatures,
    categorical_columns,
    hash_index,
)
from houseprice.schema import FEATURE_NAMES, NUMERIC_NAMES, validate_frame
from tests.conftest import SAMPLE_CSV


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    valid, _ = validate_frame(pd.read_csv(SAMPLE_CSV))
    return valid.iloc[:600].reset_index(drop=True)


def object_rows(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FEATURE_NAMES)].to_numpy(dtype=object)


@pytest.mark.parametrize("encoding", ["hash", "ordinal", "target"])
def test_dataframe_and_object_array_give_the_same_matrix(sales, encoding):
    features = HouseFeatures(encoding=encoding).fit(sales, sales["price"])
    from_frame = features.transform(sales)
    from_array = features.transform(object_rows(sales))
    np.testing.assert_array_equal(from_frame, from_array)
    assert from_frame.shape == (len(sales), len(features.output_names()))
    assert from_frame.dtype == np.float64


@pytest.mark.parametrize("encoding", ["hash", "ordinal", "target"])
def test_one_row_is_encoded_as_in_a_batch(sales, encoding):
    features = HouseFeatures(encoding=encoding).fit(sales, sales["price"])
    batch = features.transform(sales.iloc[:20])
    for i in range(20):
        single = features.transform(object_rows(sales.iloc[[i]]))
        np.testing.assert_array_equal(single[0], batch[i])


def test_layout_numeric_then_derived_then_hashed(sales):
    features = HouseFeatures(encoding="hash", n_hash_features=32).fit(sales)
    names = features.output_names()
    assert names[: len(NUMERIC_NAMES)] == list(NUMERIC_NAMES)
    assert names[len(NUMERIC_NAMES) : len(NUMERIC_NAMES) + len(DERIVED_NAMES)] == list(
        DERIVED_NAMES
    )
    out = features.transform(sales)
    np.testing.assert_array_equal(out[:, : len(NUMERIC_NAMES)], sales[list(NUMERIC_NAMES)])
    # Four categoricals, each hashed to exactly one column (collisions add up).
    np.testing.assert_array_equal(out[:, -32:].sum(axis=1), 4.0)


def test_derived_features_are_computed_from_years_and_areas(sales):
    features = HouseFeatures(reference_year=2015).fit(sales)
    row = sales.iloc[[0]].copy()
    row[["yr_built", "yr_renovated", "sqft_basement", "sqft_living"]] = [1955, 2005, 0, 1340]
    out = dict(zip(features.output_names(), features.transform(row)[0], strict=True))
    assert out["house_age"] == 60
    assert out["years_since_renovation"] == 10
    assert out["renovated"] == 1.0
    assert out["has_basement"] == 0.0
    assert out["log_sqft_living"] == pytest.approx(np.log1p(1340))


def test_hashing_is_stateless_and_ignores_case_and_blanks(sales):
    a = HouseFeatures(n_hash_features=64).fit(sales.iloc[:10])
    b = HouseFeatures(n_hash_features=64).fit(sales.iloc[300:])
    row = sales.iloc[[5]].copy()
    np.testing.assert_array_equal(a.transform(row), b.transform(row))
    shouting = row.assign(city=" " + row["city"].str.upper() + " ")
    np.testing.assert_array_equal(a.transform(row), a.transform(shouting))
    index = hash_index("city", row["city"].iloc[0], 64)
    assert a.transform(row)[0, len(a.output_names()) - 64 + index] >= 1.0


def test_ordinal_codes_unseen_and_rare_values_as_missing(sales):
    rare = sales.iloc[[0]].assign(city="Rareville")
    features = HouseFeatures(
        encoding="ordinal", categorical=("city", "statezip"), min_frequency=2
    ).fit(pd.concat([sales, rare], ignore_index=True))
    columns = categorical_columns(features)
    assert [features.output_names()[i] for i in columns] == ["ordinal_city", "ordinal_statezip"]
    seen = features.transform(sales.iloc[[0]])[0, columns]
    assert not np.isnan(seen).any()
    unseen = sales.iloc[[0]].assign(city="Atlantis", statezip="WA 00000")
    assert np.isnan(features.transform(unseen)[0, columns]).all()
    assert np.isnan(features.transform(rare)[0, columns[0]])


def test_ordinal_categories_capped(sales):
    features = HouseFeatures(encoding="ordinal", categorical=("statezip",), max_categories=5)
    codes = features.fit_transform(sales)[:, -1]
    assert set(np.unique(codes[~np.isnan(codes)])) == {0, 1, 2, 3, 4}


def test_categorical_columns_empty_unless_ordinal():
    assert categorical_columns(HouseFeatures(encoding="hash")) == []
    assert categorical_columns(HouseFeatures(encoding="target")) == []


def test_target_encoding_learns_from_price(sales):
    features = HouseFeatures(encoding="target", categorical=("statezip",))
    train = features.fit_transform(sales, np.log(sales["price"]))
    assert train.shape[1] == len(features.output_names())
    encoded = features.transform(sales)[:, -1]
    by_zip = pd.Series(encoded).groupby(sales["statezip"]).first()
    mean_log = np.log(sales["price"]).groupby(sales["statezip"]).mean()
    # Smoothed means still rank the expensive zips above the cheap ones.
    assert np.corrcoef(by_zip, mean_log.loc[by_zip.index])[0, 1] > 0.8


def test_target_encoding_needs_y(sales):
    with pytest.raises(ValueError, match="needs the target"):
        HouseFeatures(encoding="target").fit(sales)


def test_bad_input_is_refused_with_a_message(sales):
    features = HouseFeatures().fit(sales)
    with pytest.raises(ValueError, match="16 columns"):
        features.transform(np.zeros((1, 3), dtype=object))
    with pytest.raises(ValueError, match="lack columns: city"):
        features.transform(sales.drop(columns=["city"]))
    with pytest.raises(ValueError, match="encoding must be one of"):
        HouseFeatures(encoding="onehot").fit(sales)
    with pytest.raises(ValueError, match="categorical must name"):
        HouseFeatures(categorical=("price",)).fit(sales)


def test_is_a_regular_scikit_learn_estimator(sales):
    features = HouseFeatures(encoding="ordinal", n_hash_features=8)
    copy = clone(features)
    assert copy.get_params() == features.get_params()
    features.set_params(encoding="hash")
    assert features.fit(sales).get_feature_names_out().shape == (7 + 12 + 8,)


@pytest.mark.parametrize(
    "pipeline",
    [
        Pipeline([("features", HouseFeatures()), ("regressor", LinearRegression())]),
        Pipeline([("features", HouseFeatures(encoding="target")), ("regressor", Ridge())]),
    ],
)
def test_pipeline_round_trips_through_skops(sales, tmp_path, pipeline):
    pipeline.fit(sales, sales["price"])
    path = tmp_path / "model.skops"
    skops.io.dump(pipeline, path)
    loaded = skops.io.load(path, trusted=list(TRUSTED_TYPES))
    row = object_rows(sales.iloc[[3]])
    assert loaded.predict(row)[0] == pytest.approx(pipeline.predict(row)[0])


def test_gradient_boosting_uses_the_categorical_columns(sales):
    features = HouseFeatures(encoding="ordinal", categorical=("city", "statezip"))
    model = Pipeline(
        [
            ("features", features),
            (
                "regressor",
                HistGradientBoostingRegressor(
                    max_iter=20, categorical_features=categorical_columns(features)
                ),
            ),
        ]
    ).fit(sales, sales["price"])
    assert model.named_steps["regressor"].is_categorical_.sum() == 2
    assert model.predict(object_rows(sales.iloc[[0]]))[0] > 0
