"""Test settings: the production module with test-only speed-ups. Whatever DATABASE_URL and
REDIS_URL say is honoured, so the same suite runs on SQLite/eager and on PostgreSQL/Redis."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("VERDICT_VAR_DIR", tempfile.mkdtemp(prefix="verdict-test-"))

from config.settings import *  # noqa: F403
from config.settings import DATABASES, REDIS_URL, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MLFLOW_TRACKING_URI = f"sqlite:///{VAR_DIR / 'mlflow.db'}"
MLFLOW_ARTIFACT_ROOT = str(VAR_DIR / "mlartifacts")
CELERY_TASK_ALWAYS_EAGER = True  # tests that need a real worker start one and say so
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"client": "100000/min"}}  # noqa: F405
if REDIS_URL:
    # Keep test keys apart from anything else on the same Redis.
    CACHES["default"]["KEY_PREFIX"] = f"verdict-test-{os.getpid()}"  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
