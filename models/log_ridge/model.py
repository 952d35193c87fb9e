"""Ridge regression on the log of the price.

Prices are multiplicative (a zip code adds a percentage, not a fixed amount), so the
model fits log(price): numeric fields, derived ages and log areas, and the city and
zip hashed into 256 columns.
"""

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from houseprice.features import HouseFeatures

PARAMS = {"alpha": 1.0, "n_hash_features": 256}


def build_model() -> TransformedTargetRegressor:
    features = HouseFeatures(
        encoding="hash", categorical=("city", "statezip"), n_hash_features=PARAMS["n_hash_features"]
    )
    return TransformedTargetRegressor(
        regressor=Pipeline([("features", features), ("ridge", Ridge(alpha=PARAMS["alpha"]))]),
        func=np.log,
        inverse_func=np.exp,
    )
