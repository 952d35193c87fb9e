"""Small helpers shared by the web app's tests."""

from __future__ import annotations

import re
from pathlib import Path

from houseprice.settings import Settings
from tests.support.servers import free_port

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "page has no CSRF token"
    return found.group(1)


def closed_url() -> str:
    """A 127.0.0.1 URL nothing listens on: connections are refused for real."""
    return f"http://127.0.0.1:{free_port()}"


def webapp_settings(tmp: Path, **overrides: str) -> Settings:
    return Settings.from_env(
        {"HOUSEPRICE_DATA_DIR": str(tmp / "data"), "SECRET_KEY": "test-secret", **overrides}
    )
