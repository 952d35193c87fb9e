"""The OpenAPI 3.1 description of dbapp, served at /openapi.json.

Written by hand so it reads as documentation; only the 16 feature fields are
derived from houseprice.schema, the one definition of a house record.
"""

from __future__ import annotations

from typing import Any

from dbapp.documents import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from houseprice.schema import FEATURES, PRICE, Field

REQUEST_ID_PATTERN = "^[A-Za-z0-9._:-]{1,64}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _feature_schema(field: Field) -> dict[str, Any]:
    if field.kind == "str":
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": field.max_len}
        if field.pattern:
            schema["pattern"] = f"^{field.pattern}$"
    else:
        schema = {
            "type": "integer" if field.kind == "int" else "number",
            "minimum": field.low,
            "maximum": field.high,
        }
    schema["description"] = field.describe()
    return schema


ERRORS = {
    "400": _response("The body is not valid JSON", "Error"),
    "413": _response("The body is larger than 64 KB", "Error"),
    "415": _response("The body is not sent as application/json", "Error"),
    "422": _response("Invalid fields, each named in `fields`", "ValidationError"),
    "503": _response("MongoDB is unavailable; retry later", "Error"),
}
PAGE_PARAMETERS = [
    {
        "name": "page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "name": "per_page",
        "in": "query",
        "required": False,
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PER_PAGE,
            "default": DEFAULT_PER_PAGE,
        },
    },
]
REQUEST_ID_PARAMETER = {
    "name": "request_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
}


def _store(kind: str, summary: str, body: str, stored: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"store_{kind}",
            "summary": summary,
            "description": (
                "`request_id` is the idempotency key: sending the same body again returns "
                "200 with the stored document and stores nothing new; the same `request_id` "
                "with different content is a 409."
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(body)}},
            },
            "responses": {
                "201": {
                    **_response("Stored", stored),
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                "200": _response("Already stored by an identical earlier request", stored),
                "409": _response("`request_id` already used with different content", "Error"),
                **ERRORS,
            },
        },
        "get": {
            "operationId": f"list_{kind}",
            "summary": f"List {kind}, newest first",
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": _response("One page", f"{stored}Page"),
                "422": ERRORS["422"],
                "503": ERRORS["503"],
            },
        },
    }


def _get_one(kind: str, stored: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": f"get_{kind[:-1]}",
            "summary": f"One {kind[:-1]} by its request_id",
            "parameters": [REQUEST_ID_PARAMETER],
            "responses": {
                "200": _response("Found", stored),
                "404": _response("No document has this request_id", "Error"),
                "422": ERRORS["422"],
                "503": ERRORS["503"],
            },
        }
    }


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": {
                "type": "integer",
                "minimum": 0,
                "description": "documents in all pages (from collection metadata)",
            },
        },
    }


_REQUEST_ID = {
    "type": "string",
    "pattern": REQUEST_ID_PATTERN,
    "description": "Client-chosen unique id; the idempotency key",
}
_LABEL = {"type": "string", "minLength": 1, "maxLength": 200}
_CORRECTED_PRICE = {
    "type": "number",
    "minimum": PRICE.low,
    "maximum": PRICE.high,
    "description": f"The price the user believes is right, {PRICE.describe()}",
}
_PREDICTION_IN = {
    "request_id": _REQUEST_ID,
    "features": _ref("Features"),
    "price": {"type": "number", "exclusiveMinimum": 0, "description": "Predicted price"},
    "model_name": {**_LABEL, "description": "Registered model that predicted"},
    "model_version": {**_LABEL, "description": "Its registry version"},
    "dataset_version": {**_LABEL, "description": "Dataset version it was trained on, e.g. v3"},
}
_CORRECTION_IN = {
    "request_id": _REQUEST_ID,
    "prediction_id": {
        "type": "string",
        "pattern": REQUEST_ID_PATTERN,
        "description": "request_id of the stored prediction this corrects",
    },
    "features": {**_ref("Features"), "description": "Defaults to the prediction's features"},
    "corrected_price": _CORRECTED_PRICE,
}
_REVIEW_STATE = {  # set by the data job's screen and by a review; absent otherwise
    "held": {
        "type": "boolean",
        "description": "True while held for review as implausible (never trained on)",
    },
    "held_at": {"type": "string", "format": "date-time", "description": "When it was held"},
    "screen": {
        "type": "object",
        "description": "The numbers that decided: ratios to the prediction and to the zip "
        "price per square foot, the threshold, the dataset version",
    },
    "review": {
        "type": "object",
        "required": ["decision", "by", "reason", "at"],
        "properties": {
            "decision": {"type": "string", "enum": ["accepted", "rejected"]},
            "by": {"type": "string"},
            "reason": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
        },
    },
}
_CREATED_AT = {"type": "string", "format": "date-time", "description": "Server time, UTC"}
_ERROR_PROPERTIES = {
    "error": {"type": "string"},
    "message": {"type": "string"},
    "request_id": {"type": "string", "description": "The X-Request-ID of this request"},
}

