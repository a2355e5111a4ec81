# Quick start: `make run` (set up and start the stack), `make test` (run the test suite).
# Setup is idempotent: the virtual environment is rebuilt only when a lock file changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q -q
# The suite mostly waits for servers it starts (Prefect, PostgreSQL, SMTP, HTTP): three
# pytest-xdist workers, each test file on one worker, run it in about 9 minutes on 2 cores
# instead of 24. `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 3

.PHONY: run stop test test-fast setup setup-test bench lock e2e chromium clean drill gpu-check golden

run: $(VENV)/.main.stamp
	$(BIN)/automation start
	$(BIN)/python examples/fedavg_graph.py --rounds 10
	$(BIN)/automation metrics collect --category system,application
	@echo
	@echo "Dashboard (Prefect UI): $$($(BIN)/automation dashboard)"
	@echo "Stop everything with: make stop"

stop:
	@test -x $(BIN)/automation && $(BIN)/automation stop || echo "not set up: nothing to stop"

test: $(VENV)/.test.stamp
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy neo_automation flows tasks blocks deployments
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m 'not e2e'
	# The browser check last, on its own: beside the suite's servers the UI missed its timeouts.
	$(BIN)/python -m pytest -m e2e tests/e2e

# Rewrite the golden outputs (what a user sees: reports, messages, summaries, the everyday
# commands, the fleet and scan artifacts) under tests/golden/; review `git diff tests/golden`
# before committing.
GOLDEN_TESTS := tests/core/reports/test_golden_reports.py tests/core/reports/test_collection_summary.py \
	tests/core/fleet/test_fleet_core.py tests/deployments/test_cli_golden.py \
	tests/flows/test_scan_artifacts_golden.py
golden: $(VENV)/.test.stamp
	UPDATE_GOLDEN=1 $(BIN)/python -m pytest -n 0 -q $(GOLDEN_TESTS)

# The tests that need no server and no subprocess (the core, tasks, blocks): under a minute.
test-fast: $(VENV)/.test.stamp
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow and not server and not e2e" \
		tests/core tests/tasks tests/blocks

setup: $(VENV)/.main.stamp
setup-test: $(VENV)/.test.stamp

$(VENV)/.%.stamp: requirements/%.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements/$*.lock
	$(PIP) install --no-deps -e .
	@touch $@

# The end-to-end check of the dashboard alone, in headless Chromium (Debian's package;
# Playwright cannot download a browser of its own here); `make test` runs it too when chromium
# is installed (.ci/run installs it). Screenshots go to e2e-artifacts/.
e2e: $(VENV)/.test.stamp chromium
	$(BIN)/python -m pytest -m e2e tests/e2e

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The fleet drill: PostgreSQL (installed from Debian when missing), a Prefect server on it, two
# worker hosts from their own clones, every job once, then the faults it is built for; prints
# expected vs observed and exits 0 only when every check passed (about 10 minutes on 2
# cores; DRILL_ARGS=--short for the faults only, --keep to keep logs and clones).
drill: $(VENV)/.test.stamp
	$(BIN)/python -m drill $(DRILL_ARGS)

bench: $(VENV)/.bench.stamp
	$(BIN)/python bench/store.py
	$(BIN)/python bench/monitor.py
	$(BIN)/python bench/collection.py
	-$(BIN)/python bench/changepoints.py  # exits 1 while a goal is missed; the rest still run
	$(BIN)/python bench/start.py
	$(BIN)/python bench/scan.py $(or $(SCAN_PATH),$(VENV)/lib/python3.11/site-packages/prefect)
	$(BIN)/python bench/loaded_collect.py
	$(BIN)/python bench/ingest.py

# On a machine with an NVIDIA GPU: the example training runs while the accelerator figures the
# product stores are printed beside `nvidia-smi` read in the same second. Without a GPU it
# says so in one line and exits 0.
gpu-check: $(VENV)/.main.stamp
	$(BIN)/python bench/gpu_check.py

# Regenerate the lock files after changing dependencies in pyproject.toml (needs uv).
lock:
	uv pip compile pyproject.toml --python-version 3.11 --python-platform linux --no-header -o requirements/main.lock
	uv pip compile pyproject.toml --extra test --python-version 3.11 --python-platform linux --no-header -o requirements/test.lock
	uv pip compile pyproject.toml --extra test --extra bench --python-version 3.11 --python-platform linux --no-header -o requirements/bench.lock

clean:
	rm -rf $(VENV) .pytest_cache
