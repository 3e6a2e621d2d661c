"""Out-of-range input, methods and documented answers: the API keeps to its own contract."""

from __future__ import annotations

import pytest

from tests.api.conftest import SECOND_MODEL
from tests.api.test_auth import assert_error


@pytest.mark.parametrize(("role", "url"), [
    ("viewer", "/api/v1/accounts?offset=99999999999999999999"),  # past 64 bits: was a 500
    ("viewer", "/api/v1/accounts?offset=-1"),
    ("analyst", "/api/v1/analysis/pareto?as_of=0001-01-02"),  # a year before it does not exist: was a 500
    ("analyst", "/api/v1/analysis/pareto?as_of=9999-12-31"),  # overflowed date arithmetic: was a 500
    ("viewer", "/api/v1/accounts?limit=100000"),
    ("viewer", "/api/v1/runs/previous/diff/latest?limit=99999999999999999999"),
])
def test_out_of_range_queries_are_422_with_the_standard_body(api, role, url):
    error = assert_error(api.get(url, role), 422)
    assert error["type"] == "ValidationError"


@pytest.mark.parametrize("as_of", ["0001-01-02", "9999-12-31"])
def test_a_run_at_an_impossible_date_is_refused_before_it_is_queued(api, as_of):
    h = {**api.headers("analyst"), "Content-Type": "application/yaml"}
    r = api.client.post(f"/api/v1/runs?as_of={as_of}", headers=h, content=SECOND_MODEL)
    assert assert_error(r, 422)["type"] == "ValidationError"


def test_the_largest_offset_allowed_is_an_empty_page(api):
    body = api.get("/api/v1/accounts?offset=1000000000").json()
    assert body["rows"] == [] and body["total"] > 0
