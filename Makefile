# The commands a new user needs: `make run` and `make test` (both set everything up first), or
# `make install` to set up only (.venv with the package, Prefect and a CPU build of PyTorch).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	# torch first and pinned, so that no other package can pull a CUDA build.
	$(BIN)/pip install -qq torch==2.13.0
	$(BIN)/pip install -qq -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/lightrnn run

# Two workers, one test file at a time each (--dist loadfile keeps a file's module fixtures in
# one process): most of the suite waits on servers and subprocesses, not on the CPU.
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The fast tier, for every edit: unit tests (the layer contracts among them) and one tiny
# pipeline run; no S3 server, no slow cases, no docs examples. `make test` runs everything.
check: install
	$(BIN)/python -m pytest tests -m "smoke or not (slow or s3 or prefect)"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
