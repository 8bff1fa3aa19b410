"""Verdict settings: one module, driven by the environment, failing loudly on what is unsafe.

Every variable is listed in `.env.example`. The embedded default (no variables set but DEBUG)
runs on SQLite under `var/`, eager Celery and a local-memory cache, so a newcomer needs nothing
installed; production sets DATABASE_URL, REDIS_URL and SECRET_KEY.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent

# A local `.env` fills in what the real environment does not set (never overrides it).
load_dotenv(BASE_DIR / ".env", override=False)

VAR_DIR = Path(os.environ.get("VERDICT_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError as e:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from e


def env_str(name: str, default: str) -> str:
    """The variable, or `default` when it is unset or empty (as `.env.example` leaves them)."""
    return os.environ.get(name) or default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)


def _development_secret_key() -> str:
    # Generated once per checkout so sessions survive restarts of runserver in development.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY, or DEBUG=true for development."
        )
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "rules",
    "audit",
    "decisioning",
    "modeling",
    "reviews",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.CSPMiddleware",  # django-csp, its static header built once
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.login_throttle.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.navigation",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'verdict.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the demo server, a Celery eager task and a shell share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 3))
    # A stuck or overloaded database fails the statement (a 503 from the API, a retry in Celery)
    # instead of holding a request forever; 0 turns it off (docs/reliability.md).
    _statement_timeout_ms = env_int("DB_STATEMENT_TIMEOUT_MS", 30_000)
    if _statement_timeout_ms:
        DATABASES["default"]["OPTIONS"].setdefault("options", f"-c statement_timeout={_statement_timeout_ms}")
    # Django turns psycopg's prepared statements off (prepare_threshold None) for connection
    # poolers. Its own queries use client-side binding and are never prepared either way; a
    # threshold only lets the decision's INSERTs be prepared on request (`config.db.insert_new`).
    # DB_PREPARED_STATEMENTS=false behind a pooler that cannot keep them (PgBouncer < 1.21).
    if env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 1_000_000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "verdict",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: with no broker, tasks run eagerly in-process (the embedded default).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Monitoring (docs/monitoring.md): each window length runs a few minutes after its windows close
# (UTC-aligned); a missed or repeated run is harmless, a run recomputes its window idempotently.
CELERY_BEAT_SCHEDULE = {
    "monitoring-1h": {
        "task": "monitoring.tasks.run_monitoring",
        "schedule": crontab(minute=5),
        "kwargs": {"window": "1h"},
    },
    "monitoring-24h": {
        "task": "monitoring.tasks.run_monitoring",
        "schedule": crontab(minute=20, hour=0),
        "kwargs": {"window": "24h"},
    },
    # Work queued after commit while the broker was down (or lost with it) is not lost: these
    # sweeps find it from the database and queue it again (docs/reliability.md).
    "webhook-sweep": {"task": "reviews.webhook_sweep", "schedule": 60.0},
    "shadow-backfill": {"task": "modeling.shadow_backfill_open", "schedule": crontab(minute="*/10")},
}
MONITORING_LATENCY_SLO_P95_MS = env_int("MONITORING_LATENCY_SLO_P95_MS", 200)
MONITORING_LATENCY_SLO_P99_MS = env_int("MONITORING_LATENCY_SLO_P99_MS", 500)
MONITORING_OUTCOME_MATURITY_DAYS = env_int("MONITORING_OUTCOME_MATURITY_DAYS", 365)
MONITORING_OUTCOME_COHORT_DAYS = env_int("MONITORING_OUTCOME_COHORT_DAYS", 90)
# /metrics: with a token, `Authorization: Bearer <token>` is required; without one it is served
# only when DEBUG is on (a loopback check is unsafe behind a same-host proxy).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Batch rescoring runs on its own queue, so its workers (niced, one process) never delay other work.
CELERY_TASK_ROUTES = {"decisioning.batch_*": {"queue": "batches"}}

MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "") or f"sqlite:///{VAR_DIR / 'mlflow.db'}"
MLFLOW_ARTIFACT_ROOT = os.environ.get("MLFLOW_ARTIFACT_ROOT", "") or str(VAR_DIR / "mlartifacts")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# How often each process checks whether a model alias moved (a promotion); 0 disables.
MODEL_REFRESH_SECONDS = env_int("MODEL_REFRESH_SECONDS", 15)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# A static file missing from the manifest (collectstatic not re-run) must never turn a page into
# a 500: fall back to the unhashed name.
WHITENOISE_MANIFEST_STRICT = False

# Request bodies: a decision request is a few KB; refuse anything far larger before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 64 * 1024)
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 32 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["decisioning.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["decisioning.permissions_api.IsIntegrationClient"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["decisioning.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["decisioning.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"client": env_str("API_THROTTLE_RATE", "6000/min")},
    "EXCEPTION_HANDLER": "config.exception_handler.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Verdict decisioning API",
    "DESCRIPTION": (
        "Submit loan applications for a decision, read decisions, report loan outcomes.\n\n"
        "Authenticate with `Authorization: Token <api token>`. Errors are JSON "
        "`{code, message, errors}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiToken": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Token <api token>`",
            }
        }
    },
    "SECURITY": [{"ApiToken": []}],
}

# Security: production settings must pass `manage.py check --deploy`.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sign-in throttling (config/login_throttle.py): failures per username + address per window.
LOGIN_THROTTLE_FAILURES = env_int("LOGIN_THROTTLE_FAILURES", 5)
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 15 * 60)
# Content Security Policy (django-csp) on every response: scripts only from Verdict itself (the
# vendored htmx, the sidecar Swagger UI), never inline, except the one `window.print()` handler of
# the dossier, allowed by its hash. Inline *styles* stay allowed: the server-rendered SVG charts and
# Django's admin set style attributes, and styles cannot run code. docs/security.md explains it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-hashes'", "'sha256-MguIPR6qNR8D3B+eAlK+bIRTZe8t3wkOY4B/56Me9FU='"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Health probes come from the load balancer over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "verdict@localhost")

# Signals: the time budget for all third-party look-ups of one decision.
SIGNALS_TIME_BUDGET_MS = env_int("SIGNALS_TIME_BUDGET_MS", 800)
# Which provider answers each signal (JSON file, format in docs/signals.md). Unset: the four
# deterministic simulators, uncached. Validated when the registry is built (first decision, or
# `python -m decisioning.signals.check`); credentials come from the environment variables it names.
SIGNAL_PROVIDERS_FILE = os.environ.get("SIGNAL_PROVIDERS_FILE", "")
SIGNAL_PROVIDERS: dict = {}
if SIGNAL_PROVIDERS_FILE:
    import json

    try:
        SIGNAL_PROVIDERS = json.loads(Path(SIGNAL_PROVIDERS_FILE).read_text())
    except (OSError, ValueError) as e:
        raise ImproperlyConfigured(f"SIGNAL_PROVIDERS_FILE {SIGNAL_PROVIDERS_FILE!r} is not readable JSON: {e}") from e

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.middleware.RequestIdLogFilter"},
        # Every handler: no names, dates of birth, addresses or account numbers in logs.
        "redact_personal_data": {"()": "audit.redaction.RedactPersonalData"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "redact_personal_data"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Replaces Django's default handlers (incl. mail_admins, which would mail request bodies).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "mlflow": {"level": "WARNING"},
        "alembic": {"level": "WARNING"},
    },
}
