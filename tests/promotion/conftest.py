"""Fixtures shared with the other tests that train model folders."""

from tests.support.model_folders import training_env  # noqa: F401
