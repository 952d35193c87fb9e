"""Feature engineering as scikit-learn transformers, used INSIDE model pipelines.

Preprocessing is part of the logged model, so serving cannot drift from training:
mlapp hands the pipeline a raw record and gets a price back.

`HouseFeatures` turns raw house records into a numeric matrix. It accepts either
a pandas DataFrame with the columns `schema.FEATURE_NAMES` (extra columns such as
`date` or `price` are ignored) or a 2-D array (object dtype is fine) whose 16
columns are in `FEATURE_NAMES` order — the shape mlapp predicts on.

Output columns, in order: the 12 numeric fields, the derived features (house age,
years since renovation, renovated/basement flags, log areas), then the categoricals:
- encoding="hash": `n_hash_features` columns of stateless feature hashing
  (murmurhash3 of "column=value", like `sklearn.feature_extraction.FeatureHasher`);
- encoding="ordinal": one column per categorical holding a learned integer code
  (NaN for values unseen or rarer than `min_frequency` in training), for
  `HistGradientBoostingRegressor(categorical_features=...)`;
- encoding="target": one column per categorical holding a learned, smoothed mean
  of the target (`sklearn.preprocessing.TargetEncoder`, cross-fitted in fit_transform).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold
from sklearn.preprocessing import TargetEncoder
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_is_fitted

from houseprice.schema import FEATURE_NAMES, NUMERIC_NAMES, TEXT_NAMES

ENCODINGS = ("hash", "ordinal", "target")
DERIVED_NAMES: tuple[str, ...] = (
    "house_age",
    "years_since_renovation",
    "renovated",
    "has_basement",
    "log_sqft_living",
    "log_sqft_lot",
    "log_sqft_above",
)
_POSITION = {name: i for i, name in enumerate(FEATURE_NAMES)}
_NUMERIC_POS = np.array([_POSITION[n] for n in NUMERIC_NAMES])
_NUM = {name: i for i, name in enumerate(NUMERIC_NAMES)}


def _normalise(value: Any) -> str:
    # Case and surrounding blanks carry no meaning in an address field.
    return str(value).strip().lower()


def hash_index(column: str, value: Any, n_features: int) -> int:
    """Column index of one categorical value in the hashed block (stateless)."""
    return _hash(f"{column}={_normalise(value)}") % n_features


@lru_cache(maxsize=8192)
def _hash(token: str) -> int:
    # Cached: the serving path sees the same few hundred cities and zips again and again.
    return murmurhash3_32(token, seed=0, positive=True)


def raw_columns(X: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Split raw records into (numeric float matrix, {categorical name: object array}).

    Accepts a DataFrame with the FEATURE_NAMES columns or a 2-D array in that order.
    """
    if isinstance(X, pd.DataFrame):
        missing = [name for name in FEATURE_NAMES if name not in X.columns]
        if missing:
            raise ValueError(f"house records lack columns: {', '.join(missing)}")
        numeric = X[list(NUMERIC_NAMES)].to_numpy(dtype=np.float64, na_value=np.nan)
        text = {name: X[name].to_numpy(dtype=object) for name in TEXT_NAMES}
        return numeric, text
    array = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if array.ndim != 2 or array.shape[1] != len(FEATURE_NAMES):
        raise ValueError(
            f"house records must be a DataFrame or a 2-D array with {len(FEATURE_NAMES)} "
            f"columns in this order: {', '.join(FEATURE_NAMES)}; got shape {array.shape}"
        )
    numeric = array[:, _NUMERIC_POS].astype(np.float64)
    text = {name: array[:, _POSITION[name]] for name in TEXT_NAMES}
    return numeric, text


def derived_features(numeric: np.ndarray, reference_year: int) -> np.ndarray:
    """The DERIVED_NAMES columns computed from the numeric block."""
    built = numeric[:, _NUM["yr_built"]]
    renovated = numeric[:, _NUM["yr_renovated"]]
    last_work = np.maximum(built, renovated)  # yr_renovated is 0 when never renovated
    return np.column_stack(
        [
            reference_year - built,
            reference_year - last_work,
            (renovated > 0).astype(np.float64),
            (numeric[:, _NUM["sqft_basement"]] > 0).astype(np.float64),
            np.log1p(numeric[:, _NUM["sqft_living"]]),
            np.log1p(numeric[:, _NUM["sqft_lot"]]),
            np.log1p(numeric[:, _NUM["sqft_above"]]),
        ]
    )


def _distinct(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """(codes, distinct values): lets each distinct value be handled once per call."""
    if len(values) == 1:  # the serving path: skip pandas entirely
        return np.zeros(1, dtype=np.intp), [values[0]]
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, list(uniques)


class HouseFeatures(TransformerMixin, BaseEstimator):
    """Raw house records -> numeric matrix (see the module docstring for the layout).

    Parameters
    ----------
    encoding : "hash", "ordinal" or "target"
        How the categorical columns become numbers.
    categorical : names from schema.TEXT_NAMES to encode; the others are dropped.
    n_hash_features : width of the hashed block (encoding="hash").
    min_frequency : with encoding="ordinal", values seen fewer times in training
        are coded as missing (NaN), like unseen values.
    max_categories : with encoding="ordinal", keep at most this many most frequent
        values per column (HistGradientBoostingRegressor allows at most 255).
    derived : add the DERIVED_NAMES columns.
    reference_year : year the ages are counted from (the sales are from 2014).
    """

    def __init__(
        self,
        encoding: str = "hash",
        categorical: Sequence[str] = ("street", "city", "statezip", "country"),
        n_hash_features: int = 64,
        min_frequency: int = 1,
        max_categories: int = 250,
        derived: bool = True,
        reference_year: int = 2015,
    ) -> None:
        self.encoding = encoding
        self.categorical = categorical
        self.n_hash_features = n_hash_features
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.derived = derived
        self.reference_year = reference_year

    # -- layout, known before fitting (HistGradientBoostingRegressor needs it up front)

    def _check_params(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        unknown = [c for c in self.categorical if c not in TEXT_NAMES]
        if unknown:
            raise ValueError(f"categorical must name fields among {TEXT_NAMES}, got {unknown}")
        if self.encoding == "hash" and int(self.n_hash_features) < 1:
            raise ValueError("n_hash_features must be at least 1")

    def _base_names(self) -> list[str]:
        return [*NUMERIC_NAMES, *(DERIVED_NAMES if self.derived else ())]

    def output_names(self) -> list[str]:
        self._check_params()
        if self.encoding == "hash":
            tail = [f"hash_{i}" for i in range(self.n_hash_features)] if self.categorical else []
        else:
            tail = [f"{self.encoding}_{name}" for name in self.categorical]
        return [*self._base_names(), *tail]

    def categorical_indices(self) -> list[int]:
        """Output columns holding category codes (only with encoding="ordinal")."""
        if self.encoding != "ordinal":
            return []
        start = len(self._base_names())
        return list(range(start, start + len(self.categorical)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.output_names(), dtype=object)

    # -- fit / transform

    def fit(self, X: Any, y: Any = None) -> HouseFeatures:
        self._fit(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        text = self._fit(X, y)
        if self.encoding == "target" and self.categorical:
            # Cross-fitted encodings for the training rows, so the model downstream
            # does not learn from each row's own target.
            encoded = self.target_encoder_.fit_transform(self._text_matrix(text), y)
            numeric, _ = raw_columns(X)
            return np.hstack([self._base(numeric), encoded])
        return self.transform(X)

    def _fit(self, X: Any, y: Any) -> dict[str, np.ndarray]:
        self._check_params()
        _, text = raw_columns(X)
        self.n_features_in_ = len(FEATURE_NAMES)
        self.n_features_out_ = len(self.output_names())
        if self.encoding == "ordinal":
            self.categories_ = {
                name: self._learn_categories(text[name]) for name in self.categorical
            }
        elif self.encoding == "target" and self.categorical:
            if y is None:
                raise ValueError('encoding="target" needs the target y in fit')
            folds = KFold(5, shuffle=True, random_state=0)
            self.target_encoder_ = TargetEncoder(target_type="continuous", cv=folds)
            self.target_encoder_.fit(self._text_matrix(text), y)
        else:
            self.categories_ = {}
        return text

    def _learn_categories(self, values: np.ndarray) -> dict[str, int]:
        counts = pd.Series([_normalise(v) for v in values]).value_counts(sort=True)
        kept = counts[counts >= self.min_frequency].index[: self.max_categories]
        return {value: code for code, value in enumerate(sorted(kept))}

    def _text_matrix(self, text: dict[str, np.ndarray]) -> np.ndarray:
        return np.column_stack(
            [np.array([_normalise(v) for v in text[n]], dtype=object) for n in self.categorical]
        )

    def _base(self, numeric: np.ndarray) -> np.ndarray:
        if not self.derived:
            return numeric
        return np.hstack([numeric, derived_features(numeric, self.reference_year)])

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_out_")
        numeric, text = raw_columns(X)
        base = self._base(numeric)
        if not self.categorical:
            return base
        if self.encoding == "hash":
            return np.hstack([base, self._hash_block(text, len(base))])
        if self.encoding == "ordinal":
            return np.hstack([base, self._ordinal_block(text, len(base))])
        return np.hstack([base, self.target_encoder_.transform(self._text_matrix(text))])

    def _hash_block(self, text: dict[str, np.ndarray], n_rows: int) -> np.ndarray:
        block = np.zeros((n_rows, self.n_hash_features))
        if n_rows == 1:  # the serving path: plain Python beats fancy indexing here
            for name in self.categorical:
                block[0, hash_index(name, text[name][0], self.n_hash_features)] += 1.0
            return block
        rows = np.arange(n_rows)
        for name in self.categorical:
            codes, uniques = _distinct(text[name])
            columns = np.array([hash_index(name, u, self.n_hash_features) for u in uniques])
            block[rows, columns[codes]] += 1.0  # one entry per row: no index repeats
        return block

    def _ordinal_block(self, text: dict[str, np.ndarray], n_rows: int) -> np.ndarray:
        block = np.empty((n_rows, len(self.categorical)))
        for j, name in enumerate(self.categorical):
            known = self.categories_[name]
            codes, uniques = _distinct(text[name])
            mapped = np.array([known.get(_normalise(u), np.nan) for u in uniques], dtype=float)
            block[:, j] = mapped[codes]
        return block


def categorical_columns(features: HouseFeatures) -> list[int]:
    """Output column indices a model should treat as categorical.

    For `HistGradientBoostingRegressor(categorical_features=categorical_columns(f))`
    placed right after `f` in a pipeline.
    """
    return features.categorical_indices()


# Classes a saved pipeline may contain from this module; skops must trust them to load.
# (KFold is the target encoder's cross-fitting splitter: plain data, but skops lists it.)
TRUSTED_TYPES: tuple[str, ...] = (
    f"{__name__}.HouseFeatures",
    "sklearn.model_selection._split.KFold",
)
