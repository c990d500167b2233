# The two sacred commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements/lock.txt

.PHONY: run test install lock lint format bench screenshots clean

# The demo works at any hour: `make run` turns off the "outside working hours" approval rule
# unless you set it (the other four-eyes rules stay on). Production reads its own environment.
SWAP_APPROVAL_WORKING_HOURS ?=
run: export SWAP_APPROVAL_WORKING_HOURS := $(SWAP_APPROVAL_WORKING_HOURS)

# The pinned, hashed lock (runtime + dev extras) first, then the project itself without deps.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Regenerate the lock from pyproject.toml; keeps existing pins unless LOCK_ARGS=--upgrade.
LOCK_ARGS ?=
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command 'make lock' --quiet $(LOCK_ARGS) -o $(LOCK)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
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

# Issue 10's fixed screens at 390x844, committed in artifacts/screenshots/phone/.
screenshots: install
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q \
		tests/browser/test_phone_dead_end.py tests/browser/test_phone_search.py \
		tests/browser/test_phone_waiting.py tests/browser/test_phone_lost_session.py \
		tests/browser/test_phone_expiry.py tests/browser/test_countdown_announce.py \
		tests/browser/test_short_form.py tests/browser/test_label_input.py \
		tests/browser/test_offline_wait.py

clean:
	rm -rf var
	find artifacts -type f ! -path 'artifacts/screenshots/phone/*' -delete 2>/dev/null || true
