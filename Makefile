# Makefile verbs of enforcement-triage.  `make demo` and `make test` set up
# everything they need themselves, from nothing but Python 3.11.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# uv from PATH, or a private copy bootstrapped with pip when there is none.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.uv/bin/uv)
export TRIAGE_HOME ?= $(CURDIR)/.triage
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: setup demo test test-fast bench lint format mlflow-ui clean

# uv installs the locked stack in seconds where pip takes minutes.  When it is
# missing it goes into a private venv, so the user's Python stays untouched.
$(CURDIR)/.uv/bin/uv:
	@echo "uv not found: installing it with pip into .uv/"
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet "uv==0.13.8"

$(BIN)/triage: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --compile-bytecode --python $(PYTHON) --all-extras
	@touch $@

setup: $(BIN)/triage

demo: setup
	@$(BIN)/python -m training.demo

# Lint first: a style or type error fails in a minute, before the suite runs; the
# slowest tests are listed at the end, to keep the suite inside CI's 15 minutes.
test: lint
	@.ci/system-deps
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

test-fast: setup
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow"

bench: setup
	$(BIN)/python -m benchmarks

# mypy on two worker processes: a fresh clone has no cache, and one process took
# 87 s of CI's time where two take 59 s.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --num-workers 2

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri "sqlite:///$(TRIAGE_HOME)/mlflow.db" \
		--default-artifact-root "$(TRIAGE_HOME)/mlartifacts" --host 127.0.0.1 --port 5000

clean:
	rm -rf $(VENV) .uv .pytest_cache .ruff_cache .mypy_cache
