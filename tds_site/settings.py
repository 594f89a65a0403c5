"""Django settings for TDS Core, all read from the environment (or ``.env``).

A bad value stops start-up with one line naming the variable (see ``tds_site.config``).
"""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import csp.constants as csp

from tds_site.config import (
    ENVIRONMENTS,
    ConfigError,
    Reader,
    RetryPolicy,
    database_settings,
    pool_limits,
    read_dotenv,
)
from tds_site.timings import worker_timings

BASE_DIR = Path(__file__).resolve().parent.parent


def _load() -> dict:
    read_dotenv(BASE_DIR)
    read = Reader()
    s: dict = {}

    s["APP_NAME"] = read.str("APP_NAME", "TDS_Core")
    env = read.choice("ENV", "development", ENVIRONMENTS)
    s["ENV"] = env
    production = env == "production"
    s["DEBUG"] = False if production else read.bool("DEBUG", env == "development")

    secret = read.raw("SECRET_KEY")
    if secret is None:
        if production:
            raise ConfigError("SECRET_KEY: must be set when ENV=production")
        secret = "insecure-development-key-" + "0" * 40  # never used outside dev and tests
    elif production and len(secret) < 50:
        raise ConfigError("SECRET_KEY: must be at least 50 characters in production")
    s["SECRET_KEY"] = secret

    s["API_HOST"] = read.str("API_HOST", "127.0.0.1")
    s["API_PORT"] = read.int("API_PORT", 8001, minimum=1)
    s["API_WORKERS"] = read.int("API_WORKERS", 2, minimum=1)
    s["ALLOWED_HOSTS"] = read.str_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
    s["TRUSTED_PROXIES"] = frozenset(read.str_list("TRUSTED_PROXIES", ""))
    # Behind nginx at /tds/ the proxy strips the prefix; the URLs the app builds (admin,
    # redirects, static files) must put it back.
    prefix = read.str("FORCE_SCRIPT_NAME").rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ConfigError(f"FORCE_SCRIPT_NAME: {prefix!r} must start with / (e.g. /tds)")
    s["FORCE_SCRIPT_NAME"] = prefix or None
    s["STATIC_ROOT"] = Path(read.str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

    use_pool = os.environ.get("TDS_DB_POOL") == "1"
    s["DATABASES"] = {"default": database_settings(read, BASE_DIR, use_pool)}
    # Behind PgBouncer in transaction pooling no session state may outlive a transaction.
    s["DATABASE_PGBOUNCER"] = read.bool("DATABASE_PGBOUNCER", False)
    # The webhook path's own asynchronous pool (inbox.asgi), sized as Django's.
    s["DATABASE_POOL_LIMITS"] = pool_limits(read)

    s["WORKER_CONCURRENCY"] = read.int("WORKER_CONCURRENCY", 2, minimum=1)
    s["WORKER_BATCH_SIZE"] = read.int("WORKER_BATCH_SIZE", 10, minimum=1)
    s["WORKER_POLL_INTERVAL"] = float(read.decimal("WORKER_POLL_INTERVAL", "5"))
    s["RETRY_POLICY"] = RetryPolicy(
        max_attempts=read.int("RETRY_MAX_ATTEMPTS", 3, minimum=1),
        delays=tuple(read.int_list("RETRY_DELAYS", "60,300,900")),
    )
    s["STUCK_EVENT_SECONDS"] = float(read.decimal("STUCK_EVENT_MINUTES", "15")) * 60
    s["MONITORING_INTERVAL"] = read.int("MONITORING_INTERVAL", 300, minimum=1)

    s["ZOHO_WEBHOOK_SECRETS"] = tuple(read.str_list("ZOHO_WEBHOOK_SECRETS"))
    s["WEBHOOK_TOKEN"] = read.raw("WEBHOOK_TOKEN")
    s["WEBHOOK_ALLOW_UNSIGNED"] = read.bool("WEBHOOK_ALLOW_UNSIGNED", False)
    if production and s["WEBHOOK_ALLOW_UNSIGNED"]:
        raise ConfigError("WEBHOOK_ALLOW_UNSIGNED: must not be true when ENV=production")
    s["WEBHOOK_MAX_BODY_BYTES"] = read.int("WEBHOOK_MAX_BODY_BYTES", 1048576, minimum=1)
    s["WEBHOOK_RATE_LIMIT"] = read.rate("WEBHOOK_RATE_LIMIT", "100/s")

    s["REDIS_URL"] = read.url("REDIS_URL")
    s["SENTRY_DSN"] = read.url("SENTRY_DSN")
    s["ALERT_EMAIL_ENABLED"] = read.bool("ALERT_EMAIL_ENABLED", False)
    s["ALERT_SLACK_ENABLED"] = read.bool("ALERT_SLACK_ENABLED", False)
    s["ALERT_SLACK_WEBHOOK_URL"] = read.url("ALERT_SLACK_WEBHOOK_URL")
    s["ALERT_EMAIL_TO"] = read.str_list("ALERT_EMAIL_TO")
    s["EMAIL_URL"] = read.url("EMAIL_URL")
    s["INBOX_RETENTION_DAYS"] = read.int("INBOX_RETENTION_DAYS", 7, minimum=1)
    s["LOG_RETENTION_DAYS"] = read.int("LOG_RETENTION_DAYS", 90, minimum=1)
    s["LEDGER_RETENTION_DAYS"] = read.int("LEDGER_RETENTION_DAYS", 365, minimum=1)
    s["ALERT_PENDING_WARNING"] = read.int("ALERT_PENDING_WARNING", 500)
    s["ALERT_PENDING_CRITICAL"] = read.int("ALERT_PENDING_CRITICAL", 1000)
    s["ALERT_DLQ_WARNING"] = read.int("ALERT_DLQ_WARNING", 50)
    s["ALERT_DLQ_CRITICAL"] = read.int("ALERT_DLQ_CRITICAL", 100)
    s["ALERT_FAILURE_RATE_WARNING"] = read.decimal("ALERT_FAILURE_RATE_WARNING", "0.05", "1")
    s["ALERT_FAILURE_RATE_CRITICAL"] = read.decimal("ALERT_FAILURE_RATE_CRITICAL", "0.10", "1")
    s["METRICS_ALLOWED_IPS"] = frozenset(read.str_list("METRICS_ALLOWED_IPS"))
    # alerts: how long the oldest pending entry may wait, and the sender of alert e-mail.
    s["ALERT_OLDEST_PENDING_WARNING_SECONDS"] = read.int(
        "ALERT_OLDEST_PENDING_WARNING_SECONDS", 600, minimum=1
    )
    s["ALERT_OLDEST_PENDING_CRITICAL_SECONDS"] = read.int(
        "ALERT_OLDEST_PENDING_CRITICAL_SECONDS", 1800, minimum=1
    )
    s["ALERT_EMAIL_FROM"] = read.str("ALERT_EMAIL_FROM", "tds-core@localhost")

    s["ZOHO_API_BASE_URL"] = read.url("ZOHO_API_BASE_URL") or "https://www.zohoapis.com"
    s["ZOHO_ACCOUNTS_URL"] = read.url("ZOHO_ACCOUNTS_URL") or "https://accounts.zoho.com"
    for name in ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN"):
        s[name] = read.raw(name)
    s["ZOHO_ORGANIZATION_ID"] = read.raw("ZOHO_ORGANIZATION_ID")
    # Zoho Books API calls per UTC day that reconciliation and tds_import may spend together.
    s["ZOHO_API_DAILY_BUDGET"] = read.int("ZOHO_API_DAILY_BUDGET", 2000, minimum=1)
    return s


try:
    globals().update(_load())
except ConfigError as error:
    # One line on stderr naming the variable, then stop: no traceback to dig through.
    sys.stderr.write(f"TDS Core configuration error: {error}\n")
    raise SystemExit(2) from None


def _email_secrets(url: str | None) -> tuple[str, ...]:
    """The SMTP password of EMAIL_URL, raw and as written (percent-encoded), for redaction."""
    from urllib.parse import unquote, urlsplit

    password = urlsplit(url).password if url else None
    return (password, unquote(password)) if password else ()


# Secrets the log filter scrubs from every record (see tds_site.logging).
SECRET_VALUES = tuple(
    value
    for value in (
        *ZOHO_WEBHOOK_SECRETS,  # noqa: F821 - set by _load() above
        WEBHOOK_TOKEN,  # noqa: F821
        SECRET_KEY,  # noqa: F821
        DATABASES["default"].get("PASSWORD"),  # noqa: F821
        ZOHO_CLIENT_SECRET,  # noqa: F821
        ZOHO_REFRESH_TOKEN,  # noqa: F821
        ALERT_SLACK_WEBHOOK_URL,  # noqa: F821 - the URL itself is the Slack credential
        *_email_secrets(EMAIL_URL),  # noqa: F821
        SENTRY_DSN,  # noqa: F821 - its key is a credential too
    )
    if value and len(value) >= 6
)

if SENTRY_DSN:  # noqa: F821
    from tds_site.sentry import start_sentry

    start_sentry(SENTRY_DSN, ENV)  # noqa: F821

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",  # admin login brute-force lockout (AXES_* below)
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "tds_site",  # its migrations: the database cache's table
    # TDS Core: the data flows inbox -> syncqueue -> entities; reconciliation queues what
    # the webhooks missed; alerts watch them all (docs/architecture.md).
    # syncqueue comes before django_q so that its `qcluster` (django-q2's, plus the
    # worker heartbeat and the safety-net poll) is the one manage.py runs.
    "inbox",
    "reconciliation",
    "syncqueue",
    "entities",
    "records",
    "alerts",
    "metrics",  # shows the figures (/metrics, /dashboard/metrics, the admin's front page)
    "django_q",
]

