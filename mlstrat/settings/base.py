"""Settings shared by every environment, read from environment variables.

With nothing set, mlstrat runs embedded: SQLite, Celery tasks executed in-process,
media on the local disk. Setting DATABASE_URL and CELERY_BROKER_URL (or REDIS_URL)
switches to PostgreSQL and real Celery workers.
"""

import os
from pathlib import Path

import dj_database_url
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me-for-anything-real")
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "mlstrat.accounts",
    "mlstrat.datasets",
    "mlstrat.imports",
    "mlstrat.review",
    "mlstrat.labels",
    "mlstrat.analytics",
    "mlstrat.mismatch",
    "mlstrat.api",
    "mlstrat.web",
    "mlstrat.demo",
]

MIDDLEWARE = [
    # First: a body over its route's cap is refused before anything reads it (#13.1).
    "mlstrat.web.body_limits.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL and other control characters in the path, query or form fields: 400.
    "mlstrat.web.middleware.ControlCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    # A lost database connection or an unreachable task queue: 503 with a reason.
    "mlstrat.web.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "mlstrat.urls"
WSGI_APPLICATION = "mlstrat.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (runserver, in-process tasks) write: wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "mlstrat.accounts.backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

# Proxies in front of the app that append the client's address to X-Forwarded-For (the
# TLS proxy: 1). 0: REMOTE_ADDR is the client and X-Forwarded-For is never read. Every
# reading of the client address goes through mlstrat/web/addresses.py::client_address.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# Failed logins (mlstrat/accounts/login_throttle.py): lock a (username, address) pair after
# AXES_FAILURE_LIMIT failures in an hour; never an address alone (a proxy or a NAT is shared)
# and never an account for an hour: past LOGIN_BACKOFF_AFTER failures on a username from
# any address, each further try waits 2, 4, 8... seconds, at most LOGIN_BACKOFF_MAX_SECONDS.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "20"))
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "mlstrat.web.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "mlstrat.accounts.login_throttle.lockout_response"
LOGIN_BACKOFF_AFTER = int(os.environ.get("LOGIN_BACKOFF_AFTER", "5"))
LOGIN_BACKOFF_MAX_SECONDS = int(os.environ.get("LOGIN_BACKOFF_MAX_SECONDS", "60"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# Uploaded dumps are staged here before a worker streams them (never kept in memory).
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    # S3-compatible bucket (AWS, MinIO, ...) shared by web servers and workers.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["AWS_STORAGE_BUCKET_NAME"],
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }

# Request bodies (mlstrat/web/body_limits.py): at most MLSTRAT_REQUEST_MAX_BYTES anywhere
# but the import routes, where a project's admins send up to MLSTRAT_IMPORT_MAX_UPLOAD_BYTES;
# at most MLSTRAT_UPLOAD_SLOTS bodies spooled to disk at once (shared by every web process),
# and never past MLSTRAT_UPLOAD_DISK_RESERVE_BYTES of free disk. Temporary files go to
# FILE_UPLOAD_TEMP_DIR (default: the system's temporary folder).
MLSTRAT_REQUEST_MAX_BYTES = int(os.environ.get("MLSTRAT_REQUEST_MAX_BYTES", 1024**2))
MLSTRAT_UPLOAD_SLOTS = int(os.environ.get("MLSTRAT_UPLOAD_SLOTS", 4))
MLSTRAT_UPLOAD_SLOT_SECONDS = int(os.environ.get("MLSTRAT_UPLOAD_SLOT_SECONDS", 3 * 3600))
MLSTRAT_UPLOAD_DISK_RESERVE_BYTES = int(
    os.environ.get("MLSTRAT_UPLOAD_DISK_RESERVE_BYTES", 1024**3)
)
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None

# Import limits (see docs/import-format.md).
MLSTRAT_IMPORT_MAX_UPLOAD_BYTES = int(
    os.environ.get("MLSTRAT_IMPORT_MAX_UPLOAD_BYTES", 2 * 1024**3)
)
MLSTRAT_IMPORT_MAX_EXPANDED_BYTES = int(
    os.environ.get("MLSTRAT_IMPORT_MAX_EXPANDED_BYTES", 8 * 1024**3)
)
MLSTRAT_IMPORT_MAX_MEMBERS = int(os.environ.get("MLSTRAT_IMPORT_MAX_MEMBERS", 5_000_000))
MLSTRAT_IMPORT_MAX_RATIO = int(os.environ.get("MLSTRAT_IMPORT_MAX_RATIO", 200))
MLSTRAT_IMAGE_MAX_PIXELS = int(os.environ.get("MLSTRAT_IMAGE_MAX_PIXELS", 40_000_000))
# One image member or file: read at most this many bytes (counted as it streams).
MLSTRAT_IMPORT_MAX_IMAGE_BYTES = int(os.environ.get("MLSTRAT_IMPORT_MAX_IMAGE_BYTES", 64 * 1024**2))
# One line of a CSV or JSON Lines table, and one field (a cell, a JSON string).
MLSTRAT_IMPORT_MAX_LINE_BYTES = int(os.environ.get("MLSTRAT_IMPORT_MAX_LINE_BYTES", 1024**2))
MLSTRAT_IMPORT_MAX_FIELD_BYTES = int(os.environ.get("MLSTRAT_IMPORT_MAX_FIELD_BYTES", 128 * 1024))
# Processes that check and pack a big dump's images (0: one per core).
MLSTRAT_IMPORT_PROCESSES = int(os.environ.get("MLSTRAT_IMPORT_PROCESSES", 0))
# A running import writes a heartbeat every MLSTRAT_IMPORT_HEARTBEAT_SECONDS; an attempt
# silent for MLSTRAT_IMPORT_LEASE_SECONDS is taken for dead (its worker was killed).
MLSTRAT_IMPORT_HEARTBEAT_SECONDS = float(os.environ.get("MLSTRAT_IMPORT_HEARTBEAT_SECONDS", 10))
MLSTRAT_IMPORT_LEASE_SECONDS = float(os.environ.get("MLSTRAT_IMPORT_LEASE_SECONDS", 120))
MLSTRAT_IMPORT_MAX_ATTEMPTS = int(os.environ.get("MLSTRAT_IMPORT_MAX_ATTEMPTS", 3))
# A synthesis job with no chunk done for this long lost its worker: its missing chunks are
# sent again, up to MLSTRAT_SYNTHESIS_MAX_ATTEMPTS sends in all, then it fails.
MLSTRAT_SYNTHESIS_STALL_SECONDS = float(os.environ.get("MLSTRAT_SYNTHESIS_STALL_SECONDS", 300))
MLSTRAT_SYNTHESIS_MAX_ATTEMPTS = int(os.environ.get("MLSTRAT_SYNTHESIS_MAX_ATTEMPTS", 4))
# A dump that failed on invalid rows is kept this many days for "import the valid rows
# only" (no second upload); then beat removes it.
MLSTRAT_IMPORT_KEEP_FAILED_DAYS = float(os.environ.get("MLSTRAT_IMPORT_KEEP_FAILED_DAYS", 7))
# Server folders the management command and API may read dumps from ("images already there").
MLSTRAT_IMPORT_ROOTS = env_list("MLSTRAT_IMPORT_ROOTS")

# The cache: API rate limits and small cached reads. Shared by every web process when
# CACHE_URL is set (Redis; fails open when Redis is gone, see mlstrat/cache.py), else
# per process (embedded mode).
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "mlstrat.cache.FailOpenRedisCache",
            "LOCATION": CACHE_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

# Celery. No broker configured: tasks run in-process (embedded mode).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or ""
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 6 * 3600
CELERY_TASK_SOFT_TIME_LIMIT = 6 * 3600 - 60
# Redelivery of an unacknowledged task waits longer than the longest task may run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 7 * 3600, "socket_connect_timeout": 2}
# With the broker down, queueing a job fails within a few seconds (the request answers
# 503 and the job is marked failed) instead of hanging the web worker.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Two queues, both read by every worker (`celery -A mlstrat worker`, no -Q): dashboard
# recomputes are short and must not wait behind the thousands of thumbnail chunks of a
# big import; a worker takes from the queues in turn.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("dashboards"))
CELERY_TASK_ROUTES = {"mlstrat.analytics.tasks.recompute_snapshot": {"queue": "dashboards"}}
# Celery beat (one `celery -A mlstrat beat` process, docker-compose's `beat` service):
# notices import attempts whose worker died (their lease expired) within a minute or two.
CELERY_BEAT_SCHEDULE = {
    "imports-check-leases": {"task": "imports.check_leases", "schedule": 30.0},
    "imports-expire-uploads": {"task": "imports.expire_uploads", "schedule": 3600.0},
    "imports-discard-kept-dumps": {"task": "imports.discard_kept_dumps", "schedule": 3600.0},
    "mismatch-check-stalled-jobs": {"task": "mismatch.check_stalled_jobs", "schedule": 60.0},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Hashed, expiring, revocable tokens (mlstrat.accounts.models.ApiToken).
        "mlstrat.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "mlstrat.api.pagination.DefaultPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["mlstrat.api.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "60/minute"),
        "user": os.environ.get("API_THROTTLE_USER", "6000/minute"),
    },
    "EXCEPTION_HANDLER": "mlstrat.api.errors.exception_handler",
    # NUL, deep nesting, ints beyond 64 bits, a non-object top level: 400 (docs/security.md).
    "DEFAULT_PARSER_CLASSES": [
        "mlstrat.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Throttles read the client address through the same trusted proxies as the lockout.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mlstrat API",
    "DESCRIPTION": "Error analysis for ML teams: projects, datasets, runs, imports, reviews, "
    "tags, label corrections and analysis figures.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from our own static files (no CDN; the CSP allows only 'self').
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Content Security Policy: no inline script, no third-party origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# API tokens (mlstrat/accounts/tokens.py): a new token lasts this many days unless its
# creator asks for fewer (at most MLSTRAT_TOKEN_MAX_DAYS); expired ones answer 401.
MLSTRAT_TOKEN_DAYS = int(os.environ.get("MLSTRAT_TOKEN_DAYS", 90))
MLSTRAT_TOKEN_MAX_DAYS = int(os.environ.get("MLSTRAT_TOKEN_MAX_DAYS", 365))
