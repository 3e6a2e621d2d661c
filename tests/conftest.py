"""Shared fixtures: tiny hand-made exports and throwaway workspaces."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

from sikta.service.workspace import Workspace

# Property tests draw the same examples on every `make test`, so that CI judges the code and not
# the luck of the draw (a fuzzer's find once kept a whole session's work from landing). To hunt for
# new failures, draw fresh ones (`SIKTA_HYPOTHESIS=explore .venv/bin/pytest -k fuzz`, again and
# again) and add what it finds as an @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("SIKTA_HYPOTHESIS", "ci"))

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", help="also run the long variants of the probes (marker 'long')")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="a long probe: run with --long")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
SHARED_DATA = REPO.parent / "shared" / "data"


def write(folder: Path, name: str, text: str) -> Path:
    """Write a CSV (or any text) file from an indented literal."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace(tmp_path / "ws.duckdb")
    yield w
    w.close()


@pytest.fixture
def clean_exports(tmp_path: Path) -> Path:
    """A minimal valid export: a group with a company and a department, a single company."""
    d = tmp_path / "clean"
    d.mkdir()
    write(d, "accounts.csv", """
        account_id,name,parent_account_id,account_type,status,industry,employees
        G1,Group One,,group,customer,retail,1000
        C1,Company One,G1,company,customer,retail,200
        D1,C1 Finance,C1,department,customer,retail,20
        S1,Solo,,company,customer,software,15
        P1,Prospect,,company,prospect,software,40
    """)
    write(d, "orders.csv", """
        order_id,account_id,order_date,product_id,quantity,amount,cost,currency
        O1,C1,2025-01-05,P1,1,100,60,EUR
        O2,D1,2025-02-05,P1,2,50,20,EUR
        O3,S1,2025-03-01,P1,1,30,,EUR
        O4,S1,2025-03-09,P1,1,-10,,EUR
    """)
    return d


@pytest.fixture(scope="session")
def synthetic_3000(tmp_path_factory):
    """3,000 generated accounts (seed 5) ingested once for the tests that need planted truth."""
    from sikta.synth import generate

    d = tmp_path_factory.mktemp("synthetic_3000")
    generate(d / "data", accounts=3000, seed=5)
    w = Workspace(d / "ws.duckdb")
    w.ingest(d / "data")
    yield d, w
    w.close()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on a loopback port, started once per session and stopped after it."""
    from tests.pg_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    yield server.url
    server.stop()
