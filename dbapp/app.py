"""dbapp's factory: settings, the repository, blueprints (records, ops), error answers.

HTTP in, validation (dbapp.documents), pymongo (dbapp.repository), HTTP out.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from dbapp import api, errors, ops, records, review
from dbapp.documents import parse_json_int
from dbapp.repository import Repository
from houseprice.contract import publish
from houseprice.settings import Settings
from houseprice.web import configure_logging, install, set_admin_token

MAX_BODY_BYTES = 64 * 1024  # a prediction with long street names is under 2 KB


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.require_secrets()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    install(app, "dbapp")
    set_admin_token(app, settings.ADMIN_TOKEN)
    app.extensions[records.REPOSITORY_KEY] = Repository(settings)
    errors.register(app)
    app.register_blueprint(records.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(review.bp)
    publish(app, api.TITLE, api.VERSION, api.DESCRIPTION)
    return app


class BoundedJSONProvider(DefaultJSONProvider):
    """Parses request bodies so that no number can overflow during validation."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", parse_json_int)
        return super().loads(s, **kwargs)
