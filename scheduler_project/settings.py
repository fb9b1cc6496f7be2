"""Settings for the works schedule, read from the environment.

Development defaults are safe for a laptop (SQLite, in-memory channel layer, DEBUG on). With
``DEBUG=0`` the secret key and allowed hosts must come from the environment, and the security
settings that ``manage.py check --deploy`` looks for are on.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_weekdays(name: str, default: str) -> tuple[int, ...]:
    """ISO weekday numbers (1 = Monday … 7 = Sunday) from a list of numbers and ranges: "1-5",
    "1-6", "1,2,3,4,5,6", "1-3,5"."""
    value = os.environ.get(name, "").strip() or default
    days: set[int] = set()
    for item in value.replace(" ", "").split(","):
        first, _dash, last = item.partition("-")
        if not (first.isdigit() and (last.isdigit() or not _dash)):
            raise ImproperlyConfigured(f"{name}: {item!r} is not a weekday number or range (1-7).")
        low, high = int(first), int(last or first)
        if not 1 <= low <= high <= 7:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a weekday number or range (1-7).")
        days.update(range(low, high + 1))
    return tuple(sorted(days))


DEBUG = env_bool("DEBUG", True)

# Public: `make run` refuses to serve it beyond loopback (demo.data.demo_exposure).
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "schedule",
    "monthly",
    "daily",
    "progress",
    "realtime",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session's: it follows the session cookie that middleware sets or deletes.
    "scheduler_project.pwa.OfflineUserMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "realtime.middleware.ActorMiddleware",
    "realtime.middleware.SnapshotMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scheduler_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.csp",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "scheduler_project.context_processors.realtime_client",
            ],
        },
    },
]

WSGI_APPLICATION = "scheduler_project.wsgi.application"
ASGI_APPLICATION = "scheduler_project.asgi.application"

# HTTP requests run on a fixed pool of HTTP_THREADS threads per server process
# (scheduler_project/http.py); each keeps its database connection for DB_CONN_MAX_AGE seconds
# where there is no pool (SQLite: opening the file and setting it up cost about 1 ms a request).
# PostgreSQL's pool (below) needs DB_CONN_MAX_AGE 0.
HTTP_THREADS = int(os.environ.get("HTTP_THREADS", "8"))
# Request bodies are read before authentication (scheduler_project/http.py): one must arrive
# whole within HTTP_BODY_TIMEOUT_SECONDS (else 408), and the bodies a process holds at once may
# add up to HTTP_BODY_BUFFER_MAX_BYTES, one client's to its share of it (else 503 with
# Retry-After; 0: no cap, no shares).
HTTP_BODY_TIMEOUT_SECONDS = float(os.environ.get("HTTP_BODY_TIMEOUT_SECONDS", "30"))
HTTP_BODY_BUFFER_MAX_BYTES = int(os.environ.get("HTTP_BODY_BUFFER_MAX_BYTES", str(32 * 2**20)))
# A schedule workbook uploaded for import (schedule/imports.py) may be this large; it may unpack
# to SPREADSHEET_IMPORT_MAX_UNCOMPRESSED_BYTES (a zip bomb is refused before it is unpacked).
# A multipart/form-data body to the import's page, from a user with its permissions, may be as
# large as the first plus a margin (scheduler_project/http.py, allows_uploads).
SPREADSHEET_IMPORT_MAX_BYTES = int(os.environ.get("SPREADSHEET_IMPORT_MAX_BYTES", str(10 * 2**20)))
SPREADSHEET_IMPORT_MAX_UNCOMPRESSED_BYTES = int(
    os.environ.get("SPREADSHEET_IMPORT_MAX_UNCOMPRESSED_BYTES", str(100 * 2**20))
)
# Its first sheet may hold values in this many rows and columns (headings and titles included);
# a value beyond refuses the file where the reader meets it (docs/excel.md).
SPREADSHEET_IMPORT_MAX_ROWS = int(os.environ.get("SPREADSHEET_IMPORT_MAX_ROWS", "30000"))
SPREADSHEET_IMPORT_MAX_COLUMNS = int(os.environ.get("SPREADSHEET_IMPORT_MAX_COLUMNS", "100"))
# An import's apply writes at most this many tasks and monthly plans: other writers wait while
# it writes them (about 50 microseconds each, docs/excel.md), so this bounds their wait.
SPREADSHEET_IMPORT_MAX_WRITES = int(os.environ.get("SPREADSHEET_IMPORT_MAX_WRITES", "30000"))
# A preview is kept on the server (schedule.models.ImportPlan) for its apply this many seconds;
# a user keeps at most SPREADSHEET_IMPORT_PLANS_PER_USER of them (the oldest go first).
SPREADSHEET_IMPORT_PLAN_MAX_AGE_SECONDS = int(
    os.environ.get("SPREADSHEET_IMPORT_PLAN_MAX_AGE_SECONDS", "3600")
)
SPREADSHEET_IMPORT_PLANS_PER_USER = int(os.environ.get("SPREADSHEET_IMPORT_PLANS_PER_USER", "5"))
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=0,
        conn_health_checks=True,
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = int(
    os.environ.get(
        "DB_CONN_MAX_AGE",
        "0" if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else "600",
    )
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL connections come from a pool of at most DB_POOL_MAX_SIZE per process (0: no
    # pool), so processes x DB_POOL_MAX_SIZE bounds what the site opens; a request that finds
    # them all busy waits DB_POOL_TIMEOUT seconds, then fails. Connections above
    # DB_POOL_MIN_SIZE close after ten idle minutes (psycopg_pool's max_idle).
    pool_max_size = int(os.environ.get("DB_POOL_MAX_SIZE", "10"))
    if pool_max_size:
        if DATABASES["default"]["CONN_MAX_AGE"] != 0:
            raise ImproperlyConfigured(
                "DB_CONN_MAX_AGE must be 0 with the connection pool (DB_POOL_MAX_SIZE=0 turns "
                "the pool off)."
            )
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(int(os.environ.get("DB_POOL_MIN_SIZE", "2")), pool_max_size),
            "max_size": pool_max_size,
            "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "10")),
        }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets pages read while another process writes; IMMEDIATE makes write transactions
    # take the lock up front instead of failing with "database is locked" on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Bells are small and repaired from the event log when dropped, but a burst of
            # writes should not overflow a socket's channel: room for 5,000 (default 100).
            # redis-py 8 reads with a 5 s socket timeout by default, as long as the layer's
            # blocking BZPOPMIN waits (channels_redis#422): an idle receive then fails. Reads
            # wait 15 s, so a Redis that stops answering is still noticed.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 5000,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 5000},
        }
    }

# Real time (/api/ws).
REALTIME_MAX_FRAME_BYTES = int(os.environ.get("REALTIME_MAX_FRAME_BYTES", str(64 * 1024)))
REALTIME_RATE_LIMIT_PER_SECOND = float(os.environ.get("REALTIME_RATE_LIMIT_PER_SECOND", "20"))
REALTIME_RATE_LIMIT_BURST = int(os.environ.get("REALTIME_RATE_LIMIT_BURST", "60"))
REALTIME_LOG_POLL_SECONDS = float(os.environ.get("REALTIME_LOG_POLL_SECONDS", "1.0"))
# Frames queued for a socket that stopped reading before it is closed with 4408.
REALTIME_SEND_BACKLOG = int(os.environ.get("REALTIME_SEND_BACKLOG", "500"))
# Admission: sockets per user across all processes (0 = no limit) and per process; a socket past
# the process cap is told to retry after REALTIME_RETRY_AFTER_SECONDS (plus the client's jitter).
REALTIME_MAX_CONNECTIONS_PER_USER = int(os.environ.get("REALTIME_MAX_CONNECTIONS_PER_USER", "20"))
REALTIME_MAX_CONNECTIONS = int(os.environ.get("REALTIME_MAX_CONNECTIONS", "10000"))
REALTIME_RETRY_AFTER_SECONDS = int(os.environ.get("REALTIME_RETRY_AFTER_SECONDS", "5"))
# With Redis, how long a socket of a process that died without releasing it still counts for
# its user (each live process renews its own sockets' entries every third of it).
REALTIME_ADMISSION_TTL_SECONDS = float(os.environ.get("REALTIME_ADMISSION_TTL_SECONDS", "60"))
# How long the event log keeps events (prune_events); a client that resumes from an older id is
# told to resync. Days, so that a laptop that slept overnight catches up without a reload.
REALTIME_RETENTION_DAYS = float(os.environ.get("REALTIME_RETENTION_DAYS", "7"))
REALTIME_RETENTION_COUNT = int(os.environ.get("REALTIME_RETENTION_COUNT", "1000000"))
# Presence (who is on a page, what they edit): each process re-announces its sockets' presence
# every ANNOUNCE seconds; another process forgets it TTL seconds after the last announcement (a
# killed server's users disappear within the TTL). Per socket, presence updates beyond RATE a
# second (bursts of BURST) wait, the newest one kept. A tab hidden IDLE seconds shows as idle.
REALTIME_PRESENCE_ANNOUNCE_SECONDS = float(
    os.environ.get("REALTIME_PRESENCE_ANNOUNCE_SECONDS", "3")
)
REALTIME_PRESENCE_TTL_SECONDS = float(os.environ.get("REALTIME_PRESENCE_TTL_SECONDS", "8"))
if REALTIME_PRESENCE_TTL_SECONDS <= REALTIME_PRESENCE_ANNOUNCE_SECONDS:
    raise ImproperlyConfigured(
        "REALTIME_PRESENCE_TTL_SECONDS must be longer than REALTIME_PRESENCE_ANNOUNCE_SECONDS."
    )
REALTIME_PRESENCE_RATE_PER_SECOND = float(os.environ.get("REALTIME_PRESENCE_RATE_PER_SECOND", "2"))
REALTIME_PRESENCE_BURST = int(os.environ.get("REALTIME_PRESENCE_BURST", "10"))
REALTIME_PRESENCE_IDLE_SECONDS = int(os.environ.get("REALTIME_PRESENCE_IDLE_SECONDS", "120"))
# How long the history of changes (docs/history.md) keeps them, pruned by prune_events with the
# event log; 0 keeps everything. A stale save whose base is older than the history kept is a
# conflict, as before the history.
HISTORY_RETENTION_DAYS = float(os.environ.get("HISTORY_RETENTION_DAYS", "0"))
# API writes sent with an Idempotency-Key (docs/offline.md): their responses are kept this long
# for repeats (prune_idempotency deletes older ones); a claim still "running" after the timeout
# was left by a process that died, and a repeat then runs the write again.
IDEMPOTENCY_RETENTION_HOURS = float(os.environ.get("IDEMPOTENCY_RETENTION_HOURS", "48"))
IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS = float(os.environ.get("IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS", "60"))
# The browser client (static/realtime/websocket.js), in milliseconds: the first reconnect delay,
# doubled on each failed attempt up to the cap (with jitter); a ping every interval, and a
# connection that stays silent for the timeout after a ping is taken for dead.
REALTIME_CLIENT_RECONNECT_DELAY_MS = int(
    os.environ.get("REALTIME_CLIENT_RECONNECT_DELAY_MS", "1000")
)
REALTIME_CLIENT_RECONNECT_DELAY_MAX_MS = int(
    os.environ.get("REALTIME_CLIENT_RECONNECT_DELAY_MAX_MS", "30000")
)
REALTIME_CLIENT_HEARTBEAT_INTERVAL_MS = int(
    os.environ.get("REALTIME_CLIENT_HEARTBEAT_INTERVAL_MS", "25000")
)
REALTIME_CLIENT_HEARTBEAT_TIMEOUT_MS = int(
    os.environ.get("REALTIME_CLIENT_HEARTBEAT_TIMEOUT_MS", "10000")
)
# Change-to-screen lag (docs/realtime.md): the share of live events whose lag each page measures
# (0 turns it off), and how often a page sends what it measured (one ``lag`` message at most).
REALTIME_LAG_SAMPLE_RATE = float(os.environ.get("REALTIME_LAG_SAMPLE_RATE", "0.1"))
if not 0 <= REALTIME_LAG_SAMPLE_RATE <= 1:
    raise ImproperlyConfigured("REALTIME_LAG_SAMPLE_RATE must be from 0 to 1.")
REALTIME_CLIENT_LAG_REPORT_INTERVAL_MS = int(
    os.environ.get("REALTIME_CLIENT_LAG_REPORT_INTERVAL_MS", "10000")
)
# The installable app (docs/offline.md): the service worker keeps the pages and API data a user
# opened for OFFLINE_CACHE_DAYS days; a page or API read whose network answer takes longer than
# OFFLINE_NETWORK_TIMEOUT_MS milliseconds is answered from that copy, if there is one.
OFFLINE_CACHE_DAYS = float(os.environ.get("OFFLINE_CACHE_DAYS", "7"))
OFFLINE_NETWORK_TIMEOUT_MS = int(os.environ.get("OFFLINE_NETWORK_TIMEOUT_MS", "4000"))
# /metrics answers "Authorization: Bearer <METRICS_TOKEN>" (a Prometheus scraper) and staff
# sessions; empty (the default) turns token access off. Several server processes add up their
# metrics when PROMETHEUS_MULTIPROC_DIR is set in their environment (see realtime/metrics.py).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# The working calendar (schedule/working_days.py): the weekdays the site works, ISO numbers
# (1 = Monday); the country whose public holidays and transferred working days apply (a code
# the `holidays` package knows, e.g. RU; empty: none). Single days off and working days on top
# of these are kept in the database (CalendarDay, edited in the admin).
WORK_WEEKDAYS = env_weekdays("WORK_WEEKDAYS", "1-5")
HOLIDAYS_COUNTRY = os.environ.get("HOLIDAYS_COUNTRY", "RU").strip().upper()
# Forecasts (docs/msg.md): a task's rate is its average fact over its last N days with reports.
FORECAST_WINDOW_DAYS = int(os.environ.get("FORECAST_WINDOW_DAYS", "10"))
if FORECAST_WINDOW_DAYS < 1:
    raise ImproperlyConfigured("FORECAST_WINDOW_DAYS: a whole number of days from 1.")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "schedule:task_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["scheduler_project.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Moscow")
# The site's name in the header of exported files (docs/excel.md); unset, the translated
# "Construction site".
SITE_NAME = os.environ.get("SITE_NAME", "").strip()
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# daphne serves no static files itself; whitenoise serves them from the finders while DEBUG is
# on and from STATIC_ROOT (after collectstatic) otherwise.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    # Token first: an anonymous request gets 401 with "WWW-Authenticate: Token", which tells a
    # script how to log in (a session-first order answers a bare 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scheduler_project.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["scheduler_project.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 500,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "scheduler_project.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Works schedule API",
    "DESCRIPTION": "Tasks, monthly orders and daily works of a construction site's schedule.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from the sidecar package: the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Health probes come over plain HTTP straight to a process; /metrics (a token) stays on HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
# includeSubDomains and preload bind every subdomain, and the preload list is hard to leave:
# each is the operator's decision, off unless asked for (the deploy check's reminders of them,
# W005 and W021, are silenced while they are off).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [
    *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
]
# Content-Security-Policy on every response: scripts and styles only from the site's own files,
# no inline ones. The nonce is for Django admin, whose templates mark their scripts and styles
# with it (and have one inline style); connect-src 'self' covers the page's own ws:/wss: socket
# (CSP Level 3); no framing.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django": {
            "handlers": ["console"],
            "level": os.environ.get("LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}
