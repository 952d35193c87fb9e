"""Session and CSRF cookies: Secure when the request came over HTTPS (PROXY_HOPS proxies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseprice.settings import Settings
from webapp.app import create_app


def _cookie_on_form(tmp_path: Path, hops: str, headers: dict[str, str]) -> str:
    settings = Settings.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path), "PROXY_HOPS": hops})
    client = create_app(settings).test_client()
    response = client.get("/", headers=headers)  # the predict form: sets the CSRF session
    assert response.status_code == 200
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1, cookies
    return cookies[0]


@pytest.mark.parametrize(
    ("hops", "headers", "secure"),
    [
        ("1", {"X-Forwarded-Proto": "https"}, True),
        ("1", {"X-Forwarded-Proto": "http"}, False),
        ("1", {}, False),
        # No proxy trusted: a client claiming HTTPS in a header is not believed.
        ("0", {"X-Forwarded-Proto": "https"}, False),
    ],
)
def test_session_cookie_is_secure_exactly_over_https(tmp_path, hops, headers, secure) -> None:
    cookie = _cookie_on_form(tmp_path, hops, headers)
    assert cookie.startswith("session=")
    assert ("; Secure" in cookie) is secure
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
