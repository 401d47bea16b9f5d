"""Django settings. Every value that differs between deployments comes from an environment
variable read through hikube_portal.env; .env.example lists them all with their defaults."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from hikube_portal import task_names
from hikube_portal.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
# Runtime files (SQLite database, file broker, collected static) live here, outside git.
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str(
    "SECRET_KEY",
    "django-insecure-development-only-key" if DEBUG else None,
    hint="Set it to a long random string in production; for development set DEBUG=1, which uses a built-in key.",
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "vms",
    "monitoring",
]

MIDDLEWARE = [
    # First, so it times and counts every answer, the other middlewares' refusals included.
    "hikube_portal.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: turns a refused login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hikube_portal.urls"
WSGI_APPLICATION = "hikube_portal.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Plain inputs drawn in Python, the rest from Django's widget templates (hikube_portal/form_renderer.py).
FORM_RENDERER = "hikube_portal.form_renderer.QuickRenderer"

DATABASES = {
    "default": dj_database_url.parse(
        env_url(
            "DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}", schemes=("sqlite", "postgres", "postgresql")
        ),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # `make run` serves web, worker and beat from one SQLite file. A deferred transaction that
    # reads then writes cannot wait for another writer ("database is locked" at once): take the
    # write lock when the transaction begins instead, wait for it, and let readers go on (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_float("SQLITE_BUSY_TIMEOUT_SECONDS", 20.0, minimum=0.1),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # A page's queries are the same few thousands of times an hour: PostgreSQL plans each once a
    # connection (psycopg prepares a query from its second run) instead of on every run. Off
    # behind a pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 2}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Single sign-on with the platform's OpenID Connect provider (vms.web.oidc) ---
# The issuer (or its discovery document's URL), e.g. https://keycloak.example.org/realms/cozy.
OIDC_PROVIDER_URL = env_str("OIDC_PROVIDER_URL", "")
SSO_ENABLED = bool(OIDC_PROVIDER_URL)
if SSO_ENABLED:
    env_url("OIDC_PROVIDER_URL", "", schemes=("https", "http"))
    if OIDC_PROVIDER_URL.startswith("http://") and not DEBUG and not env_bool("OIDC_ALLOW_HTTP", False):
        raise ImproperlyConfigured("OIDC_PROVIDER_URL must use https (OIDC_ALLOW_HTTP=1 for a provider on loopback).")
_SSO_HINT = "OIDC_PROVIDER_URL is set: the portal's client at the provider is needed."
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID", None if SSO_ENABLED else "", hint=_SSO_HINT)
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", None if SSO_ENABLED else "", hint=_SSO_HINT)
OIDC_RP_SIGN_ALGO = env_choice("OIDC_SIGN_ALGO", "RS256", choices=("RS256", "RS384", "RS512", "ES256", "ES384"))
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile groups")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_APPROVER_GROUPS = env_list("OIDC_APPROVER_GROUPS", [])
OIDC_ADMIN_GROUPS = env_list("OIDC_ADMIN_GROUPS", [])
OIDC_CREATE_TEAMS = env_bool("OIDC_CREATE_TEAMS", False)
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT_SECONDS", 10.0, minimum=0.5)
# Authorization code flow with PKCE, state and nonce; the ID token is kept for the provider's
# logout (its id_token_hint).
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_callback"
# Local accounts (username and password): the only way in without SSO; with it, only for
# break-glass administrators, and only when this says so.
LOCAL_LOGIN = {"auto": not SSO_ENABLED, "1": True, "0": False}[
    env_choice("LOCAL_LOGIN", "auto", choices=("auto", "1", "0"))
]
AUTHENTICATION_BACKENDS = [
    # First: refuses any login attempt, right password or not, while its username and address are locked out.
    "axes.backends.AxesStandaloneBackend",
    *(["vms.web.oidc.OidcBackend"] if SSO_ENABLED else []),
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_LOGIN else []),
]
# Failed logins (django-axes): this many failures for one username from one address lock that
# pair out for LOGIN_LOCKOUT_MINUTES. The pair, not the username alone, so that a stranger
# cannot lock a colleague out by mistyping their name; a success clears the count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "hikube_portal.views.login_locked_out"
# Lock-outs are still logged; no start-up banner on every manage.py command.
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files browsers ask for at the site's root whatever the page links (favicon.ico, Apple's touch
# icons): WhiteNoise serves them there, so no page logs a 404.
WHITENOISE_ROOT = BASE_DIR / "webroot"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Redis carries the Celery queues and the cache in production. Without it (the embedded
# default of `make run`) Celery uses kombu's filesystem transport, which needs no server
# yet still runs a real worker in its own process.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    env_url("REDIS_URL", REDIS_URL, schemes=("redis", "rediss"))
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CACHES = {"default": {"BACKEND": "hikube_portal.redis_cache.SharedClientRedisCache", "LOCATION": REDIS_URL}}
    # What one process caches (the catalogue, vms.catalogue.loading) another can invalidate.
    CACHE_SHARED_BY_PROCESSES = True
else:
    BROKER_DIR = VAR_DIR / "broker"
    for folder in ("queue", "control", "processed"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CACHE_SHARED_BY_PROCESSES = False

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only once it finished, and re-queued if its worker dies, so a
# provisioning request survives a killed worker; tasks are written to be run twice safely.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Hikube GPU Portal <noreply@localhost>")

# The Kubernetes API of the Cozystack cluster. Empty kubeconfig = in-cluster service account.
CLUSTER_KUBECONFIG = env_str("CLUSTER_KUBECONFIG", "")
CLUSTER_CONTEXT = env_str("CLUSTER_CONTEXT", "")
CLUSTER_API_SHAPE = env_choice("CLUSTER_API_SHAPE", "current", choices=("current", "legacy"))
CLUSTER_TIMEOUT_SECONDS = env_float("CLUSTER_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# On a real cluster Cozystack creates each tenant's namespace; `make run` turns this on so teams
# added while the development cluster runs get theirs when their first VM is provisioned.
CLUSTER_CREATE_NAMESPACES = env_bool("CLUSTER_CREATE_NAMESPACES", False)
# Secondary networks (Multus/Kube-OVN) multi-GPU VMs may join, e.g. an InfiniBand/RoCE fabric.
CLUSTER_HPC_NETWORKS = env_list("CLUSTER_HPC_NETWORKS", ["gpu-interconnect"])

# Free GPUs come from the team's tenant-quota and from the nodes' allocatable GPUs. Reading
# nodes takes a cluster-scoped permission a tenant-scoped portal may lack: "auto" tries, and
# after a 403 warns once and asks again only an hour later; "true" asks every status sync and
# logs a 403 as an error (once an hour); "false" never asks.
CLUSTER_READ_NODES = env_choice("CLUSTER_READ_NODES", "auto", choices=("auto", "true", "false"))

PROMETHEUS_URL = env_str("PROMETHEUS_URL", "")
if PROMETHEUS_URL:
    env_url("PROMETHEUS_URL", PROMETHEUS_URL, schemes=("http", "https"))
# The whole budget of one Prometheus call, retries included: what a page waits at most.
PROMETHEUS_TIMEOUT_SECONDS = env_float("PROMETHEUS_TIMEOUT_SECONDS", 5.0, minimum=0.1)
PROMETHEUS_RETRIES = env_int("PROMETHEUS_RETRIES", 2, minimum=0, maximum=10)
PROMETHEUS_BEARER_TOKEN = env_str("PROMETHEUS_BEARER_TOKEN", "")
PROMETHEUS_USERNAME = env_str("PROMETHEUS_USERNAME", "")
PROMETHEUS_PASSWORD = env_str("PROMETHEUS_PASSWORD", "")
PROMETHEUS_SCRAPE_INTERVAL_SECONDS = env_int("PROMETHEUS_SCRAPE_INTERVAL_SECONDS", 30, minimum=1)
# Labels the scrape configuration puts on every in-guest DCGM series, from Kubernetes metadata.
MONITORING_NAMESPACE_LABEL = env_str("MONITORING_NAMESPACE_LABEL", "namespace")
MONITORING_VM_LABEL = env_str("MONITORING_VM_LABEL", "vm")
MONITORING_EXPORTER_JOB = env_str("MONITORING_EXPORTER_JOB", "dcgm-exporter")

HEALTH_CHECK_TIMEOUT_SECONDS = env_float("HEALTH_CHECK_TIMEOUT_SECONDS", 2.0, minimum=0.1)
# /healthz answers anyone with the overall status only; its details (versions, hosts, errors) go
# to staff and to callers sending "Authorization: Bearer <HEALTHZ_TOKEN>". Empty = staff only.
HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN", "")

# The portal's own metrics (hikube_portal/metrics.py). /metrics answers callers sending
# "Authorization: Bearer <METRICS_TOKEN>"; with no token set, only local callers (loopback,
# and not through a reverse proxy: the Prometheus of `make run`). Celery workers answer
# scrapes themselves on METRICS_WORKER_PORT (0 = not at all), bound to METRICS_WORKER_ADDRESS:
# keep it on loopback unless a network rule (the chart's NetworkPolicy) limits who reaches it.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 0, minimum=0, maximum=65535)
METRICS_WORKER_ADDRESS = env_str("METRICS_WORKER_ADDRESS", "127.0.0.1")
# PROMETHEUS_MULTIPROC_DIR is not a setting: prometheus_client reads it when first imported,
# which may come before this module (hikube_portal/metrics.py).
# A web process runs the checks at most once per this many seconds and answers from that result
# meanwhile, so a hanging dependency cannot hold every worker; 0 = every request checks.
HEALTH_CACHE_SECONDS = env_float("HEALTH_CACHE_SECONDS", 5.0, minimum=0.0, maximum=300.0)

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# X-Forwarded-Proto says whether the browser used HTTPS only when a proxy in front sets it and
# strips what clients send: trusted without one, any client could claim HTTPS.
TRUST_PROXY_SSL_HEADER = env_bool("TRUST_PROXY_SSL_HEADER", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_PROXY_SSL_HEADER else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": task_names.RECORD_WORKER_HEARTBEAT, "schedule": 30.0},
}
# The health endpoint calls the worker stale when its heartbeat is older than this.
HEALTH_WORKER_STALE_SECONDS = env_int("HEALTH_WORKER_STALE_SECONDS", 120, minimum=1)

# Idle-GPU policy (monitoring.tasks.check_idle_gpus): a running VM whose GPUs averaged below the
# threshold over the last WARN_AFTER hours gets a warning (email, banner, audit event); with
# STOP_AFTER > 0 it is stopped (disks kept) that many hours after the warning if still idle.
IDLE_GPU_THRESHOLD_PERCENT = env_float("IDLE_GPU_THRESHOLD_PERCENT", 5.0, minimum=0.0, maximum=100.0)
IDLE_GPU_WARN_AFTER_HOURS = env_int("IDLE_GPU_WARN_AFTER_HOURS", 24, minimum=1, maximum=24 * 31)
IDLE_GPU_STOP_AFTER_HOURS = env_int("IDLE_GPU_STOP_AFTER_HOURS", 0, minimum=0)
IDLE_GPU_CHECK_INTERVAL_SECONDS = env_int("IDLE_GPU_CHECK_INTERVAL_SECONDS", 3600, minimum=60)
CELERY_BEAT_SCHEDULE["idle-gpu-check"] = {
    "task": task_names.CHECK_IDLE_GPUS,
    "schedule": float(IDLE_GPU_CHECK_INTERVAL_SECONDS),
}

# The fleet view's and the approver queue's GPU figures (monitoring.fleet): computed for every
# running VM this often, their Prometheus queries given this long together; pages call them
# pending once three periods went by without a success.
FLEET_FIGURES_INTERVAL_SECONDS = env_int("FLEET_FIGURES_INTERVAL_SECONDS", 300, minimum=30)
FLEET_FIGURES_BUDGET_SECONDS = env_float("FLEET_FIGURES_BUDGET_SECONDS", 60.0, minimum=1.0)
CELERY_BEAT_SCHEDULE["fleet-figures"] = {
    "task": task_names.REFRESH_FLEET_FIGURES,
    "schedule": float(FLEET_FIGURES_INTERVAL_SECONDS),
    # A pass nobody picked up in time is superseded by the next one.
    "options": {"expires": float(FLEET_FIGURES_INTERVAL_SECONDS)},
}

# Provisioning and status sync (vms.cluster.tasks, vms.cluster.sync). A task that fails in a way worth retrying
# tries again after an exponential, jittered delay (base × 2^attempt, capped) for as long as
# CLUSTER_RETRY_FOR_SECONDS after its first attempt, then fails the VM with the cluster's words:
# a time budget, not a count, so that an API server down for minutes fails no VM. One attempt
# waits at most CLUSTER_WAIT_SECONDS for the cluster (disks to appear, objects to go away).
CLUSTER_RETRY_FOR_SECONDS = env_float("CLUSTER_RETRY_FOR_SECONDS", 900.0, minimum=0.0)
CLUSTER_RETRY_BASE_SECONDS = env_float("CLUSTER_RETRY_BASE_SECONDS", 2.0, minimum=0.01)
CLUSTER_RETRY_MAX_SECONDS = env_float("CLUSTER_RETRY_MAX_SECONDS", 60.0, minimum=0.01)
CLUSTER_WAIT_SECONDS = env_float("CLUSTER_WAIT_SECONDS", 120.0, minimum=1.0)
# The sync enqueues a VM's work again when no task touched it for this long and the cluster
# still disagrees with the portal (a task lost with its worker or with Redis). Keep it above
# CLUSTER_WAIT_SECONDS and CLUSTER_RETRY_MAX_SECONDS, or healthy tasks get duplicated (harmlessly).
CLUSTER_WORK_STALE_SECONDS = env_float("CLUSTER_WORK_STALE_SECONDS", 300.0, minimum=1.0)
CLUSTER_SYNC_INTERVAL_SECONDS = env_float("CLUSTER_SYNC_INTERVAL_SECONDS", 10.0, minimum=1.0)
# A stop, start, resize or deletion the cluster has not confirmed after this long is shown as
# such on the VM's page, with the cluster's last words and a retry.
CLUSTER_CONFIRM_DEADLINE_SECONDS = env_float("CLUSTER_CONFIRM_DEADLINE_SECONDS", 600.0, minimum=1.0)
# What the sync does with a running VM whose objects vanished from the cluster: "fail" marks it
# failed (its owner may retry, which re-creates it); "recreate" re-creates it at once.
CLUSTER_DRIFT_POLICY = env_choice("CLUSTER_DRIFT_POLICY", "fail", choices=("fail", "recreate"))
CELERY_BEAT_SCHEDULE["cluster-sync"] = {
    "task": task_names.SYNC_CLUSTER,
    "schedule": CLUSTER_SYNC_INTERVAL_SECONDS,
    # A cycle nobody picked up in time is superseded by the next one.
    "options": {"expires": CLUSTER_SYNC_INTERVAL_SECONDS},
}

# The task modules live in layered sub-packages, where Celery's autodiscovery (`<app>.tasks`)
# does not look; monitoring.tasks it finds.
CELERY_IMPORTS = ["vms.cluster.tasks", "vms.governance.tasks"]
# Absolute address of the portal, for the links in emails.
PORTAL_URL = env_str("PORTAL_URL", "http://127.0.0.1:8000")
# This many new requests arriving together make one digest email instead of one each.
APPROVAL_DIGEST_THRESHOLD = env_int("APPROVAL_DIGEST_THRESHOLD", 3, minimum=2)
APPROVAL_REMINDER_HOURS = env_int("APPROVAL_REMINDER_HOURS", 24, minimum=1)
# Requests for GPU models that need approval must say when the GPUs come back.
LEASE_REQUIRED_FOR_APPROVAL = env_bool("LEASE_REQUIRED_FOR_APPROVAL", True)
LEASE_MAX_DAYS = env_int("LEASE_MAX_DAYS", 30, minimum=1)
LEASE_REMINDER_HOURS = env_int("LEASE_REMINDER_HOURS", 24, minimum=1)
GOVERNANCE_INTERVAL_SECONDS = env_float("GOVERNANCE_INTERVAL_SECONDS", 60.0, minimum=1.0)
CELERY_BEAT_SCHEDULE.update(
    {
        "advance-waitlist": {"task": task_names.ADVANCE_WAITLIST, "schedule": GOVERNANCE_INTERVAL_SECONDS},
        "notify-approvers": {"task": task_names.NOTIFY_APPROVERS, "schedule": GOVERNANCE_INTERVAL_SECONDS},
        "remind-approvers": {"task": task_names.REMIND_APPROVERS, "schedule": 3600.0},
        "check-leases": {"task": task_names.CHECK_LEASES, "schedule": GOVERNANCE_INTERVAL_SECONDS},
    }
)

# --- REST API (vms.api): JSON only, personal tokens or the session, one error shape ---
# Calls per token, or per signed-in user on the session.
API_RATE_LIMIT = env_rate("API_RATE_LIMIT", "600/minute")
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365, minimum=1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["vms.api.auth.TokenAuthentication", "vms.api.auth.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["vms.api.auth.TokenScope"],
    "DEFAULT_THROTTLE_CLASSES": ["vms.api.auth.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": API_RATE_LIMIT},
    # No browsable API: every answer, errors included, is JSON.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "vms.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "vms.api.schema.ApiSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hikube GPU Portal API",
    "DESCRIPTION": "GPU virtual machines on Hikube: the catalogue, your VMs, their GPUs, and approvals.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"VmStateEnum": "vms.states.State"},
}
