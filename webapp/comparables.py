"""What the result page shows under the estimate: similar past sales and the zip's chart.

The sales come from mlapp (GET /comparables, read from the committed dataset versions);
this module turns its answer into what a person reads: a table, an SVG chart and, when
the data barely covers the house, the reasons for a "few similar sales" notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from webapp import charts
from webapp.clients import DependencyError, MlappClient
from webapp.filters import plain
from webapp.forms import LABELS

log = logging.getLogger("webapp")

SHOWN = 5
QUERY = ("statezip", "sqft_living", "bedrooms", "bathrooms", "yr_built")


@dataclass(frozen=True)
class Nearby:
    dataset_version: str
    statezip: str
    sales: list[dict[str, Any]]
    zip_sales: int
    chart: Markup | None  # None when no sale in the zip was seen
    few_similar: list[str]  # reasons; empty when past sales cover the house well


def for_house(
    mlapp: MlappClient,
    features: dict[str, Any],
    price: float,
    interval: dict[str, float] | None,
    request_id: str,
) -> tuple[Nearby | None, str]:
    """(the comparables, "") or (None, why there are none to show)."""
    params = {name: features[name] for name in QUERY}
    try:
        body = mlapp.insight("/comparables", {**params, "limit": SHOWN}, request_id)
        return _read(body, features, price, interval), ""
    except DependencyError as exc:
        if exc.kind == "not_found":
            return None, "No past sales are available yet: no dataset version is committed."
        log.warning("request_id=%s no comparables: %s", request_id, exc)
        return None, "Comparable sales are unavailable right now; the estimate above stands."
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("request_id=%s unusable comparables: %r", request_id, exc)
        return None, "Comparable sales are unavailable right now; the estimate above stands."


def _read(
    body: dict[str, Any],
    features: dict[str, Any],
    price: float,
    interval: dict[str, float] | None,
) -> Nearby:
    statezip = str(body["statezip"])
    points = [(float(a), float(p)) for a, p in body["zip_points"]]
    chart = None
    if points:
        chart = charts.price_by_area(
            points,
            (float(features["sqft_living"]), price),
            statezip,
            (interval["low"], interval["high"]) if interval else None,
        )
    familiarity = body["familiarity"]
    return Nearby(
        dataset_version=str(body["dataset_version"]),
        statezip=statezip,
        sales=[s for s in body["comparables"] if isinstance(s, dict)],
        zip_sales=int(familiarity["zip_sales"]),
        chart=chart,
        few_similar=few_similar_reasons(familiarity, statezip),
    )


def few_similar_reasons(familiarity: dict[str, Any], statezip: str) -> list[str]:
    """Plain sentences saying why past sales say little about this house (none if they do)."""
    if not familiarity.get("few_similar"):
        return []
    reasons = []
    for item in familiarity.get("outside") or []:
        name = str(item["field"])
        label = LABELS.get(name, name)
        value, low, high = (_number(name, item[k]) for k in ("value", "low", "high"))
        if float(item["value"]) > float(item["high"]):
            reasons.append(f"{label} {value} is more than in any sale seen (at most {high}).")
        else:
            reasons.append(f"{label} {value} is less than in any sale seen (at least {low}).")
    similar = int(familiarity.get("similar_sales", 0))
    if int(familiarity.get("zip_sales", 0)) == 0:
        reasons.append(f"No sale in {statezip} has been seen.")
    elif not reasons or similar == 0:
        count = "No sale" if similar == 0 else f"Only {similar} sale{'s' if similar > 1 else ''}"
        share = float(familiarity.get("similar_share", 0.25))
        reasons.append(f"{count} in {statezip} within {share:.0%} of this living area.")
    return reasons


def _number(name: str, value: Any) -> str:
    """Areas grouped with units (13,540 sq ft); counts and years as written."""
    if name.startswith("sqft_"):
        return f"{float(value):,.0f} sq ft"
    return plain(value)
