# Two commands on a fresh machine (python3 and make present): `make demo`, `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SIKTA := $(VENV)/bin/sikta
DEMO := demo
DEMO_WS := $(DEMO)/sikta.duckdb

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy
# Bytecode is written once at setup: where PYTHONDONTWRITEBYTECODE is set (as on our CI machine) every
# process would otherwise recompile pandas, ibis and sikta from source (~2 s of each command's start-up).
export UV_COMPILE_BYTECODE := 1

.PHONY: setup demo test browser postgres java bench bench-s bench-m bench-api bench-balance bench-clv clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q -j 0 src >/dev/null
	touch $@

setup: $(VENV)/.synced

demo: setup
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(SIKTA) generate --accounts 5000 --seed 42 --dirty 0.01 --out $(DEMO)/data
	$(SIKTA) ingest $(DEMO)/data --workspace $(DEMO_WS)
	$(SIKTA) features --grain ultimate_parent --workspace $(DEMO_WS)
	$(SIKTA) features --grain department --workspace $(DEMO_WS)
	$(SIKTA) features --grain account --workspace $(DEMO_WS)
	$(SIKTA) status --workspace $(DEMO_WS)
	$(SIKTA) analyze --workspace $(DEMO_WS) --limit 5 --out $(DEMO)/analysis
	$(SIKTA) clv --workspace $(DEMO_WS) --calibration-end 2025-06-30 --limit 5 --out $(DEMO)/clv
	$(SIKTA) clv --contractual --by industry --workspace $(DEMO_WS)
	$(SIKTA) suggest --workspace $(DEMO_WS) --out $(DEMO)/model.yaml
	$(SIKTA) run --model $(DEMO)/model.yaml --workspace $(DEMO_WS)
	$(SIKTA) model init --out $(DEMO)/starter.yaml
	$(SIKTA) run --model $(DEMO)/starter.yaml --workspace $(DEMO_WS)
	$(SIKTA) diagnose --workspace $(DEMO_WS)
	$(SIKTA) diff previous latest --workspace $(DEMO_WS) --limit 5
	$(SIKTA) report --workspace $(DEMO_WS) --out $(DEMO)/report.html
	$(SIKTA) coverage --team examples/operate/team.csv --workspace $(DEMO_WS)
	$(SIKTA) balance --team examples/operate/team.csv --workspace $(DEMO_WS)
	$(SIKTA) kpis --workspace $(DEMO_WS)
	$(SIKTA) alerts --change downgrade --tier A --limit 5 --workspace $(DEMO_WS)
	$(SIKTA) actions --limit 8 --out $(DEMO)/actions.csv --workspace $(DEMO_WS)
	$(SIKTA) content --account A0000007 --catalog examples/operate/content.csv --workspace $(DEMO_WS)
	$(SIKTA) export --to salesforce --out $(DEMO)/exports/salesforce --workspace $(DEMO_WS)
	$(SIKTA) export --to hubspot --out $(DEMO)/exports/hubspot --workspace $(DEMO_WS)
	$(SIKTA) export --to csv --out $(DEMO)/exports/csv --workspace $(DEMO_WS)
	@echo
	@echo "Workspace: $(abspath $(DEMO_WS))   (try: $(SIKTA) quarantine --workspace $(DEMO_WS))"
	@echo "Report:    $(abspath $(DEMO)/report.html)   (open it in a browser; it works offline)"
	@echo "Exports:   $(abspath $(DEMO)/exports)   (Salesforce Data Loader, HubSpot import, CSV; actions in $(abspath $(DEMO)/actions.csv))"

# Debian's Chromium for the browser tests (tests/web/test_browser.py): apt-get when missing, quiet when present.
browser:
	@bash scripts/ensure_chromium.sh

# PostgreSQL's server binaries for the write-back tests (tests/pg_server.py starts a private server): apt-get when missing.
postgres:
	@bash scripts/ensure_postgres.sh

# A Java 17+ runtime for the Spark engine's parity test (tests/service/test_engine_spark.py): apt-get when missing.
java:
	@bash scripts/ensure_java.sh

test: setup browser postgres java
	$(VENV)/bin/python -m pytest

bench: bench-s bench-m

# The suite: every stage as a process with its peak memory, next to hand SQL and the pandas + lifetimes notebook
bench-s: setup
	$(VENV)/bin/python bench/run.py --size S

bench-m: setup
	$(VENV)/bin/python bench/run.py --size M

# REST latency at 1M accounts; wrk (Debian) is the load generator that leaves the server its cores
bench-api: setup
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(VENV)/bin/python bench/bench_api.py

# Book balancing at 100k accounts × 100 owners in 3 roles (target: under a minute)
bench-balance: setup
	$(VENV)/bin/python bench/bench_balance.py

# BG/NBD + Gamma-Gamma on 1M customers beside lifetimes, and the engine summaries on sizes S and M
bench-clv: setup
	$(VENV)/bin/python bench/bench_clv.py

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis bench/data
