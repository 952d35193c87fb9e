"""mlapp's OpenAPI 3.1 document, served at GET /openapi.json.

Routes and responses are written out by hand; the house record's fields, types and
ranges come from houseprice.schema, the same definition requests are checked with.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from houseprice.schema import FEATURES, Field


def _field_schema(field: Field) -> dict[str, Any]:
    if field.kind == "str":
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": field.max_len}
        if field.pattern:
            schema["pattern"] = f"^{field.pattern}$"
    else:
        schema = {"type": "integer" if field.kind == "int" else "number"}
        schema["minimum"], schema["maximum"] = field.low, field.high
    schema["description"] = field.describe()
    return schema


_EXAMPLE = {
    "bedrooms": 3,
    "bathrooms": 1.5,
    "sqft_living": 1340,
    "sqft_lot": 7912,
    "floors": 1.5,
    "waterfront": 0,
    "view": 0,
    "condition": 3,
    "sqft_above": 1340,
    "sqft_basement": 0,
    "yr_built": 1955,
    "yr_renovated": 2005,
    "street": "18810 Densmore Ave N",
    "city": "Shoreline",
    "statezip": "WA 98133",
    "country": "USA",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "422": _json(
        _ref("ValidationError"),
        "Invalid body: `fields` names each bad field (`bedrooms`, or `[3].bedrooms` in a "
        "batch), including unknown fields",
    ),
    "413": _json(_ref("ValidationError"), "More than 1000 records, or a body over 2 MB"),
    "503": _json(_ref("Error"), "No model is loaded (no champion registered yet)"),
    "500": _json(_ref("Error"), "The model failed on valid input (see the service logs)"),
}


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mlapp",
            "version": "1.0.0",
            "description": (
                "House-price inference. Serves the registered model's `champion` version "
                "from MLflow and switches to a new champion without a restart."
            ),
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Price one house, or a batch of up to 1000",
                    "operationId": "predict",
                    "parameters": [_ref_param()],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        _ref("HouseFeatures"),
                                        {
                                            "type": "array",
                                            "items": _ref("HouseFeatures"),
                                            "minItems": 1,
                                            "maxItems": 1000,
                                        },
                                    ]
                                },
                                "examples": {
                                    "one": {"value": _EXAMPLE},
                                    "batch": {"value": [_EXAMPLE, {**_EXAMPLE, "bedrooms": 4}]},
                                },
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {"oneOf": [_ref("Prediction"), _ref("BatchPrediction")]},
                            "`price` for one record, `prices` (in request order) for a batch",
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/model": {
                "get": {
                    "summary": "The model this worker serves, and its last registry check",
                    "operationId": "model",
                    "responses": {
                        "200": _json(_ref("ModelStatus"), "The served model"),
                        "503": _ERRORS["503"],
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness: the process answers",
                    "operationId": "health",
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"status": {"const": "ok"}}},
                            "Alive",
                        )
                    },
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: a model is loaded and can serve predictions",
                    "operationId": "ready",
                    "responses": {
                        "200": _json(_ref("Readiness"), "Ready"),
                        "503": _json(_ref("Readiness"), "Not ready; `reason` says why"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics, summed over the service's workers",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
                }
            },
            "/admin/reload": {
                "post": {
                    "summary": "Check the champion alias now (in the worker that answers)",
                    "operationId": "adminReload",
                    "security": [{"adminToken": []}],
                    "responses": {
                        "200": _json(_ref("Reload"), "Checked; `changed` says if it swapped"),
                        "401": _json(_ref("Error"), "Missing or wrong admin token"),
                        "502": _json(
                            _ref("Reload"), "MLflow could not be read or the model not loaded"
                        ),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The ADMIN_TOKEN setting",
                }
            },
            "parameters": {
                "RequestId": {
                    "name": "X-Request-ID",
                    "in": "header",
                    "required": False,
                    "description": "Echoed back and logged; generated when absent or invalid",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
                }
            },
            "schemas": {
                "HouseFeatures": {
                    "type": "object",
                    "description": "One house. `date` is accepted and ignored.",
                    "required": [f.name for f in FEATURES],
                    "properties": {
                        **{f.name: _field_schema(f) for f in FEATURES},
                        "date": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "ModelRef": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "description": "registered model name"},
                        "version": {"type": "string", "description": "registered version"},
                        "model_folder": {"type": "string", "description": "models/<folder>"},
                        "dataset_version": {"type": "string", "description": "e.g. v3"},
                        "run_id": {"type": "string", "description": "MLflow run"},
                    },
                },
                "Interval": {
                    "type": "object",
                    "description": "calibrated price range: holds `level` of later prices",
                    "required": ["low", "high", "level"],
                    "properties": {
                        "low": {"type": "number", "description": "US dollars"},
                        "high": {"type": "number", "description": "US dollars"},
                        "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    },
                },
                "Prediction": {
                    "type": "object",
                    "properties": {
                        "request_id": {"type": "string"},
                        "price": {"type": "number", "description": "US dollars"},
                        "interval": _ref("Interval"),
                        "model": _ref("ModelRef"),
                    },
                },
                "BatchPrediction": {
                    "type": "object",
                    "properties": {
                        "request_id": {"type": "string"},
                        "prices": {"type": "array", "items": {"type": "number"}},
                        "intervals": {"type": "array", "items": _ref("Interval")},
                        "model": _ref("ModelRef"),
                    },
                },
                "Registry": {
                    "type": "object",
                    "properties": {
                        "champion_version": {"type": ["string", "null"]},
                        "last_check_at": {"type": ["number", "null"]},
                        "last_ok_at": {"type": ["number", "null"]},
                        "last_error": {"type": ["string", "null"]},
                        "poll_seconds": {"type": "number"},
                    },
                },
                "ModelStatus": {
                    "type": "object",
                    "properties": {
                        "model": {
                            "allOf": [_ref("ModelRef")],
                            "properties": {
                                "loaded_at": {"type": "number"},
                                "load_seconds": {"type": "number"},
                                "predictor": {"enum": ["lean", "standard"]},
                            },
                        },
                        "registry": _ref("Registry"),
                        "batching": {"type": "object"},
                        "interval": {"type": "object"},
                    },
                },
                "Readiness": {
                    "type": "object",
                    "properties": {
                        "ready": {"type": "boolean"},
                        "reason": {"type": "string"},
                        "model": _ref("ModelRef"),
                    },
                },
                "Reload": {
                    "type": "object",
                    "properties": {
                        "changed": {"type": "boolean"},
                        "model": {"oneOf": [_ref("ModelRef"), {"type": "null"}]},
                        "registry": _ref("Registry"),
                        "worker_pid": {"type": "integer"},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "request_id": {"type": "string"},
                    },
                },
                "ValidationError": {
                    "type": "object",
                    "properties": {
                        "error": {"const": "validation failed"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                        "request_id": {"type": "string"},
                    },
                },
            },
        },
    }


def _ref_param() -> dict[str, str]:
    return {"$ref": "#/components/parameters/RequestId"}
