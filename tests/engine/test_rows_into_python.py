"""Aggregate in the engine: no stage hands order lines to Python.

Every way a result reaches Python on the DuckDB backend (Ibis's execute / to_pyarrow, the Store's raw record
queries) is watched while features, the whole analysis, CLV, schemes and a run are computed on data with 40 order
lines per account. The largest result must be of the size of the units (one row per account, or per account and
product line), never of the order lines.
"""

from __future__ import annotations

import pytest

from sikta.engine.store import Store
from sikta.service.model import starter_model_text
from sikta.service.workspace import Workspace


@pytest.fixture(scope="module")
def lines_heavy(tmp_path_factory):
    from sikta.synth import generate

    d = tmp_path_factory.mktemp("rows")
    generate(d / "data", accounts=1000, seed=4, lines_per_account=30, years=2)
    ws = Workspace(d / "ws.duckdb")
    ws.ingest(d / "data")
    yield d, ws
    ws.close()


def _caller() -> str:
    """The innermost Sikta function that asked (for the failure message)."""
    import traceback

    frames = [f for f in traceback.extract_stack()[:-2] if "/sikta/" in f.filename and "/tests/" not in f.filename
              and not f.filename.endswith("engine/store.py")]
    return f"{frames[-1].filename.rsplit('/sikta/', 1)[1]}:{frames[-1].lineno}" if frames else "?"


def _watch(monkeypatch) -> list[tuple[int, str, str]]:
    import ibis.backends.duckdb as bd

    seen: list[tuple[int, str]] = []

    def wrap(name: str, rows_of):
        original = getattr(bd.Backend, name)

        def watched(self, *a, **k):
            out = original(self, *a, **k)
            try:
                seen.append((rows_of(out), name, _caller()))
            except TypeError:  # a scalar
                seen.append((1, name, ""))
            return out

        monkeypatch.setattr(bd.Backend, name, watched)

    wrap("execute", len)
    wrap("to_pyarrow", lambda t: t.num_rows if hasattr(t, "num_rows") else len(t))
    original_records = Store.records

    def records(self, *a, **k):
        out = original_records(self, *a, **k)
        seen.append((len(out), "records", _caller()))
        return out

    monkeypatch.setattr(Store, "records", records)
    return seen


def test_no_stage_fetches_order_lines(lines_heavy, monkeypatch):
    d, ws = lines_heavy
    order_lines = ws.store.count(ws.store.table("orders"))
    units = ws.store.count(ws.store.table("accounts"))
    assert order_lines >= 25 * units  # the data make the difference visible
    seen = _watch(monkeypatch)
    ws.store.frame(ws.store.table("orders").select("order_id"))  # the hooks see a fetch of the order lines ...
    assert max(seen)[0] == order_lines
    seen.clear()  # ... and none of the stages below may make one
    ws.features("account", window_months=24)
    a = ws.analyze(grain="account")
    for part in ("pareto", "flow", "outflow", "whitespace", "reactivation", "best"):
        getattr(a, part)()
    ws.clv("account")
    (d / "model.yaml").write_text(starter_model_text())
    ws.run(d / "model.yaml")
    monkeypatch.undo()
    lines = len(ws.feature_lines("account"))
    assert seen, "nothing was watched: the hooks no longer see the backend"
    biggest = max(seen)
    # per unit and product line at most (whitespace); the order lines are about 30 per unit
    assert biggest[0] <= units * lines, (biggest, units, lines, order_lines)
    assert biggest[0] < order_lines / 4, biggest
