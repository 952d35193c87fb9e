"""Data job tests write raw files and run the job at once: no settle wait unless a test asks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from houseprice.settings import Settings


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(**overrides: str) -> Settings:
        return make_settings(**{"SETTLE_SECONDS": "0", **overrides})

    return build
