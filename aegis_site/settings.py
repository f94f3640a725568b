"""Settings for Aegis IAM: one file, configured from the environment."""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from aegis_site.env import envbool, envint, envlist, envnetworks

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
# The key `make run` wrote (AEGIS_SECRET_KEY_FILE moves it), so `manage.py createsuperuser` works without exporting it.
_SECRET_KEY_FILE = Path(os.environ.get("AEGIS_SECRET_KEY_FILE", BASE_DIR / "var" / "secret_key"))
if not SECRET_KEY and _SECRET_KEY_FILE.is_file():
    SECRET_KEY = _SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    # A development or test process may run without one; a production start must not.
    if DEBUG or envbool("AEGIS_DEV", False) or "pytest" in sys.modules:
        SECRET_KEY = "aegis-dev-only-insecure-key"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment (make run sets a development one)."
        )

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "audits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "aegis_site.urls"

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

WSGI_APPLICATION = "aegis_site.wsgi.application"
ASGI_APPLICATION = "aegis_site.asgi.application"

# SQLite (embedded, WAL) by default; DATABASE_URL selects PostgreSQL (psycopg 3).
DATA_DIR = Path(os.environ.get("AEGIS_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
    # One test database per test session, so parallel sessions never drop each other's.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("AEGIS_TEST_DB_NAME", f"test_aegis_{os.getpid()}")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("AEGIS_DB_PATH", str(DATA_DIR / "aegis.sqlite3")),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so the recorder's read-then-insert of the
                # next seq is serialised across processes instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"),
            },
            # A file (not :memory:) so server and worker processes in the tests share it; one per
            # test session so parallel sessions never delete each other's database.
            "TEST": {"NAME": os.environ.get("AEGIS_TEST_DB_PATH", str(DATA_DIR / f"test-aegis-{os.getpid()}.sqlite3"))},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/audits/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from STATICFILES_DIRS so `make run` works without collectstatic.
WHITENOISE_USE_FINDERS = True

# Request bodies (aegis_site/body_limits.py): a snapshot upload (portal and API, multipart) may be up to
# AEGIS_MAX_UPLOAD_BYTES, every other body up to AEGIS_MAX_BODY_BYTES; both are enforced while the body is read,
# before anything parses it. Once its headers are in, a body has AEGIS_BODY_TIMEOUT_S plus one second for every
# AEGIS_BODY_MIN_BYTES_PER_S bytes received to arrive (audits/stream/protocol.py): 64 KB/s (0.5 Mbit/s) or faster
# never times out, so a 50 MB upload on a slow link still works, while a stalled body is closed after 30 s.
AEGIS_MAX_UPLOAD_BYTES = envint("AEGIS_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
AEGIS_MAX_BODY_BYTES = envint("AEGIS_MAX_BODY_BYTES", 1024 * 1024)
AEGIS_BODY_TIMEOUT_S = envint("AEGIS_BODY_TIMEOUT_S", 30)
AEGIS_BODY_MIN_BYTES_PER_S = envint("AEGIS_BODY_MIN_BYTES_PER_S", 64 * 1024)
# Django's own limit on form fields other than files. Every body past 64 KB waits on disk, not in memory, while
# it arrives (Django's ASGI handler spools it before the view runs): ten 45 MB uploads held 428 MB in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = AEGIS_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# Streams: how often a browser retries, how often a heartbeat comment keeps proxies from closing
# an idle stream, and how often the hub polls the events table when it cannot LISTEN.
AEGIS_SSE_RETRY_MS = envint("AEGIS_SSE_RETRY_MS", 2000)
AEGIS_SSE_HEARTBEAT_S = envint("AEGIS_SSE_HEARTBEAT_S", 15)
AEGIS_HUB_POLL_MS = envint("AEGIS_HUB_POLL_MS", 10)
# Limits on streams: open streams per account in one web process (more get a 429), and how long
# a connection may take to send its request headers before it is closed (slowloris).
AEGIS_MAX_STREAMS_PER_USER = envint("AEGIS_MAX_STREAMS_PER_USER", 20)
AEGIS_HEADER_TIMEOUT_S = envint("AEGIS_HEADER_TIMEOUT_S", 10)
# A web process requeues (true) or marks interrupted (false) the runs whose worker died.
AEGIS_AUTO_RESUME = envbool("AEGIS_AUTO_RESUME", True)

# No inline script or style anywhere: IAM data is hostile input, and this is the last line.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Sign-in throttling (the scheme is described in audits/views/auth.py): failures allowed per name and address,
# per address for all names, the window they are counted in, and the wait after a failure on a name under attack.
AEGIS_LOGIN_FAILURES_ALLOWED = envint("AEGIS_LOGIN_FAILURES_ALLOWED", 5)
AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED = envint("AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED", 20)
AEGIS_LOGIN_LOCKOUT_S = envint("AEGIS_LOGIN_LOCKOUT_S", 900)
AEGIS_LOGIN_SLOW_S = envint("AEGIS_LOGIN_SLOW_S", 60)
# The reverse proxies in front of the portal (addresses or CIDR networks). Only requests arriving from one of them
# have their client taken from X-Forwarded-For (the right-most hop that is not a proxy); none by default, so a
# client cannot pick its own address. The same list is handed to uvicorn by `manage.py runportal`.
AEGIS_TRUSTED_PROXIES = envnetworks("AEGIS_TRUSTED_PROXIES")
# Admin and escalation fixes are proven in the worker (applied to the snapshot, the account analysed again) for
# accounts up to this many users and roles; larger ones get each fix's first cut, marked not verified. The default
# is audits.iam.fix_plan.VERIFY_MAX_PRINCIPALS (tests/test_verify_fixes_default.py ties the two).
AEGIS_VERIFY_FIXES_MAX_PRINCIPALS = envint("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS", 10_000)
# How many audits one user may have queued or running at once.
AEGIS_MAX_ACTIVE_RUNS = envint("AEGIS_MAX_ACTIVE_RUNS", 3)
AEGIS_QUERY_MAX_SNAPSHOT_BYTES = envint("AEGIS_QUERY_MAX_SNAPSHOT_BYTES", 16 * 1024 * 1024)  # "Who can" input cap
# What one event or finding stores, whatever the input (audits/size_caps.py): a longer message is cut, a bigger
# finding keeps its identity and has its evidence, detail and fix trimmed (marked "truncated"; the full detail stays
# in the run's stored input), and a payload's other parts are trimmed the same way. Exports and streams read runs in
# pages of AEGIS_EXPORT_PAGE and AEGIS_STREAM_PAGE rows.
AEGIS_MAX_MESSAGE_CHARS = envint("AEGIS_MAX_MESSAGE_CHARS", 4_000)
AEGIS_MAX_FINDING_BYTES = envint("AEGIS_MAX_FINDING_BYTES", 64 * 1024)
AEGIS_MAX_EVENT_BYTES = envint("AEGIS_MAX_EVENT_BYTES", 64 * 1024)
AEGIS_MAX_RESULT_TEXT_CHARS = envint("AEGIS_MAX_RESULT_TEXT_CHARS", 4_000)
AEGIS_STREAM_PAGE = envint("AEGIS_STREAM_PAGE", 500)
AEGIS_EXPORT_PAGE = envint("AEGIS_EXPORT_PAGE", 500)
# The demo account audits in milliseconds; this pause after each of its 74 principals lets people watch it
# (about 30 s in all, time to pause or cancel it). The test suite sets 60.
AEGIS_DEMO_STEP_MS = envint("AEGIS_DEMO_STEP_MS", 400)
# The run page's live region says the counts at most once per this many ms (the last update inside the window is
# said when it ends). Tests shorten it; screen-reader users hear no more often than every 5 s by default.
AEGIS_ANNOUNCE_MS = envint("AEGIS_ANNOUNCE_MS", 5000)
# `manage.py ensure_demo_user` sets this password on the `demo` login (empty: a random one, printed once).
AEGIS_DEMO_PASSWORD = os.environ.get("AEGIS_DEMO_PASSWORD", "")
# Where `manage.py runportal` (and so `make run`) listens; the usual HOST and PORT variables of a platform.
AEGIS_HOST = os.environ.get("HOST", "127.0.0.1")
AEGIS_PORT = envint("PORT", 8000)

# Workers: a running audit's heartbeat, and how long without one before a web process's sweep takes the run back
# (requeued when AEGIS_AUTO_RESUME, else marked interrupted for its owner to resume).
AEGIS_HEARTBEAT_S = envint("AEGIS_HEARTBEAT_S", 10)
AEGIS_STALE_AFTER_S = envint("AEGIS_STALE_AFTER_S", 45)
AEGIS_AUTO_RESUME = envbool("AEGIS_AUTO_RESUME", True)
if AEGIS_STALE_AFTER_S <= AEGIS_HEARTBEAT_S:
    raise ImproperlyConfigured("AEGIS_STALE_AFTER_S must be longer than AEGIS_HEARTBEAT_S, or live runs look dead")

# The AWS principal that customers' audit roles trust (shown in each connection's trust policy). Set it to the
# account or role Aegis runs as; the placeholder makes the trust policy obviously incomplete until then.
AEGIS_AWS_PRINCIPAL_ARN = os.environ.get("AEGIS_AWS_PRINCIPAL_ARN", "arn:aws:iam::<your-aegis-account>:root")

# The AWS principal customers' connection roles trust (an IAM role or user ARN). Empty: ask STS who the server's
# credentials belong to (an assumed-role session is converted to its role ARN).
AEGIS_AWS_PRINCIPAL_ARN = os.environ.get("AEGIS_AWS_PRINCIPAL_ARN", "").strip()
# Per-user webhooks: seconds before giving up on one call (one try, never retried in a loop).
AEGIS_WEBHOOK_TIMEOUT_S = envint("AEGIS_WEBHOOK_TIMEOUT_S", 5)
# Webhooks must be https to a public address; plain http to localhost only when this is on (default: DEBUG).
AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP = envbool("AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP", DEBUG)
# The portal's public address (https://aegis.example.com), for links in webhook messages; empty: paths only.
AEGIS_PUBLIC_URL = os.environ.get("AEGIS_PUBLIC_URL", "").rstrip("/")

# Shared by every process (login throttling must count across web processes).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "aegis_cache",
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and envbool("AEGIS_HTTPS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
