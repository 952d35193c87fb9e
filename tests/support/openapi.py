"""Checks of a served OpenAPI document against the app that serves it."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from jsonschema import Draft202012Validator

from houseprice.contract import undeclared_routes


def served_document(client: Any) -> dict[str, Any]:
    """GET /openapi.json through a Flask test client, checked to be an answer."""
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.mimetype == "application/json"
    return served.json


def conforms(document: dict[str, Any], instance: Any, schema_name: str) -> list[str]:
    """Errors of `instance` against a component schema, refs resolved within the document."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{schema_name}",
        "components": document["components"],
    }
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(instance)]


def assert_documents_exactly_the_routes(app: Flask, document: dict[str, Any]) -> None:
    """Every served route and method is in the document, and nothing else is."""
    assert document["openapi"].startswith("3.1")
    assert undeclared_routes(app) == []
    served = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served


def assert_schemas_are_valid(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    for target in re.findall(r"#/components/schemas/(\w+)", repr(document)):
        assert target in schemas, f"dangling reference to {target}"
