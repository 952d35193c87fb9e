"""mlapp's factory: settings, the model store, the batcher, blueprints (predict, ops).

Routes live in mlapp.predict (the hot path) and mlapp.ops (model info, health,
readiness, metrics, reload), each declared in mlapp.api, from which /openapi.json is
generated; JSON error bodies come from houseprice.web.
"""

from __future__ import annotations

import math
import os

from flask import Flask

from houseprice.contract import publish
from houseprice.settings import Settings
from houseprice.web import configure_logging, install, set_admin_token
from mlapp import api, insights, ops, predict
from mlapp.batching import Batcher, BatchSettings
from mlapp.model_store import ModelStore
from mlapp.predictor import configure_sklearn


def create_app(settings: Settings | None = None, batching: BatchSettings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.require_secrets()
    batching = batching or BatchSettings.from_env()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    _configure_mlflow_client(settings)
    configure_sklearn()
    store = ModelStore(
        settings.MLFLOW_TRACKING_URI,
        settings.REGISTERED_MODEL_NAME,
        poll_seconds=settings.MODEL_POLL_SECONDS,
        first_load_wait=settings.HTTP_TIMEOUT_SECONDS,
    )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = predict.MAX_BODY_BYTES
    app.extensions[predict.STORE_KEY] = store
    app.extensions[predict.BATCHER_KEY] = Batcher(store, batching) if batching.enabled else None
    set_admin_token(app, settings.ADMIN_TOKEN)
    install(app, "mlapp")
    # Started here, in the process that serves: never in a gunicorn master before fork.
    app.before_request(store.ensure_started)
    app.register_blueprint(predict.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(insights.bp, settings=settings)
    publish(app, api.TITLE, api.VERSION, api.DESCRIPTION)
    return app


def _configure_mlflow_client(settings: Settings) -> None:
    """MLflow client behaviour for this process (an operator's explicit values win)."""
    # A down MLflow must show up within seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    timeout = str(max(1, math.ceil(settings.HTTP_TIMEOUT_SECONDS)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", timeout)
    # Loading any scikit-learn model (skops included) needs this opt-in. mlapp loads only
    # from the platform's own registry: whoever can register a model there is trusted.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
