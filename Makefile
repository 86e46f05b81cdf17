# Two commands on a fresh machine with only Python 3.11+:
#   make demo   set up .venv and run the main job on the embedded SQLite default
#   make test   set up the dev tools and run lint, types, layers and the whole suite
#
# Every install takes the exact versions of uv.lock (uv sync --locked): a new
# release of a dependency cannot change what a fresh machine runs. `make lock`
# refreshes the lock on purpose; `make lock-check` (part of `make test`) fails
# when pyproject.toml and uv.lock disagree. uv itself lives in .venv-tools so
# that an exact sync of .venv never removes the tool doing the syncing.
PYTHON     ?= python3
UV_VERSION := 0.13.8
VENV       := .venv
BIN        := $(VENV)/bin
TOOLS      := .venv-tools
UV         := $(TOOLS)/bin/uv

# uv installs into .venv with the machine's Python, never a downloaded one.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint typecheck layers pytest bench fuzz fuzz-api clean lock lock-check \
        sync sync-dev sync-bench serve openapi screenshots

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "playbook needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# The runtime dependencies only; --inexact keeps dev tools a `make test` put there.
sync: $(UV)
	@$(UV) sync -q --locked --inexact --python $(PYTHON)

sync-dev: $(UV)
	@$(UV) sync -q --locked --extra dev --python $(PYTHON)

sync-bench: $(UV)
	@$(UV) sync -q --locked --extra dev --extra bench --python $(PYTHON)

lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

lock-check: $(UV)
	$(UV) lock --check --python $(PYTHON)

# The demo: validate the sample playbooks, then run a sales team's quarter on
# an embedded SQLite file: import ~300 generated project deals with their
# history, sweep the 1-15-30 escalations, and report the KPIs against the
# playbook's targets (a table here, and a self-contained HTML report).
DEMO     := out/demo
DEMO_DB  := sqlite:///$(DEMO)/demo.db
DEMO_NOW := 2026-11-20T18:00:00+08:00
DEMO_PB  := playbooks/b2b-project-sales.yaml
SERVE_PORT ?= 8000

demo: sync
	$(BIN)/playbook validate playbooks/ --strict --summary
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/python examples/demo/generate.py $(DEMO)/deals.csv
	$(BIN)/playbook db init --db $(DEMO_DB)
	$(BIN)/playbook deals import $(DEMO)/deals.csv --playbook $(DEMO_PB) \
	    --mapping examples/demo/mapping.yaml --db $(DEMO_DB) --now $(DEMO_NOW)
	$(BIN)/playbook sweep --playbook $(DEMO_PB) --db $(DEMO_DB) --now $(DEMO_NOW) --show 5
	$(BIN)/playbook kpi --playbook $(DEMO_PB) --db $(DEMO_DB) --period 2026-Q4 --by team \
	    --now $(DEMO_NOW)
	$(BIN)/playbook kpi --playbook $(DEMO_PB) --db $(DEMO_DB) --period 2026-Q4 --by owner \
	    --now $(DEMO_NOW) --format html --output $(DEMO)/kpi-report.html
	@echo "KPI report written to $(DEMO)/kpi-report.html"
	@echo "Open the web workspace on this database: make serve, then http://127.0.0.1:$(SERVE_PORT)/"
	@echo "  sign in as rep 李娜 with li.na@example.com and the API token make serve prints"

# The web workspace and the JSON API on the demo database: the demo's people
# (examples/demo/people.yaml) with their roles, a token for one rep printed once
# (it signs her in to the workspace, and signs API requests), and the server on
# http://127.0.0.1:8000/ (workspace) and /api/v1 (API) until Ctrl-C.

serve: sync
	@test -f $(DEMO)/demo.db || { echo "run make demo first"; exit 2; }
	$(BIN)/playbook people import examples/demo/people.yaml --db $(DEMO_DB)
	@echo "API token of 李娜 (sales_rep), shown once:"
	@$(BIN)/playbook tokens create 李娜 --expires 1 --db $(DEMO_DB)
	@echo "Workspace: http://127.0.0.1:$(SERVE_PORT)/ (sign in with li.na@example.com and this token)"
	$(BIN)/playbook serve --db $(DEMO_DB) --playbooks playbooks --port $(SERVE_PORT)

# The README's screenshots of the workspace (docs/img/workspace-*.png): Playwright
# drives the Debian chromium against `playbook serve` on the demo database.
screenshots: sync-dev
	@test -f $(DEMO)/demo.db || { echo "run make demo first"; exit 2; }
	$(BIN)/python scripts/screenshots.py --db $(DEMO_DB) --out docs/img

# docs/openapi.json is the document `playbook serve` serves (a test compares them).
openapi: sync
	$(BIN)/python -c "import json, sys; from playbook.web.app import openapi_document; \
	    sys.stdout.write(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + '\n')" \
	    > docs/openapi.json

lint: sync-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: sync-dev
	$(BIN)/mypy

# Layers only point down (contracts in .importlinter).
layers: sync-dev
	$(BIN)/lint-imports --no-cache

pytest: sync-dev
	$(BIN)/pytest -q

test: lock-check lint typecheck layers pytest

bench: sync-bench
	$(BIN)/python bench/run_all.py

# The long fuzz run (tests/fuzz/run.py): FUZZ_INPUTS generated inputs through
# the loader and as many through the condition language, on 2 processes;
# crashing inputs go to out/fuzz/. `pytest` runs a short deterministic slice.
FUZZ_INPUTS ?= 1000000

fuzz: sync-dev
	$(BIN)/python tests/fuzz/run.py --target all --inputs $(FUZZ_INPUTS)

# The long schemathesis run over every operation of the API (a real server on
# SQLite); `pytest` runs 10 examples per operation.
FUZZ_API_EXAMPLES ?= 300

fuzz-api: sync-dev
	PLAYBOOK_FUZZ_EXAMPLES=$(FUZZ_API_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider \
	    tests/integration/test_api_schemathesis.py

clean:
	rm -rf $(VENV) $(TOOLS) build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
