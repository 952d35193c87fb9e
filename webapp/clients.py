"""HTTP calls to mlapp (prices) and dbapp (saved history).

Every call carries the caller's X-Request-ID and a timeout, and every way a call
can fail ends in one of the exceptions below, so the pages can say what happened
in words instead of showing a stack trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import requests

from houseprice.web import REQUEST_ID_HEADER


class DependencyError(Exception):
    """A service the web app depends on did not give a usable answer."""

    # "unavailable": no answer (refused, timed out, 502-504); "no_model": mlapp has no
    # model yet; "not_found": nothing under that name (404); "conflict": the id is already
    # used for different content (409);
    # "bad_response": an answer we cannot use (other status, unexpected body).
    def __init__(self, dependency: str, kind: str, detail: str = "", status: int | None = None):
        super().__init__(f"{dependency} {kind}: {detail}".strip())
        self.dependency = dependency
        self.kind = kind
        self.detail = detail
        self.status = status


class Rejected(DependencyError):
    """The service refused the input (422), naming the bad fields."""

    def __init__(self, dependency: str, fields: dict[str, str], detail: str = ""):
        super().__init__(dependency, "rejected", detail, 422)
        self.fields = fields


@dataclass(frozen=True)
class Prediction:
    request_id: str
    price: float
    model: dict[str, str]  # name, version, model_folder, dataset_version, run_id
    interval: dict[str, float] | None = None  # low, high, level; None when mlapp gave none


def read_interval(value: Any) -> dict[str, float] | None:
    """mlapp's `interval` if it is a usable range (low <= high, level in (0, 1)), else None."""
    if not isinstance(value, dict):
        return None
    try:
        low, high, level = (float(value[k]) for k in ("low", "high", "level"))
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(x) for x in (low, high, level)) or low > high or not 0 < level < 1:
        return None
    return {"low": low, "high": high, "level": level}


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1


class _Service:
    name = ""

    def __init__(self, base_url: str, timeout: float, session: requests.Session):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session

    def call(self, method: str, path: str, request_id: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                headers={REQUEST_ID_HEADER: request_id},
                timeout=self.timeout,
                **kwargs,
            )
        except requests.Timeout as exc:
            detail = f"no answer in {self.timeout}s"
            raise DependencyError(self.name, "unavailable", detail) from exc
        except requests.RequestException as exc:
            raise DependencyError(self.name, "unavailable", type(exc).__name__) from exc
        if response.status_code == 422:
            body = _json(response)
            fields = body.get("fields") if isinstance(body, dict) else None
            raise Rejected(
                self.name,
                {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {},
                str(body.get("message", "")) if isinstance(body, dict) else "",
            )
        return response

    def unexpected(self, response: requests.Response) -> DependencyError:
        kind = {409: "conflict", 502: "unavailable", 503: "unavailable", 504: "unavailable"}
        return DependencyError(
            self.name,
            kind.get(response.status_code, "bad_response"),
            f"HTTP {response.status_code} from {response.request.method} {response.url}",
            response.status_code,
        )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class MlappClient(_Service):
    name = "mlapp"

    def predict(self, record: dict[str, Any], request_id: str) -> Prediction:
        response = self.call("POST", "/predict", request_id, json=record)
        if response.status_code == 503:
            raise DependencyError(self.name, "no_model", "no model is being served", 503)
        if response.status_code != 200:
            raise self.unexpected(response)
        body = _json(response)
        try:
            price = float(body["price"])
            model = {str(k): "" if v is None else str(v) for k, v in body["model"].items()}
            answer_id = str(body.get("request_id") or request_id)
        except (TypeError, KeyError, ValueError, AttributeError):
            raise DependencyError(self.name, "bad_response", "answer lacks price/model") from None
        if not math.isfinite(price):
            raise DependencyError(self.name, "bad_response", "price is not a finite number")
        return Prediction(answer_id, price, model, read_interval(body.get("interval")))

    def insight(self, path: str, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        """A read-only answer of mlapp.insights (comparables, model history, lineage)."""
        response = self.call("GET", path, request_id, params=params)
        if response.status_code == 404:
            body = _json(response)
            detail = str(body.get("message", "")) if isinstance(body, dict) else ""
            raise DependencyError(self.name, "not_found", detail, 404)
        if response.status_code != 200:
            raise self.unexpected(response)
        body = _json(response)
        if not isinstance(body, dict):
            raise DependencyError(self.name, "bad_response", f"{path} answered no JSON object")
        return body

    def drift_report(self, dataset_version: str, request_id: str) -> bytes:
        params = {"dataset_version": dataset_version}
        response = self.call("GET", "/drift_report", request_id, params=params)
        if response.status_code == 404:
            raise DependencyError(self.name, "not_found", "no drift report", 404)
        if response.status_code != 200:
            raise self.unexpected(response)
        return response.content


class DbappClient(_Service):
    name = "dbapp"

    def save_prediction(
        self, prediction: Prediction, features: dict[str, Any], request_id: str
    ) -> None:
        body = {
            "request_id": prediction.request_id,
            "features": features,
            "price": prediction.price,
            "model_name": prediction.model.get("name", ""),
            "model_version": prediction.model.get("version", ""),
            "dataset_version": prediction.model.get("dataset_version", ""),
        }
        response = self.call("POST", "/predictions", request_id, json=body)
        if response.status_code not in (200, 201):
            raise self.unexpected(response)

    def save_correction(
        self,
        correction_id: str,
        prediction_id: str,
        features: dict[str, Any],
        corrected_price: float,
        request_id: str,
    ) -> bool:
        """Store a correction; True if new, False if this correction id was already saved."""
        body = {
            "request_id": correction_id,
            "prediction_id": prediction_id,
            "features": features,
            "corrected_price": corrected_price,
        }
        response = self.call("POST", "/corrections", request_id, json=body)
        if response.status_code not in (200, 201):
            raise self.unexpected(response)
        return response.status_code == 201

    def get_prediction(self, prediction_id: str, request_id: str) -> dict[str, Any] | None:
        """One stored prediction by its id, or None when dbapp holds none with it."""
        response = self.call("GET", f"/predictions/{prediction_id}", request_id)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.unexpected(response)
        body = _json(response)
        if not isinstance(body, dict):
            raise DependencyError(self.name, "bad_response", "prediction is no JSON object")
        return body

    def list(self, collection: str, page: int, per_page: int, request_id: str) -> Page:
        """One page of `predictions` or `corrections`, newest first as dbapp orders them."""
        response = self.call(
            "GET", f"/{collection}", request_id, params={"page": page, "per_page": per_page}
        )
        if response.status_code != 200:
            raise self.unexpected(response)
        body = _json(response)
        try:
            items = [item for item in body["items"] if isinstance(item, dict)]
            return Page(items, int(body["page"]), int(body["per_page"]), int(body["total"]))
        except (TypeError, KeyError, ValueError):
            raise DependencyError(self.name, "bad_response", "page lacks items/total") from None
