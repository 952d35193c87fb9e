"""HTTP contracts declared once: each body's check and its JSON Schema come from one object.

A *shape* describes one JSON value. Request shapes both check a value (returning the
clean value or a message, the wording every 422 body uses) and render their JSON
Schema; response shapes only render. A `Body` is a named object (an OpenAPI component).

An `Operation` declares one endpoint: summary, request body, query parameters and the
responses by status. It decorates the Flask view (no wrapper, nothing added to the
call) and `publish(app, ...)` serves `/openapi.json` generated from the app's URL map,
so a route cannot be served undocumented or documented with another shape:

    @bp.get("/things")
    @Operation("List things", query={"page": Whole(1, 100, default=1)},
               responses={200: Reply(THING_PAGE, "One page")})
    def list_things(): ...

`houseprice.web` checks the declared query parameters before the view runs (unknown,
repeated or empty ones get a 422 naming them) and leaves the clean values in
`query_values()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, g, jsonify
from werkzeug.datastructures import MultiDict

from houseprice.schema import (
    CONSISTENCY,
    DATE_MAX_LEN,
    EXAMPLE_RECORD,
    FEATURES,
    validate_features,
)

JSON = dict[str, Any]
Components = dict[str, JSON]
# The request-id rule: the X-Request-ID header and every stored document's key.
REQUEST_ID_PATTERN = r"[A-Za-z0-9._:-]{1,64}"
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
REQUEST_ID_PROBLEM = "must be 1-64 letters, digits, '.', '_', ':' or '-'"


class Shape(Protocol):
    def schema(self, components: Components) -> JSON: ...


class Checked(Shape, Protocol):
    def check(self, value: Any) -> tuple[Any, str | None]: ...


# -- response-side shapes (rendered only) --------------------------------------------


@dataclass(frozen=True)
class Plain:
    """Any JSON Schema fragment written out, for simple response values."""

    fragment: JSON

    def schema(self, components: Components) -> JSON:
        return dict(self.fragment)


def text(description: str = "", **more: Any) -> Plain:
    return Plain(
        {"type": "string", **({"description": description} if description else {}), **more}
    )


def number(description: str = "", **more: Any) -> Plain:
    return Plain(
        {"type": "number", **({"description": description} if description else {}), **more}
    )


def integer(description: str = "", **more: Any) -> Plain:
    body = {"type": "integer", **({"description": description} if description else {}), **more}
    return Plain(body)


def boolean(description: str = "") -> Plain:
    return Plain({"type": "boolean", **({"description": description} if description else {})})


@dataclass(frozen=True)
class Nullable:
    inner: Shape

    def schema(self, components: Components) -> JSON:
        return {"anyOf": [self.inner.schema(components), {"type": "null"}]}

    def check(self, value: Any) -> tuple[Any, Any]:
        return self.inner.check(value)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ListOf:
    items: Shape
    min_items: int | None = None
    max_items: int | None = None
    description: str = ""

    def schema(self, components: Components) -> JSON:
        out: JSON = {"type": "array", "items": self.items.schema(components)}
        if self.min_items is not None:
            out["minItems"] = self.min_items
        if self.max_items is not None:
            out["maxItems"] = self.max_items
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class OneOf:
    choices: tuple[Shape, ...]

    def schema(self, components: Components) -> JSON:
        return {"oneOf": [choice.schema(components) for choice in self.choices]}


@dataclass(frozen=True)
class Body:
    """A named JSON object; rendered as a `$ref` to its component.

    `validate` checks a request body against it when every property is a checked shape:
    unknown fields, missing required fields and each property's problem are all named
    (a nested body's problems as `outer.inner`).
    """

    name: str
    props: Mapping[str, Shape]
    required: tuple[str, ...] | None = None  # None: every property
    description: str = ""
    extra: Shape | None = None  # schema of undeclared keys; None: refused

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(self.props) if self.required is None else self.required

    def schema(self, components: Components) -> JSON:
        if self.name not in components:
            components[self.name] = {}  # placeholder: bodies may refer to themselves
            components[self.name] = self.component(components)
        return {"$ref": f"#/components/schemas/{self.name}"}

    def component(self, components: Components) -> JSON:
        out: JSON = {"type": "object"}
        if self.description:
            out["description"] = self.description
        out["required"] = list(self.required_names)
        out["properties"] = {name: shape.schema(components) for name, shape in self.props.items()}
        out["additionalProperties"] = (
            self.extra.schema(components) if self.extra is not None else False
        )
        return out

    def validate(self, value: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
        if not isinstance(value, Mapping):
            return None, {"body": "must be a JSON object"}
        errors = {str(k)[:64]: "is not a known field" for k in value if k not in self.props}
        clean: dict[str, Any] = {}
        required = self.required_names
        for name, shape in self.props.items():
            given = value.get(name)
            if given is None:
                if name in required:
                    errors[name] = "is required"
                else:
                    clean[name] = None
                continue
            checked, problem = shape.check(given)  # type: ignore[attr-defined]
            if isinstance(problem, Mapping):  # a nested body: its fields, prefixed
                errors.update({f"{name}.{k}": v for k, v in problem.items()})
            elif problem:
                errors[name] = problem
            else:
                clean[name] = checked
        return (None, errors) if errors else (clean, {})

    def check(self, value: Any) -> tuple[Any, Any]:
        clean, errors = self.validate(value)
        return clean, (errors or None)


# -- the house record, from houseprice.schema's field table -------------------------


@dataclass(frozen=True)
class Features:
    """The 16 house features: checked by `validate_features`, rendered from its field table."""

    name: str = "HouseFeatures"
    description: str = "One house. `date` (the sale date) is optional."
    problem: str = "must be a JSON object of the 16 house features"

    def schema(self, components: Components) -> JSON:
        if self.name not in components:
            rules = [f"{rule.field} {rule.message}" for rule in CONSISTENCY]
            properties = {f.name: f.schema() for f in FEATURES}
            components[self.name] = {
                "type": "object",
                "description": self.description
                + " Cross-field rules (checked too, named in the 422): "
                + "; ".join(rules)
                + ".",
                "required": [f.name for f in FEATURES],
                "properties": {
                    **properties,
                    "date": {
                        "type": ["string", "null"],
                        "maxLength": DATE_MAX_LEN,
                        "description": "sale date, YYYY-MM-DD; not in the future",
                    },
                },
                "additionalProperties": False,
                "x-consistency-rules": rules,
                "example": EXAMPLE_RECORD,
            }
        return {"$ref": f"#/components/schemas/{self.name}"}

    def check(self, value: Any) -> tuple[Any, Any]:
        if not isinstance(value, Mapping):
            return None, self.problem
        clean, errors = validate_features(value)
        return (None, errors) if errors else (clean, None)


HOUSE = Features()


# -- errors: the one shape of every error body ---------------------------------------

_ERROR_PROPS: dict[str, Shape] = {
    "error": text("what went wrong, in a few words"),
    "message": text("what to do about it"),
    "request_id": text("the X-Request-ID of this request"),
}
ERROR = Body(
    "Error",
    {
        **_ERROR_PROPS,
        "fields": Plain({"type": "object", "additionalProperties": {"type": "string"}}),
    },
    required=("error", "message", "request_id"),
)
VALIDATION_ERROR = Body(
    "ValidationError",
    {
        **_ERROR_PROPS,
        "fields": Plain(
            {
                "type": "object",
                "description": "problem by field name: `bedrooms`, `features.bedrooms`, "
                "`[3].bedrooms` in a batch; query parameters by their name",
                "additionalProperties": {"type": "string"},
            }
        ),
    },
    description="Every bad field named, with what is wrong with it",
)
STATUS = Body("Status", {"status": text()})


# -- query parameters ----------------------------------------------------------------


@dataclass(frozen=True)
class Whole:
    """A whole-number query parameter from `low` to `high` (text in, int out)."""

    low: int
    high: int
    default: int
    description: str = ""

    @property
    def problem(self) -> str:
        return f"must be a whole number from {self.low} to {self.high}"

    def schema(self, components: Components) -> JSON:
        out: JSON = {
            "type": "integer",
            "minimum": self.low,
            "maximum": self.high,
            "default": self.default,
        }
        if self.description:
            out["description"] = self.description
        return out

    def check(self, value: str) -> tuple[int | None, str | None]:
        if not (value.isascii() and value.isdigit()) or len(value) > 9:
            return None, self.problem
        number = int(value)
        return (number, None) if self.low <= number <= self.high else (None, self.problem)


@dataclass(frozen=True)
class Param:
    """A text query parameter: its JSON Schema as written, checked by `parse` (text in)."""

    fragment: JSON
    parse: Callable[[str], tuple[Any, str | None]]
    required: bool = False
    default: Any = None

    def schema(self, components: Components) -> JSON:
        return dict(self.fragment)

    def check(self, value: str) -> tuple[Any, str | None]:
        if not value.strip():
            return None, "must not be empty"
        return self.parse(value)


QueryParam = Whole | Param


def check_query(
    declared: Mapping[str, QueryParam], args: MultiDict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Query string -> (values with defaults filled in, problem by parameter name)."""
    errors = {str(k)[:64]: "is not a known parameter" for k in args if k not in declared}
    values: dict[str, Any] = {}
    for name, param in declared.items():
        given = args.getlist(name)
        if not given and getattr(param, "required", False):
            errors[name] = "is required"
        elif not given:
            values[name] = param.default
        elif len(given) > 1:
            errors[name] = "must be given once"
        else:
            value, problem = param.check(given[0])
            if problem:
                errors[name] = problem
            else:
                values[name] = value
    return values, errors


def query_values() -> dict[str, Any]:
    """The clean query parameters of this request (checked before the view ran)."""
    return g.get("query", {})


# -- operations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    shape: Shape | None
    description: str
    media: str = "application/json"
    headers: Mapping[str, JSON] = field(default_factory=dict)

    def render(self, components: Components) -> JSON:
        out: JSON = {"description": self.description}
        if self.shape is not None:
            out["content"] = {self.media: {"schema": self.shape.schema(components)}}
        if self.headers:
            out["headers"] = {name: {"schema": dict(s)} for name, s in self.headers.items()}
        return out


VIEW_ATTRIBUTE = "__contract__"


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: Mapping[int, Reply]
    body: Shape | None = None
    query: Mapping[str, QueryParam] = field(default_factory=dict)
    path: Mapping[str, JSON] = field(default_factory=dict)  # path parameter schemas
    description: str = ""
    admin: bool = False  # needs the ADMIN_TOKEN bearer token
    examples: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, view: Callable) -> Callable:
        setattr(view, VIEW_ATTRIBUTE, self)
        return view

    def render(self, operation_id: str, components: Components) -> JSON:
        out: JSON = {"operationId": operation_id, "summary": self.summary}
        if self.description:
            out["description"] = self.description
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": dict(schema)}
            for name, schema in self.path.items()
        ]
        parameters += [
            {
                "name": name,
                "in": "query",
                "required": getattr(p, "required", False),
                "schema": p.schema(components),
            }
            for name, p in self.query.items()
        ]
        if parameters:
            out["parameters"] = parameters
        if self.body is not None:
            content: JSON = {"schema": self.body.schema(components)}
            if self.examples:
                content["examples"] = {k: {"value": v} for k, v in self.examples.items()}
            out["requestBody"] = {"required": True, "content": {"application/json": content}}
        if self.admin:
            out["security"] = [{"adminToken": []}]
        responses = dict(self.responses)
        # What houseprice.web answers for any declared operation.
        responses.setdefault(422, Reply(VALIDATION_ERROR, "A query parameter or field is invalid"))
        if self.admin:
            responses.setdefault(401, Reply(ERROR, "Missing or wrong admin token"))
        out["responses"] = {
            str(status): reply.render(components) for status, reply in sorted(responses.items())
        }
        return out


