"""The cheapest predict function that gives the same prices as the model's own predict.

For one row, scikit-learn's per-call checks (fitted-ness, estimator tags, dataframe
detection, finiteness) cost several times the arithmetic. mlapp has validated each
record already, so at load time it builds a leaner equivalent:

- a Pipeline is unrolled: each step's transform (without the set_output wrapper
  when the output is plain numpy anyway), then the last step's predict;
- a TransformedTargetRegressor built from func/inverse_func becomes
  inverse_func(inner predict), a VotingRegressor the weighted average of its members;
- a plain linear model becomes `X @ coef_ + intercept_`, the expression
  `LinearModel._decision_function` evaluates after its checks (summed row by row);
- a HistGradientBoostingRegressor walks all its trees at once (mlapp.tree_predict);
- anything else keeps its own predict.

The lean function is used only if it reproduces `model.predict` on the input
example logged with the model; otherwise (or without an example) mlapp calls
`model.predict`. Either way the model stays a black box: mlapp needs no knowledge
of its features.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mlapp.tree_predict import hist_gradient_boosting

log = logging.getLogger(__name__)

PredictFn = Callable[[np.ndarray], np.ndarray]
# Rows in the batch that checks batched against one-by-one prices at load.
_PROBE_BATCH = 96

# The lean path leans on scikit-learn internals, which a release may rename or drop.
# Without them mlapp still starts and serves, through each model's own predict.
try:
    from sklearn.linear_model._base import LinearModel, MultiOutputLinearModel
    from sklearn.utils._set_output import _wrap_method_output

    # The code of the wrapper set_output puts around transform (same for every class).
    _SET_OUTPUT_WRAPPER = _wrap_method_output(lambda self, X: X, "transform").__code__
    # Predict methods whose whole work, after input checks, is X @ coef_ + intercept_.
    # (Ridge.predict only calls LinearModel.predict, to carry its own docstring).
    _LINEAR_PREDICTS = (LinearModel.predict, MultiOutputLinearModel.predict, Ridge.predict)
    LEAN_UNAVAILABLE: str | None = None
except (ImportError, AttributeError) as exc:  # pragma: no cover - depends on the release
    LEAN_UNAVAILABLE = f"scikit-learn {sklearn.__version__} lacks an internal name ({exc})"


def _tree(estimator: HistGradientBoostingRegressor) -> PredictFn:
    """mlapp.tree_predict reads fitted internals; a release without them uses predict."""
    try:
        return hist_gradient_boosting(estimator) or estimator.predict
    except AttributeError as exc:
        log.warning("fast tree predict unavailable (%s); using the model's predict", exc)
        return estimator.predict


def configure_sklearn() -> None:
    """Skip checks that validated input makes redundant (this thread's sklearn config).

    Inputs are finite (schema validation) and the parameters were validated at fit.
    """
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)


def build_predict(model: Any, probe: np.ndarray | None) -> tuple[PredictFn, str]:
    """Return (predict function, "lean" or "standard").

    With a probe (the logged input example) this also warms the model up, so the
    first request does not pay one-off costs.
    """
    if probe is None or len(probe) == 0:
        return model.predict, "standard"
    expected = np.asarray(model.predict(probe), dtype=np.float64)
    if LEAN_UNAVAILABLE:
        log.warning("lean predict unavailable: %s; using model.predict", LEAN_UNAVAILABLE)
        return model.predict, "standard"
    try:
        lean = _lean_predict(model)
    except Exception:  # an internal attribute moved: this model keeps its own predict
        log.warning("lean predict could not be built; using model.predict", exc_info=True)
        return model.predict, "standard"
    if lean is None:
        return model.predict, "standard"
    try:
        got = np.asarray(lean(probe), dtype=np.float64)
        same = expected.shape == got.shape and np.allclose(got, expected, rtol=1e-9, atol=1e-6)
    except Exception:  # the lean path does not fit this model: keep the standard one
        log.warning("lean predict failed on the input example; using model.predict", exc_info=True)
        same = False
    if not same:
        return model.predict, "standard"
    return lean, "lean"


def rows_independent(predict: PredictFn, probe: np.ndarray | None) -> bool:
    """True when predicting the probe's rows together gives, bit for bit, their one-by-one
    prices: the condition for batching requests of this model (needs at least two rows)."""
    if probe is None or len(probe) < 2:
        return False
    try:
        alone = np.concatenate(
            [
                np.asarray(predict(probe[i : i + 1]), dtype=np.float64).ravel()
                for i in range(len(probe))
            ]
        )
        # Repeated to a batch of some size: numeric kernels may change strategy with the
        # number of rows (e.g. BLAS), which a batch of 3 would not show.
        repeat = -(-_PROBE_BATCH // len(probe))
        together = np.asarray(predict(np.concatenate([probe] * repeat)), dtype=np.float64).ravel()
        alone = np.tile(alone, repeat)
    except Exception:
        log.warning("predicting the input example row by row failed", exc_info=True)
        return False
    return together.shape == alone.shape and bool(np.array_equal(together, alone))


def _lean_predict(model: Any) -> PredictFn | None:
    lean = _lean(model)
    return None if lean == model.predict else lean


def _lean(estimator: Any) -> PredictFn:
    """The estimator's predict without per-call checks, composed bottom-up.

    Falls back to `estimator.predict` for anything not listed here (that part of
    the model then runs exactly as scikit-learn runs it).
    """
    if isinstance(estimator, Pipeline):
        return _pipeline(estimator) or estimator.predict
    if isinstance(estimator, TransformedTargetRegressor):
        return _target_transform(estimator) or estimator.predict
    if isinstance(estimator, VotingRegressor):
        return _voting(estimator)
    if isinstance(estimator, HistGradientBoostingRegressor):
        return _tree(estimator)
    return _linear(estimator) or estimator.predict


def _pipeline(pipeline: Pipeline) -> PredictFn | None:
    steps = [step for _, step in pipeline.steps]
    transforms = [
        _transform(step) for step in steps[:-1] if step is not None and step != "passthrough"
    ]
    final = steps[-1]
    if final is None or final == "passthrough" or not hasattr(final, "predict"):
        return None
    last = _lean(final)

    def predict(X: np.ndarray) -> np.ndarray:
        for transform in transforms:
            X = transform(X)
        return last(X)

    return predict


def _transform(step: Any) -> PredictFn:
    """step.transform, minus scikit-learn's set_output wrapper where it changes nothing.

    The wrapper looks up the output config on every call only to hand a numpy
    result back unchanged when the output is "default".
    """
    method = type(step).transform
    inner = getattr(method, "__wrapped__", None)
    output = getattr(step, "_sklearn_output_config", {}).get(
        "transform", sklearn.get_config()["transform_output"]
    )
    if (
        inner is None
        or getattr(method, "__code__", None) is not _SET_OUTPUT_WRAPPER
        or output != "default"
    ):
        return step.transform
    return functools.partial(inner, step)


def _target_transform(estimator: TransformedTargetRegressor) -> PredictFn | None:
    # Only the func/inverse_func form: then the inverse is a plain function call.
    transformer = estimator.transformer_
    if (
        estimator.transformer is not None
        or not isinstance(transformer, FunctionTransformer)
        or transformer.inv_kw_args
    ):
        return None
    inner = _lean(estimator.regressor_)
    inverse = transformer.inverse_func
    squeeze = estimator._training_dim == 1

    def predict(X: np.ndarray) -> np.ndarray:
        pred = inner(X)
        out = pred.reshape(-1, 1) if pred.ndim == 1 else pred
        if inverse is not None:
            out = inverse(out)
        if squeeze and out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    return predict


def _voting(estimator: VotingRegressor) -> PredictFn:
    members = [_lean(member) for member in estimator.estimators_]
    weights = estimator._weights_not_none

    def predict(X: np.ndarray) -> np.ndarray:
        return np.average(
            np.column_stack([member(X) for member in members]), axis=1, weights=weights
        )

    return predict


def _linear(estimator: Any) -> PredictFn | None:
    cls = type(estimator)
    coef = getattr(estimator, "coef_", None)
    if (
        not isinstance(estimator, LinearModel)
        or cls.predict not in _LINEAR_PREDICTS
        or cls._decision_function is not LinearModel._decision_function
        or not isinstance(coef, np.ndarray)
        or coef.ndim != 1
    ):
        return None
    intercept = estimator.intercept_

    def predict(X: np.ndarray) -> np.ndarray:
        # einsum's per-row loop, not BLAS: a row's sum then has the same order whatever the
        # number of rows, so batched prices equal one-by-one prices bit for bit.
        return np.einsum("ij,j->i", np.asarray(X, dtype=np.float64), coef) + intercept

    return predict
