"""Continuous training: model folders -> MLflow runs and registered versions.

- `discovery`   finds and imports the model folders (`models/<name>/model.py`);
- `train`       trains one folder on the cumulative data of the newest dataset version;
- `leaderboard` the table of versions, metrics and the champion;
- `cli`         `python -m training` / `houseprice-train`.

Scoring lives in `houseprice.evaluation`, the MLflow registry contract in
`houseprice.registry`, and the champion decision in the sibling package `promotion`.
"""

# Exit status of `train --unless-champion` when a champion exists and nothing was trained
# (the local pipeline's first-champion shortcut is then not needed).
NO_SHORTCUT = 3