def operation_of(view: Callable | None) -> Operation | None:
    return getattr(view, VIEW_ATTRIBUTE, None)


_METHODS = ("get", "put", "post", "delete", "patch")


def document(app: Flask, title: str, version: str, description: str) -> JSON:
    """The OpenAPI 3.1 document of every declared route of `app`."""
    components: Components = {}
    paths: dict[str, JSON] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = operation_of(app.view_functions.get(rule.endpoint))
        if op is None:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in _METHODS:
            if method.upper() in (rule.methods or ()):
                operation_id = rule.endpoint.rsplit(".", 1)[-1]
                paths.setdefault(path, {})[method] = op.render(operation_id, components)
    out: JSON = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items()))},
    }
    if any(op.get("security") for item in paths.values() for op in item.values()):
        out["components"]["securitySchemes"] = {
            "adminToken": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"}
        }
    return out


def undeclared_routes(app: Flask, ignore: Iterable[str] = ("static",)) -> list[str]:
    """Endpoints served without a declaration (a test keeps this empty)."""
    skip = set(ignore)
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in skip and operation_of(app.view_functions.get(rule.endpoint)) is None
    )


DOCUMENT_KEY = "houseprice.openapi"
OPENAPI = Operation(
    "This document: OpenAPI 3.1, generated from the declarations the service validates with",
    {200: Reply(Plain({"type": "object"}), "OpenAPI 3.1 document")},
)


def publish(app: Flask, title: str, version: str, description: str) -> None:
    """Serve GET /openapi.json, generated once from the app's declared routes."""

    @OPENAPI
    def openapi() -> Any:
        if DOCUMENT_KEY not in app.extensions:
            app.extensions[DOCUMENT_KEY] = document(app, title, version, description)
        return jsonify(app.extensions[DOCUMENT_KEY])

    app.add_url_rule("/openapi.json", "openapi", openapi, methods=["GET"])
