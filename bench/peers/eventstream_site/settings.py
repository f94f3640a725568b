"""Peer (b): a minimal Django project serving django-eventstream 5.3.4 as its README sets it up.

ASGI, the app's own events view on a per-run channel, and its Django model storage so events
are persisted and resumable like Aegis's. No Redis: send_event() reaches only listeners in the
process that calls it, so the publisher runs inside the server (see views.py).
"""

import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "bench")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_eventstream",
]
# The README's setup adds only GripMiddleware, for a GRIP proxy; with no proxy there is none.
MIDDLEWARE: list[str] = []

ROOT_URLCONF = "eventstream_site.urls"
ASGI_APPLICATION = "eventstream_site.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PEER_DB_PATH", os.path.join(BASE_DIR, "peer.sqlite3")),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
