"""A fitted HistGradientBoostingRegressor's predict, as whole-array numpy steps.

scikit-learn predicts tree after tree, one compiled call each: for one row and 200
trees that is 200 calls plus input checks and a ColumnTransformer, about 2 ms of
overhead for microseconds of arithmetic. Here every tree's nodes sit in one table
and all rows walk all trees at once, one depth level per step, with the same rules
as scikit-learn's `_predict_one_from_raw_data`:

- a missing value (NaN) goes where the node sends missing values;
- a numeric value goes left when `value <= threshold`;
- a category goes left when in the node's left bitset, right when it is a known
  category of the feature, else (unknown or negative) where missing values go.

The leaf values are added in scikit-learn's order (baseline, then tree 1, 2, ...)
with a sequential cumulative sum, so the prices are the same floats. From
WALK_MAX_ROWS rows on, the per-tree compiled calls win again; they are then made
directly, without the per-call checks, and give the same floats too. Categorical
input columns are encoded as the model's OrdinalEncoder does (unknown -> NaN).
mlapp uses this only after it reproduced `model.predict` on the logged input
example (mlapp.predictor).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.preprocessing import OrdinalEncoder

PredictFn = Callable[[np.ndarray], np.ndarray]
# From this many rows on, a compiled call per tree is cheaper than walking all trees
# at once in numpy (CPU time measured for 200 trees of depth up to 20: equal at 12 rows).
WALK_MAX_ROWS = 12


def hist_gradient_boosting(model: HistGradientBoostingRegressor) -> PredictFn | None:
    """The whole-array predict of `model`, or None for a form this does not cover."""
    if type(model) is not HistGradientBoostingRegressor or model.n_trees_per_iteration_ != 1:
        return None
    preprocess = _preprocessor(model)
    if preprocess is None:
        return None
    trees = [predictors[0] for predictors in model._predictors]
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    table = _NodeTable(trees, known, f_idx_map)
    baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
    inverse = model._loss.link.inverse

    def predict(X: np.ndarray) -> np.ndarray:
        X = preprocess(X)
        if len(X) >= WALK_MAX_ROWS:
            # Many rows: scikit-learn's compiled walk, tree after tree, minus its checks.
            raw = np.full(len(X), baseline)
            for tree in trees:
                raw += tree.predict(X, known, f_idx_map, 1)
            return inverse(raw)
        values = table.leaf_values(X)  # (rows, trees)
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


class _NodeTable:
    """Every tree's nodes in flat arrays; leaves point at themselves."""

    def __init__(self, trees: list, known_bitsets: np.ndarray, f_idx_map: np.ndarray) -> None:
        sizes = [len(t.nodes) for t in trees]
        offsets = np.cumsum([0, *sizes[:-1]])
        nodes = np.concatenate([t.nodes for t in trees])
        shift = np.repeat(offsets, sizes)  # a tree's left/right are indices within the tree
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes))
        self.roots = offsets.astype(np.intp)
        self.feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.left = np.where(leaf, own, nodes["left"].astype(np.intp) + shift).astype(np.intp)
        self.right = np.where(leaf, own, nodes["right"].astype(np.intp) + shift).astype(np.intp)
        self.value = nodes["value"].astype(np.float64)
        self.is_leaf = leaf
        self.categorical = nodes["is_categorical"].astype(bool) & ~leaf
        self.depth = int(nodes["depth"].max())
        self.has_categorical = bool(self.categorical.any())
        if self.has_categorical:
            # Per tree, bitset_idx numbers that tree's categorical splits from 0.
            bitsets = [t.raw_left_cat_bitsets for t in trees]
            starts = np.cumsum([0, *[len(b) for b in bitsets[:-1]]])
            bitset = nodes["bitset_idx"].astype(np.intp) + np.repeat(starts, sizes)
            # One row per categorical split: does category c go left? In scikit-learn's
            # order: in the left set -> left, another known category -> right, an unknown
            # category -> the missing side (negative values also go there, see below).
            split = np.flatnonzero(self.categorical)
            in_left = _bits(np.concatenate(bitsets))[bitset[split]]
            known = _bits(known_bitsets)[f_idx_map.astype(np.intp)[self.feature[split]]]
            missing_side = self.missing_left[split][:, None]
            self.category_left = np.where(in_left, True, np.where(known, False, missing_side))
            self.category_row = np.zeros(len(nodes), dtype=np.intp)
            self.category_row[split] = np.arange(len(split))

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """(rows, trees) leaf values. Pairs (row, tree) that reached a leaf drop out."""
        n_rows, n_trees = len(X), len(self.roots)
        flat = np.ascontiguousarray(X, dtype=np.float64).ravel()
        pair = np.arange(n_rows * n_trees)
        node = np.tile(self.roots, n_rows)
        start = np.repeat(np.arange(n_rows) * X.shape[1], n_trees)  # the row's first cell
        out = np.empty(n_rows * n_trees)
        for _ in range(self.depth):
            leaf = self.is_leaf[node]
            if leaf.any():
                out[pair[leaf]] = self.value[node[leaf]]
                walking = ~leaf
                pair, node, start = pair[walking], node[walking], start[walking]
                if not len(pair):
                    break
            feature = self.feature[node]
            x = flat[start + feature]
            missing = np.isnan(x)
            left = np.where(missing, self.missing_left[node], x <= self.threshold[node])
            if self.has_categorical:
                left = self._categorical(node, x, missing, left)
            node = np.where(left, self.left[node], self.right[node])
        out[pair] = self.value[node]  # after `depth` steps every walk ends on a leaf
        return out.reshape(n_rows, n_trees)

    def _categorical(self, node, x, missing, left) -> np.ndarray:
        split = self.categorical[node] & ~missing
        if not split.any():
            return left
        at = split.nonzero()[0]
        value, split_node = x[at], node[at]
        # scikit-learn casts to uint8; encoded categories are 0..254 (at most 255 bins).
        code = np.minimum(np.maximum(value, 0), 255).astype(np.intp)
        goes = self.category_left[self.category_row[split_node], code]
        negative = value < 0
        if negative.any():
            goes = np.where(negative, self.missing_left[split_node], goes)
        left[at] = goes
        return left


def _bits(bitsets: np.ndarray) -> np.ndarray:
    """(n, 8) uint32 bitsets as an (n, 256) boolean table: table[i, c] = c in set i."""
    words = bitsets.astype(np.uint32)[:, np.arange(256) // 32]
    return ((words >> (np.arange(256) % 32).astype(np.uint32)) & 1).astype(bool)
