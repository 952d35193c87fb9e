"""Linear regression on the numeric fields plus hashed address fields.

The platform's baseline: the same estimator the first version of the service used.
"""

from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from houseprice.features import HouseFeatures

PARAMS = {"n_hash_features": 64, "derived": False}


def build_model() -> Pipeline:
    return Pipeline(
        [
            ("features", HouseFeatures(encoding="hash", **PARAMS)),
            ("regressor", LinearRegression()),
        ]
    )
