"""Who a stream's user is, for both stream paths, at opening and at every heartbeat after it.

`identify_many` answers for a batch of credentials (session keys and bearer tokens) with a few
small SQL reads, so a heartbeat re-checks every open stream in one trip whatever their number.
The session checks are Django's own, in the order of django.contrib.auth.get_user: a live
session, a backend from AUTHENTICATION_BACKENDS, an active user, and the session's password hash
(current or fallback secret). Anything unusual (another session engine, a custom backend or user
model) goes through Django's get_user unchanged. A bearer token, when sent, decides alone.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Literal

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.contrib.sessions.backends import db as db_sessions
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from audits.models import ApiToken, AuditRun
from audits.runs.access import may_see
from audits.tokens import LAST_USED_GRANULARITY, PREFIX, acting_user

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
_WANTED = {"id", "password", "username", "is_active", "is_staff", "is_superuser"}
# Model.from_db() expects partial values in the model's own field order.
USER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields if f.attname in _WANTED)

# Why a stream is refused or closed; the words go to the viewer in the closing frame.
REASONS = {
    "signed_out": "You were signed out. Sign in again to follow this audit.",
    "password_changed": "Your password changed. Sign in again to follow this audit.",
    "deactivated": "This account is no longer active.",
    "token_revoked": "This API token was revoked.",
    "token_expired": "This API token has expired.",
    "token_invalid": "This API token is not valid.",
    "forbidden": "You no longer have access to this audit.",
}


@dataclass(frozen=True)
class Credential:
    kind: Literal["session", "token", "none"]
    value: str  # a session key, or the SHA-256 of a bearer token (as audits.tokens stores it)

    @classmethod
    def of(cls, session_key: str | None, token: str | None) -> "Credential":
        if token is not None:
            return cls("token", hashlib.sha256(token.encode()).hexdigest() if _plausible_token(token) else "")
        if session_key and len(session_key) <= 64:
            return cls("session", session_key)
        return cls("none", "")


NO_CREDENTIAL = Credential("none", "")


@dataclass(frozen=True)
class Identity:
    user: User | None
    reason: str = ""  # a REASONS key when user is None

    @property
    def message(self) -> str:
        return REASONS.get(self.reason, REASONS["signed_out"])


SIGNED_OUT = Identity(None, "signed_out")


def _plausible_token(raw: str) -> bool:
    return raw.startswith(PREFIX) and len(raw) <= 200


def identify(credential: Credential, *, touch: bool = False) -> Identity:
    return identify_many([credential], touch=touch)[credential]


def identify_many(credentials: Iterable[Credential], *, touch: bool = False) -> dict[Credential, Identity]:
    """Every credential's user (or why there is none). touch=True records a token's last use."""
    credentials = set(credentials)
    answers = {c: (Identity(None, "token_invalid") if c.kind == "token" else SIGNED_OUT) for c in credentials}
    sessions = [c.value for c in credentials if c.kind == "session"]
    tokens = [c.value for c in credentials if c.kind == "token" and c.value]
    if not _fast_path_applies():
        for key in sessions:
            store = import_module(settings.SESSION_ENGINE).SessionStore(key)
            user = get_user(_SessionOnly(store))
            answers[Credential("session", key)] = Identity(user) if user.is_authenticated else SIGNED_OUT
        sessions = []
    claims = _session_claims(sessions)  # session key -> (user id, hash)
    token_rows = _token_rows(tokens, touch)  # digest -> (user id, reason)
    users = _users({uid for uid, _ in claims.values()} | {uid for uid, _ in token_rows.values()})
    for key, (user_id, session_hash) in claims.items():
        answers[Credential("session", key)] = _judge_session(users.get(user_id), session_hash)
    for digest, (user_id, reason) in token_rows.items():
        user = users.get(user_id)
        if not reason and (user is None or not user.is_active):
            reason = "deactivated"
        # A token reaches its owner's runs only, staff or not: may_see() must not find is_staff on its user.
        answers[Credential("token", digest)] = Identity(None if reason else acting_user(user), reason)
    return answers


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


def _in_clause(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _session_claims(keys: list[str]) -> dict[str, tuple[int, str]]:
    if not keys:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT session_key, session_data FROM django_session "
            f"WHERE session_key IN ({_in_clause(keys)}) AND expire_date > %s",
            [*keys, timezone.now()],
        )
        rows = cursor.fetchall()
    claims = {}
    decoder = db_sessions.SessionStore()
    for key, session_data in rows:
        data = decoder.decode(session_data)  # {} when tampered with or unreadable, as in Django
        if data.get(BACKEND_SESSION_KEY) != MODEL_BACKEND or SESSION_KEY not in data:
            continue
        try:
            user_id = User._meta.pk.to_python(data[SESSION_KEY])
        except Exception:
            continue
        claims[key] = (user_id, data.get(HASH_SESSION_KEY) or "")
    return claims


def _token_rows(digests: list[str], touch: bool) -> dict[str, tuple[int, str]]:
    if not digests:
        return {}
    rows = ApiToken.objects.filter(token_hash__in=digests).values_list(
        "pk", "token_hash", "user_id", "revoked", "expires_at", "last_used"
    )
    now = timezone.now()
    found = {}
    stale = []
    for pk, digest, user_id, revoked, expires_at, last_used in rows:
        reason = "token_revoked" if revoked else "token_expired" if expires_at and expires_at <= now else ""
        found[digest] = (user_id, reason)
        if touch and not reason and (last_used is None or now - last_used > LAST_USED_GRANULARITY):
            stale.append(pk)
    if stale:
        ApiToken.objects.filter(pk__in=stale).update(last_used=now)
    return found


def _users(ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    ids_list = list(ids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(USER_FIELDS)} FROM auth_user WHERE id IN ({_in_clause(ids_list)})", ids_list)
        rows = cursor.fetchall()
    users = (User.from_db(connection.alias, USER_FIELDS, row) for row in rows)
    return {user.pk: user for user in users}


def _judge_session(user: User | None, session_hash: str) -> Identity:
    if user is None or not ModelBackend().user_can_authenticate(user):
        return Identity(None, "deactivated")
    if not session_hash:
        return SIGNED_OUT
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return Identity(user)
    # A rotated SECRET_KEY: the session stays valid under a fallback secret, as in get_user().
    if any(constant_time_compare(session_hash, h) for h in user.get_session_auth_fallback_hash()):
        return Identity(user)
    return Identity(None, "password_changed")


def recheck(grants: Iterable[tuple[Credential, int, int]]) -> dict[tuple[Credential, int, int], Identity]:
    """For each (credential, run id, user id) of an open stream: its user, or why it must close."""
    grants = list(grants)
    identities = identify_many(c for c, _, _ in grants)
    run_ids = list({run_id for _, run_id, _ in grants})
    owners = dict(AuditRun.objects.filter(pk__in=run_ids).values_list("pk", "owner_id")) if run_ids else {}
    answers = {}
    for grant in grants:
        credential, run_id, user_id = grant
        identity = identities[credential]
        if identity.user is not None and identity.user.pk != user_id:
            identity = SIGNED_OUT  # the credential now names someone else
        elif identity.user is not None and (run_id not in owners or not may_see(identity.user, owners[run_id])):
            identity = Identity(None, "forbidden")
        answers[grant] = identity
    return answers
