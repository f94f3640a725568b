"""Personal API tokens: shown once at creation, stored only as a SHA-256 digest.

Scope: "read" (the default) reads the owner's runs, findings and exports; "write" may also start runs. A token
reaches only its owner's runs, whatever its scope and even for a staff owner: staff review other people's runs in
the portal, where a session, CSRF and the review pages apply, never through a long-lived bearer secret. To make that
hold on every path that reads `user.is_staff` (API views and the stream), the user a token authenticates is a copy
with staff rights off.
"""

import copy
import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from audits.models import ApiToken

PREFIX = "aeg_"
INVALID_TOKEN = "The API token is invalid, revoked or expired."
# last_used is informative; writing it on every request would turn each read into a write.
LAST_USED_GRANULARITY = timedelta(minutes=5)
# Lifetimes offered on the tokens page, in days (None: never expires).
EXPIRY_CHOICES: list[tuple[str, int | None, str]] = [
    ("30", 30, "30 days"),
    ("90", 90, "90 days"),
    ("365", 365, "1 year"),
    ("none", None, "No expiry"),
]
DEFAULT_EXPIRY = "90"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(
    user, name: str, *, scope: str = ApiToken.Scope.READ, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    raw = PREFIX + secrets.token_urlsafe(32)
    prefix = raw[len(PREFIX) : len(PREFIX) + 8]
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, token_hash=_digest(raw), scope=scope, expires_at=expires_at
    )
    return token, raw


def token_for(raw: str | None) -> ApiToken | None:
    """The live token (not revoked, not expired, its user active) a bearer secret stands for, or None."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=_digest(raw), revoked__isnull=True).first()
    now = timezone.now()
    if token is None or not token.user.is_active or (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.last_used is None or now - token.last_used > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token


def acting_user(user):
    """The user as a token presents it: a copy with staff rights off (see the module docstring)."""
    acting = copy.copy(user)
    acting.is_staff = False
    acting.is_superuser = False
    return acting


def user_for_token(raw: str | None):
    """The user a bearer token acts as (a non-staff copy, see the module docstring), or None."""
    token = token_for(raw)
    if token is None:
        return None
    user = acting_user(token.user)
    user.api_token = token
    return user


def revoke_all(user) -> int:
    """Revoke every live token of the user (one step on the tokens page, and after a password change)."""
    return ApiToken.objects.filter(user=user, revoked__isnull=True).update(revoked=timezone.now())


def can_write(user) -> bool:
    token = getattr(user, "api_token", None)
    return token is not None and token.scope == ApiToken.Scope.WRITE


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
