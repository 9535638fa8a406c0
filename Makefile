# Appointly: `make run` serves the app with demo data; `make test` runs lint and the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DJANGO_DEBUG ?= true

.PHONY: install run serve test pytest lint format migrations-check bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Appointly needs Python 3.12 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# Web, Celery worker and beat together (honcho), on the embedded default: SQLite, a filesystem
# broker and console email, unless DATABASE_URL / CELERY_BROKER_URL / EMAIL_URL say otherwise.
run: install
	@[ -f .env ] || { cp .env.example .env; echo "Created .env from .env.example (local development settings)."; }
	DJANGO_DEBUG=$(DJANGO_DEBUG) $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$(DJANGO_DEBUG) $(BIN)/python manage.py seed_demo
	DJANGO_DEBUG=$(DJANGO_DEBUG) $(BIN)/honcho -f Procfile.dev start

test: lint migrations-check pytest

pytest: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations-check: install
	DJANGO_SETTINGS_MODULE=appointly.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

bench: install
	$(BIN)/python benchmarks/slots.py --write
	$(BIN)/python benchmarks/booking.py --write
	$(BIN)/python benchmarks/queue.py --write
	$(BIN)/python benchmarks/polling.py --write

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
