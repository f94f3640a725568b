"""Runs one audit inside the worker: claim, load the input, drive the engine, record the end."""

import logging
import time

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audits.models import AuditRun, Finding
from audits.recorder import Recorder

log = logging.getLogger(__name__)


class AuditInputError(Exception):
    """The audit cannot start from what it was given; the message is shown to the user."""

# How often the engine's checkpoints ask the database whether the owner pressed pause or cancel.
CONTROL_CHECK_S = 0.25


def enqueue(run: AuditRun) -> None:
    """Queue the run once the surrounding transaction commits, so a worker can see it."""
    from audits.tasks import execute_audit

    run_id = run.pk
    transaction.on_commit(lambda: execute_audit.enqueue(run_id))


def claim(run_id: int) -> bool:
    """queued -> running with a conditional UPDATE: 1 row means this worker owns the run."""
    now = timezone.now()
    claimed = AuditRun.objects.filter(pk=run_id, status=AuditRun.Status.QUEUED).update(
        status=AuditRun.Status.RUNNING, control=""
    )
    if claimed:
        AuditRun.objects.filter(pk=run_id, started__isnull=True).update(started=now)
    return claimed == 1


def execute(run_id: int) -> str:
    if not claim(run_id):
        return "skipped: not queued"
    run = AuditRun.objects.get(pk=run_id)
    recorder = Recorder(run_id)
    try:
        outcome = _drive(run, recorder)
    except Exception as exc:  # the run must end with an error event, never silently
        message, expected = _describe_failure(exc)
        if not expected:
            log.exception("audit %s failed", run_id)
        recorder.emit("error", message, 100, {"error": message})
        _finish(run_id, AuditRun.Status.FAILED, error=message)
        return "failed"
    if outcome.status == "completed":
        result = outcome.result or {}
        _finish(
            run_id,
            AuditRun.Status.COMPLETED,
            result=result,
            risk_score=result.get("risk_score"),
            account_id=(result.get("audit_summary") or {}).get("account_id", "") or run.account_id,
        )
    elif outcome.status == "paused":
        AuditRun.objects.filter(pk=run_id).update(status=AuditRun.Status.PAUSED, control="")
    elif outcome.status == "cancelled":
        _finish(run_id, AuditRun.Status.CANCELLED)
    return outcome.status


def _drive(run: AuditRun, recorder: Recorder):
    from audits.iam import ResumeState, run_audit

    snapshot = load_snapshot_for(run, recorder)
    if snapshot.account_id and snapshot.account_id != run.account_id:
        AuditRun.objects.filter(pk=run.pk).update(account_id=snapshot.account_id)
    resume = None
    done = int((run.checkpoint or {}).get("principals_done", 0))
    if run.last_seq > 0:
        findings = [f.to_dict() for f in Finding.objects.filter(run_id=run.pk)]
        resume = ResumeState(principals_done=done, findings=findings, progress=run.progress)
    return run_audit(
        snapshot,
        recorder.emit,
        frameworks=list(run.frameworks or []),
        resume=resume,
        control=_control_reader(run.pk),
    )


def load_snapshot_for(run: AuditRun, recorder: Recorder):
    from audits.iam.snapshot import load_demo_snapshot, load_snapshot

    if run.source == AuditRun.Source.DEMO:
        return load_demo_snapshot()
    if run.snapshot is not None:
        return load_snapshot(run.snapshot, source="live" if run.source == AuditRun.Source.CONNECTION else "snapshot")
    if run.source == AuditRun.Source.CONNECTION:
        from audits.iam.collect import collect_snapshot, session_for

        connection = run.connection
        if connection is None:
            raise AuditInputError("this audit's AWS connection was deleted.")
        recorder.emit("progress", f"Connecting to AWS as {connection.role_arn}...", 3)
        session = session_for(connection.role_arn, connection.external_id)
        snapshot = collect_snapshot(session, lambda text: recorder.emit("warning", text, None, {}))
        # Stored so a resumed run audits the same data, on whichever worker picks it up.
        AuditRun.objects.filter(pk=run.pk).update(snapshot=snapshot.to_dict(), account_id=snapshot.account_id)
        return snapshot
    raise AuditInputError("this audit has no snapshot to analyse.")


def _control_reader(run_id: int):
    last_check = 0.0
    last_value: str | None = None

    def control() -> str | None:
        nonlocal last_check, last_value
        now = time.monotonic()
        if now - last_check >= CONTROL_CHECK_S:
            last_check = now
            value = AuditRun.objects.filter(pk=run_id).values_list("control", flat=True).first()
            last_value = value or None
        return last_value

    return control


def _describe_failure(exc: Exception) -> tuple[str, bool]:
    from audits.iam.collect import CollectionError
    from audits.iam.snapshot import SnapshotError

    if isinstance(exc, (SnapshotError, CollectionError, AuditInputError)):
        return f"Error: {exc}", True
    return "Error: the audit stopped on an internal error; it has been logged for the operators.", False


def _finish(run_id: int, status: str, **changes) -> None:
    AuditRun.objects.filter(pk=run_id).filter(~Q(status__in=AuditRun.FINISHED)).update(
        status=status, finished=timezone.now(), control="", **changes
    )


def cancel_idle(run_id: int) -> None:
    """Cancel a run that no worker holds: record the event and end it, keeping what it found."""
    with transaction.atomic():
        idle = [AuditRun.Status.QUEUED, AuditRun.Status.PAUSED, AuditRun.Status.INTERRUPTED]
        if AuditRun.objects.select_for_update().filter(pk=run_id, status__in=idle).exists():
            Recorder(run_id).emit("cancelled", "Audit cancelled by the user.", None, {})
            _finish(run_id, AuditRun.Status.CANCELLED)
