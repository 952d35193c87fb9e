"""Template filters: how prices, numbers and timestamps read on the pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from webapp.forms import number_text


def money(value: Any) -> str:
    """$1,234,567 for a price; prices are estimates, so cents would be false precision."""
    try:
        return f"${float(value):,.0f}"
    except (TypeError, ValueError):
        return "—"


def percent(value: Any, digits: int = 0) -> str:
    """0.8 as "80 %", 0.1234 with digits=1 as "12.3 %" (a no-break space: never "80" then "%")."""
    try:
        return f"{float(value) * 100:.{digits}f}\u00a0%"
    except (TypeError, ValueError):
        return "—"


def grouped(value: Any) -> str:
    """2,430 for an area; "—" when there is no number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def plain(value: Any) -> str:
    """3 rather than 3.0, 2.25 as is; text unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    return number_text(value)


def when(value: Any) -> str:
    """A stored timestamp as 'YYYY-MM-DD HH:MM UTC' (dbapp stores UTC)."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)[:32]
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def when_unix(value: Any) -> str:
    """Unix seconds (as MLflow records them) as 'YYYY-MM-DD HH:MM UTC'."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "—"
    if seconds <= 0:
        return "—"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
