"""Counters for sign-in throttling, each changed by one conditional UPDATE whose row count decides.

A count read before the password check and written after it lets racing requests all see the same number (twenty
simultaneous guesses were all checked against a limit of five). Here an attempt takes its place in a window
atomically, before the password is checked: `take` answers False once the window is full, whatever the timing.
The Django cache cannot do this (the database cache's incr is a read and a write), so the counters have a table.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audits.models import SignInCount

# A racer can reset or create a window between our statements; three rounds settle any interleaving.
_ROUNDS = 3


def take(key: str, limit: int, window_s: int) -> bool:
    """Count one attempt in key's window (started now if none is live); False when the window already holds limit."""
    for _ in range(_ROUNDS):
        now = timezone.now()
        live = SignInCount.objects.filter(key=key, expires__gt=now)
        if live.filter(count__lt=limit).update(count=F("count") + 1):
            return True
        if live.exists():
            return False  # full until the window ends
        if limit < 1:
            return False
        if _start(key, now, window_s):
            return True
    return False


def _start(key: str, now, window_s: int) -> bool:
    """A new window holding this one attempt; False when a racer started it first (then count into theirs)."""
    expires = now + timedelta(seconds=window_s)
    if SignInCount.objects.filter(key=key, expires__lte=now).update(count=1, expires=expires):
        return True
    try:
        with transaction.atomic():
            SignInCount.objects.create(key=key, count=1, expires=expires)
    except IntegrityError:
        return False
    return True


def add(key: str, window_s: int) -> int:
    """Count one attempt with no limit (a new window when none is live); returns the count afterwards."""
    take(key, 2**31 - 1, window_s)
    return count(key)


def give_back(key: str) -> None:
    """Undo one take(): the attempt it counted turned out not to be a failure."""
    SignInCount.objects.filter(key=key, count__gt=0, expires__gt=timezone.now()).update(count=F("count") - 1)


def count(key: str) -> int:
    value = SignInCount.objects.filter(key=key, expires__gt=timezone.now()).values_list("count", flat=True).first()
    return value or 0


def hold(key: str, window_s: int) -> None:
    """Close key's gate for window_s from now (see `through_gate`)."""
    expires = timezone.now() + timedelta(seconds=window_s)
    SignInCount.objects.update_or_create(key=key, defaults={"count": 1, "expires": expires})


def through_gate(key: str, window_s: int) -> bool:
    """True when no gate is held on key, or it has lapsed and this request is the one that reopens it.

    Reopening holds the gate again, so of many racing requests after the wait exactly one gets through."""
    now = timezone.now()
    if not SignInCount.objects.filter(key=key).exists():
        return True
    expires = now + timedelta(seconds=window_s)
    return bool(SignInCount.objects.filter(key=key, expires__lte=now).update(count=1, expires=expires))


def forget(*keys: str) -> None:
    SignInCount.objects.filter(key__in=keys).delete()


def forget_expired() -> None:
    SignInCount.objects.filter(expires__lte=timezone.now()).delete()
