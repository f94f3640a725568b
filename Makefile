# Two commands: `make run` and `make test`. Everything lives in .venv; nothing is installed globally.
SHELL := /bin/bash
VENV := .venv
VPY := $(VENV)/bin/python
PORT ?= 8000
# The first interpreter that is Python 3.12 or newer (Django 6 needs it).
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3 python; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	echo $$p; break; fi; done)

.PHONY: run admin test test-postgres lint bench clean

$(VENV)/.created:
	@if [ -z "$(PYTHON)" ]; then \
		echo "Aegis IAM needs Python 3.12 or newer (Django 6), and none was found on PATH."; \
		echo "Install Python 3.12+ (or set PYTHON=/path/to/python3.12) and run make again."; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created requirements.txt
	$(VPY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(VPY) -m pip install --quiet -r requirements-dev.txt
	touch $@

var/secret_key:
	@mkdir -p var
	@$(VPY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	@chmod 600 $@

run: $(VENV)/.installed var/secret_key
	@export SECRET_KEY="$$(cat var/secret_key)"; \
	$(VPY) manage.py migrate --noinput && \
	$(VPY) manage.py createcachetable && \
	$(VPY) manage.py ensure_demo_user && \
	exec $(VPY) manage.py runportal --port $(PORT)

# An operator account (superuser) for the portal and the Django admin; the settings read var/secret_key.
admin: $(VENV)/.installed var/secret_key
	$(VPY) manage.py migrate --noinput && $(VPY) manage.py createsuperuser

test: $(VENV)/.installed-dev
	AEGIS_DEMO_STEP_MS=$${AEGIS_DEMO_STEP_MS:-60} $(VPY) -m pytest

test-postgres: $(VENV)/.installed-dev
	AEGIS_DEMO_STEP_MS=$${AEGIS_DEMO_STEP_MS:-60} DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(VPY) -m pytest

# The type checker's paths: the whole project. Its options are in pyproject.toml.
TYPED := audits aegis_site bench tests

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(TYPED)

clean:
	rm -rf $(VENV) var staticfiles
