"""The API fixtures of tests/api, for the security tests that call the app."""

from tests.api.conftest import api, base_workspace  # noqa: F401 - fixtures
