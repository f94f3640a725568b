"""Scheduled audits: when each is next due, and starting each due one exactly once, however many processes look.

`run_due_schedules()` is called every SCHEDULE_CHECK_S by the `runportal` supervisor (`make run`) and by
`manage.py run_schedules --loop` where runportal is not used; any number of them may run at once. A due schedule is
claimed by a conditional UPDATE that moves `next_due` forward only while it still holds the value read, in the same
transaction that queues the run (the way `start.start_run` queues any run, within the owner's active-run limit).
Exactly one process's UPDATE matches; the others find the row moved and start nothing. When the owner is at the
limit, or the previous scheduled run is still going, this due time is skipped and the reason recorded: a schedule
never queues a second run for one due time, and a server that was down does not catch up with a burst of runs.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from audits.models import AuditRun, Schedule
from audits.runs import limits, start

log = logging.getLogger(__name__)

SCHEDULE_CHECK_S = 30
DUE_BATCH = 100
ACTIVE = (AuditRun.Status.QUEUED, AuditRun.Status.RUNNING, AuditRun.Status.PAUSED)


def next_due_after(frequency: str, at: time, weekday: int | None, after: datetime) -> datetime:
    """The first due time strictly after `after`: daily at HH:MM UTC, or weekly on a weekday (0 = Monday)."""
    after = after.astimezone(UTC)
    due = datetime.combine(after.date(), at.replace(second=0, microsecond=0, tzinfo=None), tzinfo=UTC)
    if frequency == Schedule.Frequency.WEEKLY:
        due += timedelta(days=((weekday or 0) - due.weekday()) % 7)
        step = timedelta(days=7)
    else:
        step = timedelta(days=1)
    if due <= after:
        due += step
    return due


def next_due_for(schedule: Schedule, after: datetime | None = None) -> datetime:
    return next_due_after(schedule.frequency, schedule.at, schedule.weekday, after or timezone.now())


@dataclass(frozen=True)
class Outcome:
    schedule_id: int
    run_id: int | None = None
    skipped: str = ""


def run_due_schedules(now: datetime | None = None) -> list[Outcome]:
    """Start every schedule due by `now` that this call claims; what it started or skipped, in order."""
    now = now or timezone.now()
    due = list(
        Schedule.objects.filter(enabled=True, next_due__lte=now)
        .order_by("next_due", "pk")
        .values_list("pk", "next_due")[:DUE_BATCH]
    )
    outcomes = []
    for schedule_id, due_at in due:
        try:
            outcome = run_schedule(schedule_id, due_at, now)
        except Exception:  # one broken schedule must not stop the others, nor the supervisor that calls this
            log.exception("schedule %s could not be run", schedule_id)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def run_schedule(schedule_id: int, due_at: datetime, now: datetime) -> Outcome | None:
    """Claim the schedule's due time `due_at` and start its audit; None when another process claimed it first."""
    with transaction.atomic():
        schedule = Schedule.objects.select_related("owner", "connection").filter(pk=schedule_id).first()
        if schedule is None:
            return None
        claimed = Schedule.objects.filter(pk=schedule_id, enabled=True, next_due=due_at).update(
            next_due=next_due_for(schedule, now), last_attempt=now
        )
        if not claimed:
            return None
        reason = skip_reason(schedule)
        run = None
        if not reason:
            try:
                run = start_scheduled_run(schedule)
            except limits.TooManyActiveRunsError as exc:
                reason = f"Skipped at {due_at:%Y-%m-%d %H:%M} UTC: {exc}"
        if run is None:
            Schedule.objects.filter(pk=schedule_id).update(last_error=reason)
            log.info("schedule %s skipped: %s", schedule_id, reason)
            return Outcome(schedule_id, skipped=reason)
        Schedule.objects.filter(pk=schedule_id).update(last_run=run, last_error="")
    return Outcome(schedule_id, run_id=run.pk)


def skip_reason(schedule: Schedule) -> str:
    """Why the schedule may not start an audit now, or ""."""
    if not schedule.owner.is_active:
        return "Skipped: the owner's account is disabled."
    connection = schedule.connection
    if connection is not None and (connection.verified_at is None or connection.last_error):
        return f"Skipped: the connection “{connection.name}” is not verified; verify it on its page."
    if schedule.last_run_id and AuditRun.objects.filter(pk=schedule.last_run_id, status__in=ACTIVE).exists():
        return f"Skipped: the previous scheduled audit #{schedule.last_run_id} has not finished yet."
    return ""


def start_scheduled_run(schedule: Schedule) -> AuditRun:
    """Queue the audit exactly as the portal does (start.start_run), marked with its schedule.

    Raises limits.TooManyActiveRunsError when the owner is at the limit; nothing is created then."""
    fields: dict = {"kind": schedule.kind, "target": {**(schedule.target or {}), "schedule": schedule.pk}}
    if schedule.connection is not None:
        fields.update(connection=schedule.connection, account_id=schedule.connection.account_id)
    return start.start_run(schedule.owner, source=schedule.source, frameworks=list(schedule.frameworks), **fields)


def save_schedule(schedule: Schedule) -> Schedule:
    """Save a new or changed schedule with its next due time counted from now."""
    schedule.next_due = next_due_for(schedule) if schedule.enabled else None
    if schedule.frequency == Schedule.Frequency.DAILY:
        schedule.weekday = None
    schedule.save()
    return schedule


def disable(schedule: Schedule) -> None:
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False, next_due=None)
