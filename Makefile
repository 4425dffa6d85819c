# The two commands of the README: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
HOST ?= 127.0.0.1
PORT ?= 8000
# One test process per core (at most 4), a file's tests kept together in one process.
PYTEST_ARGS ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: run test lint bench-import bench-sheet bench-analytics worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMPS)/app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	@mkdir -p $(STAMPS) && touch $@ $(STAMPS)/app

## Run the app on SQLite with in-process tasks and the digits demo loaded.
run: $(STAMPS)/app
	@$(BIN)/python manage.py migrate --noinput --verbosity 0
	@$(BIN)/python manage.py load_demo
	@echo "Open http://$(HOST):$(PORT)/ and log in (Ctrl-C stops the server; LOG_LEVEL=INFO logs requests)."
	@$(BIN)/python manage.py runserver $(HOST):$(PORT)

## Install what the tests need (Python packages, Debian's Chromium) and run the whole suite.
test: $(STAMPS)/test
	@scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMPS)/test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

worker: $(STAMPS)/app
	$(BIN)/celery -A mlstrat worker --loglevel=info

clean:
	rm -rf $(VENV) $(STAMPS) db.sqlite3 media .test-media staticfiles
