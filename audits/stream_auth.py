"""Who is opening a stream, answered with two small SQL reads instead of Django's ORM.

Opening streams is the hot path of a reconnect storm (thousands of browsers at once), and the
ORM's query compilation was most of its cost. The checks are Django's own, in the same order as
django.contrib.auth.get_user: a live session, a backend from AUTHENTICATION_BACKENDS, an active
user, and the session's password hash (current or fallback secret). Anything unusual (another
session engine, a custom backend or user model) goes through Django's get_user unchanged.
"""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends import db as db_sessions
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
_WANTED = {"id", "password", "username", "is_active", "is_staff", "is_superuser"}
# Model.from_db() expects partial values in the model's own field order.
USER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields if f.attname in _WANTED)


class _SessionOnly:
    """Just enough of a request for django.contrib.auth.get_user()."""

    def __init__(self, session) -> None:
        self.session = session


def _fast_path_applies() -> bool:
    return (
        settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
        and get_user_model() is User
        and list(settings.AUTHENTICATION_BACKENDS) == [MODEL_BACKEND]
    )


def user_for_session(session_key: str | None):
    if not session_key or len(session_key) > 64:
        return AnonymousUser()
    if not _fast_path_applies():
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        return get_user(_SessionOnly(store))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s",
            [session_key, timezone.now()],
        )
        row = cursor.fetchone()
        if row is None:
            return AnonymousUser()
        data = db_sessions.SessionStore().decode(row[0])
        if data.get(BACKEND_SESSION_KEY) != MODEL_BACKEND or SESSION_KEY not in data:
            return AnonymousUser()
        try:
            user_id = User._meta.pk.to_python(data[SESSION_KEY])
        except Exception:
            return AnonymousUser()
        cursor.execute(f"SELECT {', '.join(USER_FIELDS)} FROM auth_user WHERE id = %s", [user_id])
        row = cursor.fetchone()
    if row is None:
        return AnonymousUser()
    user = User.from_db(connection.alias, USER_FIELDS, row)
    if not ModelBackend().user_can_authenticate(user):
        return AnonymousUser()
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return AnonymousUser()
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return user
    # A rotated SECRET_KEY: the session stays valid under a fallback secret, as in get_user().
    if any(constant_time_compare(session_hash, h) for h in user.get_session_auth_fallback_hash()):
        return user
    return AnonymousUser()
