"""The active-run limit: how many audits one user may have queued, running or paused at once.

A paused audit counts: it holds no worker while paused, but resuming it takes one back, and pausing must not be a
way around the limit (start, pause, start again ... then resume them all). Every way a run becomes queued (start,
retry, resume) calls `reserve` inside its transaction; it locks the owner's user row first, so two starts at once
for one owner are counted one after the other and cannot both pass at limit - 1 (on SQLite the transaction's
IMMEDIATE write lock does the same).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from audits.models import AuditRun

Status = AuditRun.Status
ACTIVE = (Status.QUEUED, Status.RUNNING, Status.PAUSED)


class TooManyActiveRunsError(Exception):
    """The user already has the allowed number of audits queued, running or paused."""


def _active(owner_id: int, excluding: int | None) -> int:
    runs = AuditRun.objects.filter(owner_id=owner_id, status__in=ACTIVE)
    if excluding is not None:
        runs = runs.exclude(pk=excluding)
    return runs.count()


def _refuse_at_limit(active: int) -> None:
    limit = settings.AEGIS_MAX_ACTIVE_RUNS
    if active >= limit:
        raise TooManyActiveRunsError(
            f"You already have {active} audits queued, running or paused (the limit is {limit}); "
            "wait for one to finish or cancel one."
        )


def check(owner) -> None:
    """The cheap early answer, before an upload is read or validated; `reserve` decides for real."""
    _refuse_at_limit(_active(owner.pk, None))


def reserve(owner_id: int, *, excluding: int | None = None) -> None:
    """Within a transaction: hold the owner's lock and raise TooManyActiveRunsError at the limit.

    excluding: a run that is about to become queued again (a resume) and must not count against itself."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reserve() must run inside transaction.atomic(), where its lock lasts")
    list(get_user_model()._default_manager.select_for_update().filter(pk=owner_id).values_list("pk", flat=True))
    _refuse_at_limit(_active(owner_id, excluding))
