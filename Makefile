# The two commands README.md promises: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test screenshots install lint messages clean

# Reinstall whenever the pinned dependencies change.
$(INSTALLED): pyproject.toml cli/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet ".[test]" ./cli
	touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DEBUG=1 $(BIN)/python manage.py seed_demo --prometheus-data var/prometheus
	SSO=$(SSO) DEBUG=1 $(BIN)/python scripts/dev_procfile.py
	$(BIN)/honcho --procfile var/Procfile --env var/run.env --app-root . start

test: $(INSTALLED)
	$(BIN)/python scripts/with_test_services.py -- sh -c '$(MAKE) --no-print-directory lint && $(BIN)/pytest'

# README's screenshots: the browser tests that take them also write docs/screenshots/.
screenshots: $(INSTALLED)
	$(BIN)/python scripts/with_test_services.py -- env SCREENSHOTS=1 $(BIN)/pytest tests/browser

# Style, formatting, and the import contracts of pyproject.toml (the layers of docs/architecture.md).
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports

# Refresh the French catalogue after changing user-facing strings (needs GNU gettext).
messages: $(INSTALLED)
	DEBUG=1 $(BIN)/python manage.py makemessages -l fr --ignore=.venv --ignore=tests --ignore=var
	DEBUG=1 $(BIN)/python manage.py compilemessages -l fr --ignore=.venv

clean:
	rm -rf $(VENV) var test-artifacts