MIDDLEWARE = [
    "tds_site.middleware.RequestIdMiddleware",
    "tds_site.request_guard.RejectUnusableUrlMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# What /webhooks/ runs through (tds_site.handlers): a request id and the HTTPS rules.
WEBHOOK_MIDDLEWARE = [
    "tds_site.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
]

ROOT_URLCONF = "tds_site.urls"
WSGI_APPLICATION = "tds_site.wsgi.application"
APPEND_SLASH = False

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
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Absolute when there is a prefix: Django caches a relative STATIC_URL with whatever script
# prefix the first access saw, which at start-up is none.
STATIC_URL = f"{FORCE_SCRIPT_NAME}/static/" if FORCE_SCRIPT_NAME else "static/"  # noqa: F821
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if ENV == "production"  # noqa: F821
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = ENV != "production"  # noqa: F821

# Webhook bodies are checked against WEBHOOK_MAX_BODY_BYTES by the view itself (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES  # noqa: F821

if REDIS_URL:  # noqa: F821
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,  # noqa: F821
            # An unreachable Redis must cost a webhook milliseconds, not the request timeout.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    # Shared by every API process through the database: the rate limit holds across them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "tds_cache",
        }
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "tds_site.parsers.JsonBodyParser",
        # An empty POST from any client (a form, curl -X POST, a test client) stays valid.
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "TDS Core API",
    "DESCRIPTION": "Zoho webhook ingestion and the operator dashboard of TDS Core.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The document and its UI are for operators: staff sessions or tokens, like the dashboard.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tds_site.openapi.document_bad_request",
    ],
}

