"""Django settings, all read from the environment (see the configuration table in README.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("EVENTSCOPE_RUN_DIR", BASE_DIR / ".run"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _default_kafka_bootstrap() -> str:
    """The local broker of `make kafka` records the address it chose (9092 or a free port)."""
    recorded = Path(os.environ.get("EVENTSCOPE_KAFKA_DIR", RUN_DIR / "kafka")) / "bootstrap"
    if recorded.is_file():
        return recorded.read_text().strip()
    return "127.0.0.1:9092"


# ---------------------------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("EVENTSCOPE_REQUIRE_SECRET_KEY"):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set")
    # Development and tests: a per-run key keeps sessions working without committing a secret.
    key_file = RUN_DIR / "secret_key"
    try:
        SECRET_KEY = key_file.read_text().strip()
    except OSError:
        SECRET_KEY = secrets.token_urlsafe(50)
        try:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(SECRET_KEY)
            key_file.chmod(0o600)
        except OSError:
            pass  # read-only checkout: the key lives for this process only, sessions end with it

# Fernet keys for secrets at rest (cluster passwords), newest first; empty: derived from SECRET_KEY.
EVENTSCOPE_SECRETS_KEYS = env_list("EVENTSCOPE_SECRETS_KEYS", "")

ALLOWED_HOSTS = env_list("EVENTSCOPE_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("EVENTSCOPE_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_celery_beat",
    "eventscope",
    "governance",
    "catalog",
    "schemas",
    "lineage",
    "monitoring",
    "simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "eventscope.middleware.NulInPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "eventscope.middleware.LoginRequiredMiddleware",  # Django's, with optional anonymous read
    "governance.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "eventscope.urls"
WSGI_APPLICATION = "eventscope.wsgi.application"
ASGI_APPLICATION = "eventscope.asgi.application"

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
                "eventscope.context_processors.navigation",
            ],
        },
    },
]

# ---------------------------------------------------------------------------------------------
# Database: SQLite file by default, anything dj-database-url understands (PostgreSQL) otherwise
# ---------------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{RUN_DIR / 'eventscope.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat, indexer) share the file: WAL and a busy timeout keep
    # readers from blocking the writer and writers from failing at once on a lock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    RUN_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------------------------
# Auth: every page and API call needs a login (health and /metrics aside); writes need a role
# ---------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Django's LoginRequiredMiddleware guards every page; health, /metrics and login are marked
# @login_not_required, and DRF views answer 401/403 through their own authentication instead.

# Anonymous read: pages, the API and the registry answer GET without a login (writes always need one;
# the audit log and API tokens stay private). Off by default.
EVENTSCOPE_ANONYMOUS_READ = env_bool("EVENTSCOPE_ANONYMOUS_READ", False)
# Alert webhooks go to public addresses only: an editor must not make the server POST to itself, the cloud's
# metadata service or other hosts on its private network. Set true when the receiver is internal (a Mattermost
# or Slack relay inside the network).
EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE = env_bool("EVENTSCOPE_WEBHOOK_ALLOW_PRIVATE", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("EVENTSCOPE_SECURE_COOKIES", not DEBUG and bool(os.environ.get("DJANGO_SECRET_KEY")))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp): scripts only from our own static files or with the page's nonce
# (Plotly figures, the highlighter), nothing from elsewhere, no plugins, no framing. Inline styles stay
# allowed: Plotly positions its SVG with them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:", "blob:"],
        "font-src": [csp_constants.SELF, "data:"],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    }
}
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("EVENTSCOPE_MAX_REQUEST_BYTES", 5 * 1024 * 1024))
EVENTSCOPE_MAX_SCHEMA_BYTES = int(os.environ.get("EVENTSCOPE_MAX_SCHEMA_BYTES", 1024 * 1024))  # larger: 42209

# ---------------------------------------------------------------------------------------------
# I18N, static files
# ---------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Without collectstatic (development, tests) whitenoise serves straight from the app and project dirs.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}

# ---------------------------------------------------------------------------------------------
# REST API
# ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Basic first: its WWW-Authenticate header makes an anonymous call a 401, not a 403.
        # Basic takes a password or an API token (`user:token`); Bearer takes a token.
        "governance.authentication.BasicOrTokenAuthentication",
        "governance.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["eventscope.api.permissions.ReadAuthenticatedWriteEditor"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "eventscope.api.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "eventscope.api.parsers.JSONParser",
        "eventscope.api.parsers.FormParser",
        "eventscope.api.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Eventscope API",
    "DESCRIPTION": "Event catalog, schema registry, lineage, lag and tracing for Kafka-based systems.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name with another app's get their own component name.
    "ENUM_NAME_OVERRIDES": {
        "AlertRuleKindEnum": "monitoring.models.alerts.AlertRule.Kind",
        "ApiTokenScopeEnum": "governance.models.ApiToken.Scope",
    },
}

# ---------------------------------------------------------------------------------------------
# Celery (Redis broker) and beat schedules in the database
# ---------------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Failed-login counts live in Redis so that every web process sees them (governance.throttle).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "eventscope-throttle",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    },
}
# Login rate limiting: failures per user name and address, failures per address, and how long a block lasts.
EVENTSCOPE_LOGIN_MAX_FAILURES = int(os.environ.get("EVENTSCOPE_LOGIN_MAX_FAILURES", "5"))
EVENTSCOPE_LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("EVENTSCOPE_LOGIN_MAX_FAILURES_PER_ADDRESS", "50"))
EVENTSCOPE_LOGIN_BLOCK_SECONDS = int(os.environ.get("EVENTSCOPE_LOGIN_BLOCK_SECONDS", "900"))
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# Beat entries that every installation has; per-cluster schedules live in django-celery-beat's tables.
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "eventscope.heartbeat", "schedule": 30.0},
    # Trace index retention (each cluster's TracingSettings.retention_days), daily.
    "purge-trace-index": {"task": "monitoring.purge_trace_index", "schedule": 24 * 60 * 60.0},
    # Consumer lag samples: roll raw ones up to minutes, minutes to hours, drop the oldest (EVENTSCOPE_LAG_*).
    "lag-retention": {"task": "monitoring.lag_retention", "schedule": 10 * 60.0},
    # Alerts: evaluated after every lag poll; this is the fallback (no-data rules, webhook retries), every minute.
    "evaluate-alerts": {"task": "monitoring.evaluate_alerts", "schedule": 60.0},
    # Lineage edges (declared, discovered, observed) of every cluster, every 5 minutes.
    "refresh-lineage": {"task": "lineage.refresh_edges", "schedule": 5 * 60.0},
}
# Lineage's observed edges: how far apart a consume and the next produce of one chain may be, and after how
# long without traffic an observed edge turns stale.
LINEAGE_OBSERVED_WINDOW_S = float(os.environ.get("EVENTSCOPE_LINEAGE_OBSERVED_WINDOW_S", "300"))
LINEAGE_OBSERVED_STALE_AFTER_S = float(os.environ.get("EVENTSCOPE_LINEAGE_OBSERVED_STALE_AFTER_S", str(7 * 24 * 3600)))

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _default_kafka_bootstrap()
# Security of the default cluster (more clusters, each with its own settings, are rows in the database).
KAFKA_SECURITY_PROTOCOL = os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
KAFKA_SASL_MECHANISM = os.environ.get("KAFKA_SASL_MECHANISM") or None
KAFKA_SASL_USERNAME = os.environ.get("KAFKA_SASL_USERNAME") or None
KAFKA_SASL_PASSWORD = os.environ.get("KAFKA_SASL_PASSWORD") or None
KAFKA_SSL_CA_FILE = os.environ.get("KAFKA_SSL_CA_FILE") or None
# Mutual TLS: the client certificate and its (unencrypted) private key, PEM files.
KAFKA_SSL_CERT_FILE = os.environ.get("KAFKA_SSL_CERT_FILE") or None
KAFKA_SSL_KEY_FILE = os.environ.get("KAFKA_SSL_KEY_FILE") or None
KAFKA_SSL_VERIFY_HOSTNAME = env_bool("KAFKA_SSL_VERIFY_HOSTNAME", True)
# Every gateway call is bounded; a cluster that does not answer is an error, never a hang.
KAFKA_REQUEST_TIMEOUT_S = float(os.environ.get("EVENTSCOPE_KAFKA_TIMEOUT_S", "10"))

# ---------------------------------------------------------------------------------------------
# Consumer lag poller (monitoring.lag): one beat entry per cluster, samples kept raw, then rolled up
# ---------------------------------------------------------------------------------------------
EVENTSCOPE_LAG_POLL_INTERVAL_S = float(os.environ.get("EVENTSCOPE_LAG_POLL_INTERVAL_S", "15"))
EVENTSCOPE_LAG_RAW_RETENTION_H = float(os.environ.get("EVENTSCOPE_LAG_RAW_RETENTION_H", "24"))
EVENTSCOPE_LAG_MINUTE_RETENTION_D = float(os.environ.get("EVENTSCOPE_LAG_MINUTE_RETENTION_D", "7"))
EVENTSCOPE_LAG_HOUR_RETENTION_D = float(os.environ.get("EVENTSCOPE_LAG_HOUR_RETENTION_D", "90"))
# Samples per partition the status evaluation looks at, and how many in a row make a verdict.
EVENTSCOPE_LAG_WINDOW = int(os.environ.get("EVENTSCOPE_LAG_WINDOW", "10"))
EVENTSCOPE_LAG_MIN_SAMPLES = int(os.environ.get("EVENTSCOPE_LAG_MIN_SAMPLES", "5"))
# Exact time lag: read the record at the committed offset of at most this many lagging partitions per cycle.
EVENTSCOPE_LAG_EXACT_PARTITIONS = int(os.environ.get("EVENTSCOPE_LAG_EXACT_PARTITIONS", "20"))
# Alert notifications link to the subject's page: with this prefix (https://eventscope.example.com) the link
# is absolute; without it, a path.
EVENTSCOPE_BASE_URL = os.environ.get("EVENTSCOPE_BASE_URL", "").rstrip("/")

# ---------------------------------------------------------------------------------------------
# Logging: to stderr, where gunicorn, Celery and compose collect it
# ---------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": os.environ.get("EVENTSCOPE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},  # one INFO line per schema-registry request otherwise
        "httpx2": {"level": "WARNING"},
    },
}
