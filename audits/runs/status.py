"""Every change of a run's status, each a conditional UPDATE whose row count says whether it happened.

Views, the worker and the web processes' stale-run sweep all come here, so two of them racing on one run (a cancel
against a finishing worker, two sweeps at once) can never both win. The changes that queue a run for a worker
(resume, requeue, and starting one) are in audits.runs.start, above the worker; the worker's own are here:

    queued --claim--> running --mark_paused--> paused --resume--> queued
    running (pause asked) --resume--> running: the request is withdrawn before the worker stops
    running --finish/fail--> completed | failed | cancelled
    queued | paused | interrupted --cancel--> cancelled          running --cancel--> (control) --> cancelled
    running, silent past AEGIS_STALE_AFTER_S --requeue--> queued | interrupted
"""

import uuid
from collections.abc import Callable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audits import schedule_drift
from audits.models import AuditRun
from audits.runs.recorder import Recorder

Status = AuditRun.Status
IDLE = [Status.QUEUED, Status.PAUSED, Status.INTERRUPTED]
RESUMABLE = [Status.PAUSED, Status.INTERRUPTED]


def claim(run_id: int) -> str | None:
    """queued -> running: returns the claim token the worker's writes must carry, or None if another worker has it."""
    now = timezone.now()
    token = uuid.uuid4().hex
    if not AuditRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, claim=token, heartbeat=now
    ):
        return None
    AuditRun.objects.filter(pk=run_id, started__isnull=True).update(started=now)
    return token


def beat(run_id: int, token: str) -> None:
    AuditRun.objects.filter(pk=run_id, claim=token).update(heartbeat=timezone.now())


def pause(run_id: int) -> bool:
    """Ask a running audit to pause at its next checkpoint; False when it is not running."""
    return bool(AuditRun.objects.filter(pk=run_id, status=Status.RUNNING).update(control="pause"))


def mark_paused(run_id: int, token: str) -> str:
    """The worker stopped at a checkpoint because it was asked to; it keeps nothing but the checkpoint.

    What the run becomes depends on the request still standing when the worker gets here: a pause -> paused; a
    pause withdrawn by a resume meanwhile -> queued again, so it goes on from the checkpoint; a cancel that came
    meanwhile -> cancelled. Returns that status ("claim lost" when another worker holds the run)."""
    mine = AuditRun.objects.filter(pk=run_id, claim=token, status=Status.RUNNING)
    if mine.filter(control=AuditRun.Control.PAUSE).update(status=Status.PAUSED, control=""):
        return Status.PAUSED
    if mine.filter(control=AuditRun.Control.NONE).update(status=Status.QUEUED):
        return Status.QUEUED  # the worker queues it again; it says "resumed" when it starts from the checkpoint
    if mine.filter(control=AuditRun.Control.CANCEL).exists():
        Recorder(run_id, claim=token).emit("cancelled", "Audit cancelled by the user.", None, {})
        finish(run_id, Status.CANCELLED, claim=token)
        return Status.CANCELLED
    return "claim lost"


def cancel(run_id: int) -> bool:
    """Cancel now if no worker holds the run, else at the running worker's next checkpoint; False once finished."""
    with transaction.atomic():
        if AuditRun.objects.filter(pk=run_id, status__in=IDLE).update(control="cancel"):
            cancel_idle(run_id)
            return True
        return bool(AuditRun.objects.filter(pk=run_id, status=Status.RUNNING).update(control="cancel"))


def cancel_idle(run_id: int) -> None:
    """Cancel a run that no worker holds: record the event and end it, keeping what it found."""
    with transaction.atomic():
        if AuditRun.objects.select_for_update().filter(pk=run_id, status__in=IDLE).exists():
            Recorder(run_id).emit("cancelled", "Audit cancelled by the user.", None, {})
            finish(run_id, Status.CANCELLED)


def finish(run_id: int, status: str, *, claim: str | None = None, **changes) -> bool:
    """Any unfinished run -> a finished status; with a claim, only while this worker still holds the run."""
    runs = AuditRun.objects.filter(pk=run_id).filter(~Q(status__in=AuditRun.FINISHED))
    if claim is not None:
        runs = runs.filter(claim=claim)
    finished = bool(runs.update(status=status, finished=timezone.now(), control="", **changes))
    if finished and status == Status.COMPLETED:
        schedule_drift.record_drift(run_id)  # every completed run; before the webhook, which reports it
    return finished


def fail(run_id: int, message: str, *, claim: str | None = None) -> bool:
    return finish(run_id, Status.FAILED, claim=claim, error=message)


# --- organization runs: the parent and its children move together (audits.runs.organization records what happened)


def pause_organization(parent_id: int) -> int:
    """Running children stop at their next checkpoint, queued ones wait as paused, the parent reads paused."""
    children = AuditRun.objects.filter(parent_id=parent_id)
    n = children.filter(status=Status.RUNNING).update(control=AuditRun.Control.PAUSE)
    n += children.filter(status=Status.QUEUED).update(status=Status.PAUSED)
    AuditRun.objects.filter(pk=parent_id, status=Status.RUNNING).update(status=Status.PAUSED)
    return n


def cancel_organization(parent_id: int, cancelled_child: Callable[[int], object]) -> list[int]:
    """The parent and its running children cancel at their next checkpoint; idle children are cancelled now, each
    reported to cancelled_child as it ends (the organization's stream hears of it before the parent ends)."""
    AuditRun.objects.filter(pk=parent_id).update(control=AuditRun.Control.CANCEL)
    children = AuditRun.objects.filter(parent_id=parent_id)
    children.filter(status=Status.RUNNING).update(control=AuditRun.Control.CANCEL)
    cancelled = []
    for child_id in list(children.filter(status__in=IDLE).values_list("pk", flat=True)):
        if AuditRun.objects.filter(pk=child_id, status__in=IDLE).update(control=AuditRun.Control.CANCEL):
            cancel_idle(child_id)
            cancelled_child(child_id)
            cancelled.append(child_id)
    return cancelled