# django-q2: the database is the broker unless REDIS_URL is set. A drain task claims
# entries under a lease; the task timeout stays inside that lease and django-q2's
# re-delivery (`retry`) comes after the timeout, so a re-delivered task never finds an
# entry that the first run still holds (tds_site.timings).
_timings = worker_timings(STUCK_EVENT_SECONDS)  # noqa: F821
DRAIN_TASK_SECONDS = _timings.drain_seconds
Q_CLUSTER = {
    "name": "tds_core",
    "workers": WORKER_CONCURRENCY,  # noqa: F821
    "timeout": _timings.task_timeout,
    "retry": _timings.task_retry,
    "max_attempts": 1,
    "queue_limit": WORKER_CONCURRENCY * 2,  # noqa: F821
    "save_limit": 200,
    # Never recycle workers: django-q2 does not replace one that recycles while the cluster
    # stops, and with every worker gone the pusher blocks on the full task queue for good
    # (the stop then waits for systemd's KILL). Memory is bounded by the unit's MemoryMax.
    "recycle": 2**31 - 1,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.1,
    "label": "Task queue (django-q2)",
}
if REDIS_URL:  # noqa: F821
    Q_CLUSTER["redis"] = REDIS_URL  # noqa: F821
else:
    Q_CLUSTER["orm"] = "default"

# Admin logins: five wrong passwords for one username from one address lock that pair out
# for 15 minutes (429), even with the right password; other addresses can still log in.
# The address is the client's as the rate limit sees it (TRUSTED_PROXIES).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "tds_site.addresses.client_address"
AXES_RESET_ON_SUCCESS = True
# Failures are what matter; a row per successful login would only grow.
AXES_DISABLE_ACCESS_LOG = True
# Not a line at every start of every command (the watchdog starts one a minute); lockouts
# are still logged.
AXES_VERBOSE = False

# Content-Security-Policy of every page but the webhooks (JSON only, WEBHOOK_MIDDLEWARE):
# scripts and styles from this site only. The one inline block left, Swagger UI's <style>,
# carries the request's nonce; the admin's SVG chart and Swagger UI's icons need data: images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF, csp.NONCE],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}

# Security: production is hardened so that `check --deploy` is clean.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if ENV == "production":  # noqa: F821
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # request.path includes FORCE_SCRIPT_NAME, so local probes of /health need it too.
    _prefix = re.escape(FORCE_SCRIPT_NAME.lstrip("/")) + "/" if FORCE_SCRIPT_NAME else ""  # noqa: F821
    SECURE_REDIRECT_EXEMPT = [rf"^{_prefix}health$", rf"^{_prefix}metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "tds_site.logging.RequestIdFilter"},
    },
    "formatters": {"json": {"()": "tds_site.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django-q": {"level": "WARNING"},
        # httpx logs every request URL at INFO; the Slack webhook URL is a credential.
        "httpx": {"level": "WARNING"},
    },
}
