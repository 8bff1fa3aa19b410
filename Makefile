# Verdict: the commands a developer and CI run. Everything goes through the project's own
# virtualenv, created on first use, so `make demo` works on a machine with only Python 3.11.
#
#   make demo            install, migrate, seed demo data (users, token, model), run the server
#                       on 127.0.0.1:$PORT (default 8000)
#   make install         only the virtualenv and the pinned requirements
#   make serve           the production web server: granian, one worker per core, each warmed
#                       before it takes traffic (settings from .env / the environment; WEB_WORKERS,
#                       WEB_THREADS); run migrate and collectstatic first
#   make test            the whole suite (browser tests skip themselves without /usr/bin/chromium);
#                       DATABASE_URL / REDIS_URL select PostgreSQL / Redis; ARGS="..." for pytest
#   make test-fast       without slow and browser tests
#   make test-e2e        the browser tests alone
#   make lint            ruff check + ruff format --check
#   make migrations-check   fails when a model change has no migration
#   make deploy-check    Django's deployment checks under production-like settings
#   make worker / beat   Celery on Redis (REDIS_URL in the environment or .env)
#   make mlflow-ui       the MLflow UI on the local model registry under var/
#   make bench           benchmarks: model scoring, rules, the decision API under load (PostgreSQL + Redis)
#   make bench-smoke     a 5-second load run that fails on errors (CI), not on timings
#   make soak            10 minutes at a steady rate: zero errors, flat memory and connections
#                       (PostgreSQL on 127.0.0.1; ARGS="--seconds 120 --rate 30" or "--smoke")

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Not taken from the environment, where HOST often names the machine; `make demo HOST=...` works.
HOST := 127.0.0.1
PORT ?= 8000
# Extra pytest arguments, e.g. `make test ARGS="-x tests/decisioning"`.
ARGS ?=

export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: help demo install serve test test-fast test-e2e lint migrations-check deploy-check worker beat mlflow-ui bench bench-smoke soak

help:
	@sed -n 's/^#   make /  make /p; s/^#                     /                     /p' $(firstword $(MAKEFILE_LIST))

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Verdict needs Python 3.11 or newer as '$(PYTHON)' (set PYTHON=...)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) \
		|| { echo "Could not create $(VENV); on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }

# Reinstall only when requirements.txt changed since the last successful install.
$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(STAMP)

# Development settings (DEBUG=true); never overwrites an existing .env.
.env:
	cp .env.example .env
	@echo "Created .env from .env.example (development settings)."

demo: $(STAMP) .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py runserver $(HOST):$(PORT)

serve: $(STAMP)
	$(VENV)/bin/granian --interface wsgi --host $(HOST) --port $(PORT) --no-ws --respawn-failed-workers \
		--workers $${WEB_WORKERS:-$$(nproc)} --blocking-threads $${WEB_THREADS:-4} --runtime-threads 1 \
		config.wsgi_warm:application

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not e2e" $(ARGS)

test-e2e: $(STAMP)
	$(PY) -m pytest -m e2e tests/e2e $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# DEBUG=true only so that settings import without a SECRET_KEY; models do not depend on it.
migrations-check: $(STAMP)
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

# Production-like: no DEBUG, a random 50+ character key, a real host name, no DATABASE_URL
# (SQLite default), and the security settings pinned so that a developer's .env cannot relax them.
deploy-check: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL \
		DEBUG=false \
		SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		ALLOWED_HOSTS=verdict.example \
		SESSION_COOKIE_SECURE=true CSRF_COOKIE_SECURE=true SECURE_SSL_REDIRECT=true \
		SECURE_HSTS_SECONDS=31536000 \
		$(PY) manage.py check --deploy --fail-level WARNING

define require_redis
	@[ -n "$${REDIS_URL:-}" ] || grep -Eq '^REDIS_URL=.+' .env 2>/dev/null \
		|| { echo "REDIS_URL is not set (environment or .env): without it Celery runs tasks eagerly in the web process and there is nothing for a $(1) to do." >&2; exit 2; }
endef

worker: $(STAMP)
	$(call require_redis,worker)
	$(PY) -m celery -A config worker --loglevel INFO

beat: $(STAMP)
	$(call require_redis,beat)
	$(PY) -m celery -A config beat --loglevel INFO --schedule var/celerybeat-schedule

# One worker: it is a local viewer, and each MLflow worker takes seconds to import on two cores.
mlflow-ui: $(STAMP)
	@mkdir -p var/mlartifacts
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///var/mlflow.db \
		--default-artifact-root var/mlartifacts --host 127.0.0.1 --port 5000 --workers 1

# Needs PostgreSQL and Redis on 127.0.0.1 (as .ci/run starts them); results in bench/out/.
bench: $(STAMP)
	$(PY) bench/bench_model.py
	$(PY) bench/bench_rules.py
	$(PY) bench/load.py

bench-smoke: $(STAMP)
	$(PY) bench/load.py --smoke

# Not in CI (10 minutes); report in var/bench/soak.{json,svg,md}, the kept one in docs/soak.md.
soak: $(STAMP)
	$(PY) bench/soak.py $(ARGS)
