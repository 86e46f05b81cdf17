# Two commands on a fresh machine with only Python 3.11+:
#   make demo   set up .venv and run the main job on the embedded SQLite default
#   make test   set up the dev tools and run lint, types and the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "playbook needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

# The demo: validate the sample playbooks, then run a sales team's quarter on
# an embedded SQLite file: import ~300 generated project deals with their
# history, sweep the 1-15-30 escalations, and report the KPIs against the
# playbook's targets (a table here, and a self-contained HTML report).
DEMO     := out/demo
DEMO_DB  := sqlite:///$(DEMO)/demo.db
DEMO_NOW := 2026-11-20T18:00:00+08:00
DEMO_PB  := playbooks/b2b-project-sales.yaml

demo: $(VENV)/.installed
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

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -q

test: lint typecheck pytest

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
