# The two sacred commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint format bench clean

# The demo works at any hour: `make run` turns off the "outside working hours" approval rule
# unless you set it (the other four-eyes rules stay on). Production reads its own environment.
SWAP_APPROVAL_WORKING_HOURS ?=
run: export SWAP_APPROVAL_WORKING_HOURS := $(SWAP_APPROVAL_WORKING_HOURS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: install
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE= $(BIN)/pytest -p no:django tests/oceanconnect
	$(BIN)/pytest --ignore=tests/oceanconnect $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python benchmarks/platform_burst.py

clean:
	rm -rf var artifacts
