"""Continuous training: model folders -> MLflow runs and registered versions -> champion.

- `discovery`  finds and imports the model folders (`models/<name>/model.py`);
- `evaluation` scores a model on a dataset (MAE, RMSE, R2, MdAPE);
- `tracking`   MLflow helpers (reachability, experiments, tags, the champion alias);
- `train`      trains one folder on the cumulative data of the newest dataset version;
- `promotion`  scores challengers and champion on the same data and moves the alias;
- `leaderboard` the table of versions, metrics and the champion;
- `cli`        `python -m houseprice.training` / `houseprice-train`.
"""
