"""The cheapest predict function that gives the same prices as the model's own predict.

For one row, scikit-learn's per-call checks (fitted-ness, estimator tags, dataframe
detection, finiteness) cost several times the arithmetic. mlapp has validated each
record already, so at load time it builds a leaner equivalent:

- a Pipeline is unrolled: each step's transform, then the last step's predict;
- a last step that is a plain linear model becomes `X @ coef_ + intercept_`, the
  exact expression `LinearModel._decision_function` evaluates after its checks.

The lean function is used only if it reproduces `model.predict` on the input
example logged with the model; otherwise (or without an example) mlapp calls
`model.predict`. Either way the model stays a black box: mlapp needs no knowledge
of its features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn
from sklearn.linear_model._base import LinearModel, MultiOutputLinearModel
from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

PredictFn = Callable[[np.ndarray], np.ndarray]

# Predict methods whose whole work, after input checks, is X @ coef_ + intercept_.
_LINEAR_PREDICTS = (LinearModel.predict, MultiOutputLinearModel.predict)


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
    lean = _lean_predict(model)
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


def _lean_predict(model: Any) -> PredictFn | None:
    if not isinstance(model, Pipeline):
        return _linear(model)
    steps = [step for _, step in model.steps]
    transforms = [step for step in steps[:-1] if step is not None and step != "passthrough"]
    final = steps[-1]
    if final is None or final == "passthrough" or not hasattr(final, "predict"):
        return None
    last = _linear(final) or final.predict

    def predict(X: np.ndarray) -> np.ndarray:
        for step in transforms:
            X = step.transform(X)
        return last(X)

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
        return np.asarray(X, dtype=np.float64) @ coef + intercept

    return predict