SCHEMAS: dict[str, Any] = {
    "Features": {
        "type": "object",
        "description": "The 16 features of a house sale (unknown fields are refused)",
        "required": [f.name for f in FEATURES],
        "properties": {f.name: _feature_schema(f) for f in FEATURES},
        "additionalProperties": False,
    },
    "PredictionIn": {
        "type": "object",
        "required": list(_PREDICTION_IN),
        "properties": _PREDICTION_IN,
        "additionalProperties": False,
    },
    "Prediction": {
        "type": "object",
        "required": [*_PREDICTION_IN, "created_at"],
        "properties": {**_PREDICTION_IN, "created_at": _CREATED_AT},
        "additionalProperties": False,
    },
    "CorrectionIn": {
        "type": "object",
        "required": ["request_id", "prediction_id", "corrected_price"],
        "properties": _CORRECTION_IN,
        "additionalProperties": False,
    },
    "Correction": {
        "type": "object",
        "required": [*_CORRECTION_IN, "created_at", "consumed", "consumed_in"],
        "properties": {
            **_CORRECTION_IN,
            "created_at": _CREATED_AT,
            "consumed": {
                "type": "boolean",
                "description": "Set to true by the data job once a dataset version holds it",
            },
            "consumed_in": {
                "type": "string",
                "description": 'The dataset version that holds it, e.g. "v3"; "" until then; '
                '"held:<reason>" while held for review, "rejected:<reason>" if refused',
            },
            **_REVIEW_STATE,
        },
        "additionalProperties": False,
    },
    "ReviewIn": {
        "type": "object",
        "required": ["by"],
        "properties": {
            "by": {**_LABEL, "description": "Who decides (an operator's name)"},
            "reason": {**_LABEL, "description": "Why; required to reject"},
        },
        "additionalProperties": False,
    },
    "PredictionPage": _page("Prediction"),
    "CorrectionPage": _page("Correction"),
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": _ERROR_PROPERTIES,
    },
    "ValidationError": {
        "type": "object",
        "required": ["error", "message", "fields"],
        "properties": {
            **_ERROR_PROPERTIES,
            "fields": {
                "type": "object",
                "description": 'Problem by field name; nested fields as "features.bedrooms"',
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "Status": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    },
}


UNAUTHORIZED = _response("Missing or wrong `Authorization: Bearer <ADMIN_TOKEN>`", "Error")
ADMIN_SECURITY = [{"adminToken": []}]


def _review(decision: str, what: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"{decision}_held_correction",
            "summary": what,
            "security": ADMIN_SECURITY,
            "parameters": [REQUEST_ID_PARAMETER],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ReviewIn")}},
            },
            "responses": {
                "200": _response("Decided; the correction as it is now", "Correction"),
                "401": UNAUTHORIZED,
                "404": _response("No correction has this request_id", "Error"),
                "409": _response("The correction is not held for review", "Error"),
                **ERRORS,
            },
        }
    }


REVIEW_PATHS: dict[str, Any] = {
    "/admin/corrections/held": {
        "get": {
            "operationId": "list_held_corrections",
            "summary": "Corrections held for review as implausible, most recently held first",
            "security": ADMIN_SECURITY,
            "parameters": PAGE_PARAMETERS,
            "responses": {
                "200": _response("One page", "CorrectionPage"),
                "401": UNAUTHORIZED,
                "422": ERRORS["422"],
                "503": ERRORS["503"],
            },
        }
    },
    "/admin/corrections/{request_id}/accept": _review(
        "accept", "Release a held correction to the next dataset version"
    ),
    "/admin/corrections/{request_id}/reject": _review(
        "reject", "Keep a held correction out for good, saying who and why"
    ),
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dbapp",
            "version": "1.0.0",
            "description": (
                "Stores and lists house-price predictions and the corrections users send. "
                "Fixed schemas: no collection name and no query is ever taken from a client."
            ),
        },
        "paths": {
            "/predictions": _store(
                "predictions", "Store a prediction", "PredictionIn", "Prediction"
            ),
            "/predictions/{request_id}": _get_one("predictions", "Prediction"),
            "/corrections": _store(
                "corrections",
                "Store a correction of a stored prediction",
                "CorrectionIn",
                "Correction",
            ),
            "/corrections/{request_id}": _get_one("corrections", "Correction"),
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness; does not touch MongoDB",
                    "responses": {"200": _response("Alive", "Status")},
                }
            },
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness: MongoDB answers a ping and the indexes exist",
                    "responses": {"200": _response("Ready", "Status"), "503": ERRORS["503"]},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics of all workers",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            **REVIEW_PATHS,
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }
