"""A fitted HistGradientBoostingRegressor's predict in one compiled call.

scikit-learn predicts tree after tree, one compiled call each: for one row and 200
trees that is 200 calls plus input checks and a ColumnTransformer, about 2 ms of
overhead for microseconds of arithmetic. Here all trees become one: their nodes are
copied into a single node array in scikit-learn's own format, under a small balanced
"router" whose splits read an extra column holding a tree number. Each row is
repeated once per tree with that tree's number in the extra column, and
scikit-learn's own compiled walk (`_predict_from_raw_data`, what `TreePredictor`
calls) takes every (row, tree) pair through the router to that tree's root and on to
its leaf, with exactly its rules for missing values, thresholds and category bitsets.

The leaf values are added in scikit-learn's order (baseline, then tree 1, 2, ...)
with a sequential cumulative sum, so the prices are the same floats. From
PER_TREE_FROM_ROWS rows on, the per-tree compiled calls are cheaper again (the
repeated rows no longer fit the cache); they are then made directly, without the
per-call checks, and give the same floats too. Categorical input columns are encoded
as the model's OrdinalEncoder does (unknown -> NaN). mlapp uses this only after it
reproduced `model.predict` on the logged input example (mlapp.predictor).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import _predict_from_raw_data
from sklearn.preprocessing import OrdinalEncoder

PredictFn = Callable[[np.ndarray], np.ndarray]
# From this many rows on, a compiled call per tree is cheaper than the one walk over
# every (row, tree) pair (CPU time for blend's 200 trees: about equal at 64 rows; the
# one walk is 17x cheaper for one row, 4x for 8, 1.6x for 32).
PER_TREE_FROM_ROWS = 64


def hist_gradient_boosting(model: HistGradientBoostingRegressor) -> PredictFn | None:
    """The one-call predict of `model`, or None for a form this does not cover."""
    if type(model) is not HistGradientBoostingRegressor or model.n_trees_per_iteration_ != 1:
        return None
    preprocess = _preprocessor(model)
    if preprocess is None:
        return None
    trees = [predictors[0] for predictors in model._predictors]
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    forest = _Forest(trees, model.n_features_in_, known, f_idx_map)
    baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
    inverse = model._loss.link.inverse

    def predict(X: np.ndarray) -> np.ndarray:
        X = preprocess(X)
        if len(X) >= PER_TREE_FROM_ROWS:
            # Many rows: scikit-learn's compiled walk, tree after tree, minus its checks.
            raw = np.full(len(X), baseline)
            for tree in trees:
                raw += tree.predict(X, known, f_idx_map, 1)
            return inverse(raw)
        values = forest.leaf_values(X)  # (rows, trees)
        terms = np.empty((values.shape[0], values.shape[1] + 1))
        terms[:, 0] = baseline
        terms[:, 1:] = values
        raw = np.cumsum(terms, axis=1)[:, -1]  # left to right, as tree after tree
        return inverse(raw)

    return predict


def _preprocessor(model: HistGradientBoostingRegressor) -> PredictFn | None:
    """What `_preprocess_X` does at predict time, without its checks."""
    pre = model._preprocessor
    if pre is None:
        return lambda X: np.asarray(X, dtype=np.float64)
    steps = {name: (step, columns) for name, step, columns in pre.transformers_}
    if set(steps) - {"encoder", "numerical", "remainder"} or "encoder" not in steps:
        return None
    encoder, cat_columns = steps["encoder"]
    _, num_columns = steps.get("numerical", (None, None))
    if (
        not isinstance(encoder, OrdinalEncoder)
        or getattr(encoder, "_infrequent_enabled", False)
        or encoder.handle_unknown != "use_encoded_value"
        or not np.isnan(encoder.unknown_value)
        or not np.isnan(encoder.encoded_missing_value)
    ):
        return None
    cats = np.asarray(cat_columns)
    nums = np.asarray(num_columns) if num_columns is not None else None
    known = []
    for categories in encoder.categories_:
        if categories.dtype.kind != "f":
            return None  # text categories: keep scikit-learn's own path
        known.append(categories[~np.isnan(categories)])  # sorted; NaN, if any, was last

    def encode(X: np.ndarray) -> np.ndarray:
        block = np.asarray(X[:, cats], dtype=np.float64)
        out = np.empty_like(block)
        for j, categories in enumerate(known):
            column = block[:, j]
            index = np.searchsorted(categories, column)
            found = categories[np.minimum(index, len(categories) - 1)] == column
            out[:, j] = np.where(found, index, np.nan)  # unknown and missing -> NaN
        if nums is None:
            return out
        return np.hstack([out, np.asarray(X[:, nums], dtype=np.float64)])

    return encode


class _Forest:
    """Every tree under one router, as a single tree in scikit-learn's node format."""

    def __init__(
        self, trees: list, n_features: int, known: np.ndarray, f_idx_map: np.ndarray
    ) -> None:
        self.n_features = n_features
        self.n_trees = len(trees)
        self.tree_number = np.arange(self.n_trees, dtype=np.float64)
        self.known = known
        # The router's column is numeric: the map's extra entry is never read.
        self.f_idx_map = np.append(f_idx_map, 0).astype(f_idx_map.dtype)
        n_router = self.n_trees - 1  # a balanced binary tree with one leaf per tree
        sizes = [len(tree.nodes) for tree in trees]
        roots = n_router + np.cumsum([0, *sizes[:-1]])
        bitsets = [tree.raw_left_cat_bitsets for tree in trees]
        first_bitset = np.cumsum([0, *[len(b) for b in bitsets[:-1]]])
        nodes = np.zeros(n_router + sum(sizes), dtype=PREDICTOR_RECORD_DTYPE)
        for tree, root, first, size in zip(trees, roots, first_bitset, sizes, strict=True):
            part = tree.nodes.copy()
            # A tree's child and bitset numbers count from its own start (leaves' are unused).
            part["left"] += np.uint32(root)
            part["right"] += np.uint32(root)
            part["bitset_idx"] += np.uint32(first)
            nodes[root : root + size] = part
        self._route(nodes, roots, 0, self.n_trees, [0])
        self.nodes = nodes
        self.bitsets = np.ascontiguousarray(np.concatenate(bitsets), dtype=bitsets[0].dtype)

    def _route(self, nodes: np.ndarray, roots: np.ndarray, lo: int, hi: int, free: list) -> int:
        """The router node sending tree numbers lo..hi-1 to their roots; returns its index."""
        if hi - lo == 1:
            return int(roots[lo])
        index = free[0]
        free[0] += 1
        middle = (lo + hi) // 2
        node = nodes[index]
        node["feature_idx"] = self.n_features
        node["num_threshold"] = middle - 0.5  # numbers below `middle` go left
        node["left"] = self._route(nodes, roots, lo, middle, free)
        node["right"] = self._route(nodes, roots, middle, hi, free)
        return index

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """(rows, trees) leaf values, from one compiled walk over every pair."""
        n_rows = len(X)
        pairs = np.empty((n_rows * self.n_trees, self.n_features + 1))
        pairs[:, : self.n_features] = np.repeat(X, self.n_trees, axis=0)
        pairs[:, self.n_features] = np.tile(self.tree_number, n_rows)
        out = np.empty(len(pairs))
        _predict_from_raw_data(self.nodes, pairs, self.bitsets, self.known, self.f_idx_map, 1, out)
        return out.reshape(n_rows, self.n_trees)
