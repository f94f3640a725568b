"""Personal API tokens: shown once at creation, stored only as a SHA-256 digest."""

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from audits.models import ApiToken

PREFIX = "aeg_"
# last_used is informative; writing it on every request would turn each read into a write.
LAST_USED_GRANULARITY = timedelta(minutes=5)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(user, name: str) -> tuple[ApiToken, str]:
    raw = PREFIX + secrets.token_urlsafe(32)
    prefix = raw[len(PREFIX) : len(PREFIX) + 8]
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, token_hash=_digest(raw))
    return token, raw


def user_for_token(raw: str | None):
    """The active user a bearer token belongs to, or None."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=_digest(raw), revoked__isnull=True).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token.user


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
