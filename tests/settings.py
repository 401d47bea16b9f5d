"""Settings for the test suite: the production settings, with test defaults for what the
environment does not set. `make test` points DATABASE_URL and REDIS_URL at real servers."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hikube_portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECURE_COOKIES", "0")

from hikube_portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
ALLOWED_HOSTS = ["*"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
# Each health test sets up its own failure: none may be answered from another test's report.
HEALTH_CACHE_SECONDS = 0
