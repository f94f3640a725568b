"""Runs one audit inside the worker: claim, load the input, drive the engine, record the end."""

import logging
import threading
import time
import uuid
from datetime import timedelta

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from aegis_site.env import envint
from audits import org_runs
from audits.iam.scoring import band, score
from audits.models import AuditEvent, AuditRun, Finding, Suppression
from audits.recorder import ClaimLostError, Recorder

log = logging.getLogger(__name__)


class AuditInputError(Exception):
    """The audit cannot start from what it was given; the message is shown to the user."""


# How often the engine's checkpoints ask the database whether the owner pressed pause or cancel.
CONTROL_CHECK_S = 0.25
# The worker touches the run this often; a run untouched for STALE_AFTER_S has lost its worker.
# Both come from the environment so fault tests (and operators) can shorten them.
HEARTBEAT_S = envint("AEGIS_HEARTBEAT_S", 10)
STALE_AFTER_S = envint("AEGIS_STALE_AFTER_S", 45)


class TooManyActiveRunsError(Exception):
    """The user already has the allowed number of audits queued or running."""


def start_run(owner, *, source: str, frameworks: list[str], **fields) -> AuditRun:
    """Create a run and queue it, within the owner's limit of audits running at once."""
    from django.conf import settings

    limit = settings.AEGIS_MAX_ACTIVE_RUNS
    with transaction.atomic():
        active = AuditRun.objects.filter(
            owner=owner, status__in=[AuditRun.Status.QUEUED, AuditRun.Status.RUNNING]
        ).count()
        if active >= limit:
            raise TooManyActiveRunsError(
                f"You already have {active} audits queued or running (the limit is {limit}); "
                "wait for one to finish or cancel one."
            )
        run = AuditRun.objects.create(owner=owner, source=source, frameworks=frameworks, **fields)
        enqueue(run)
    return run


def enqueue(run: AuditRun) -> None:
    """Queue the run once the surrounding transaction commits, so a worker can see it."""
    run_id = run.pk
    transaction.on_commit(lambda: _enqueue_id(run_id))


def claim(run_id: int) -> str | None:
    """queued -> running with a conditional UPDATE: 1 row means this worker owns the run.

    Returns the claim token the recorder must present, or None when another worker has it."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = AuditRun.objects.filter(pk=run_id, status=AuditRun.Status.QUEUED).update(
        status=AuditRun.Status.RUNNING, claim=token, heartbeat=now
    )
    if not claimed:
        return None
    AuditRun.objects.filter(pk=run_id, started__isnull=True).update(started=now)
    return token


class Heartbeat(threading.Thread):
    """Keeps the run's heartbeat fresh while a long step (say, an AWS call) emits nothing."""

    def __init__(self, run_id: int, token: str) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.run_id, self.token = run_id, token
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stopped.wait(HEARTBEAT_S):
                try:
                    AuditRun.objects.filter(pk=self.run_id, claim=self.token).update(heartbeat=timezone.now())
                except Exception:  # a brief DB outage must not kill the beat
                    log.warning("heartbeat for run %s failed", self.run_id, exc_info=True)
                    connection.close()
        finally:
            connection.close()


def execute(run_id: int) -> str:
    token = claim(run_id)
    if token is None:
        return "skipped: not queued"
    heartbeat = Heartbeat(run_id, token)
    heartbeat.start()
    try:
        return _execute_claimed(run_id, token)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()


def _execute_claimed(run_id: int, token: str) -> str:
    run = AuditRun.objects.get(pk=run_id)
    if run.parent_id:
        org_runs.child_started(run_id)
    status = _execute_run(run, token)
    if run.parent_id and status in AuditRun.FINISHED:
        org_runs.child_finished(run_id)  # the organization page hears of it; the last child completes the parent
    return status


def _execute_run(run: AuditRun, token: str) -> str:
    run_id = run.pk
    recorder = Recorder(run_id, claim=token)
    try:
        if run.kind == AuditRun.Kind.ORGANIZATION:
            return org_runs.execute_parent(run, recorder)
        outcome = _drive(run, recorder)
    except ClaimLostError:
        log.warning("run %s was taken over by another worker; stopping here", run_id)
        return "claim lost"
    except Exception as exc:  # the run must end with an error event, never silently
        message, expected = _describe_failure(exc)
        if not expected:
            log.exception("audit %s failed", run_id)
        recorder.emit("error", message, 100, {"error": message})
        _finish(run_id, AuditRun.Status.FAILED, claim=token, error=message)
        return "failed"
    if outcome.status == "completed":
        # The run keeps the result its complete event carried (after suppressions), so the page,
        # the stream and the exports can never disagree.
        recorded = AuditEvent.objects.filter(run_id=run_id, type="complete").values_list("payload", flat=True).last()
        result = (recorded or {}).get("result") or outcome.result or {}
        _finish(
            run_id,
            AuditRun.Status.COMPLETED,
            claim=token,
            result=result,
            risk_score=result.get("risk_score"),
            account_id=(result.get("audit_summary") or {}).get("account_id", "") or run.account_id,
        )
    elif outcome.status == "paused":
        AuditRun.objects.filter(pk=run_id, claim=token).update(status=AuditRun.Status.PAUSED, control="")
    elif outcome.status == "cancelled":
        _finish(run_id, AuditRun.Status.CANCELLED, claim=token)
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
    emit = _with_suppressions(recorder.emit, run.pk, snapshot.account_id or run.account_id)
    if run.source == AuditRun.Source.DEMO:
        emit = _paced(emit)
    return run_audit(
        snapshot,
        emit,
        frameworks=list(run.frameworks or []),
        resume=resume,
        control=_control_reader(run.pk),
    )


def _paced(emit):
    """The demo account audits in a few milliseconds; pace it per principal so people can watch it."""
    from django.conf import settings

    step_s = settings.AEGIS_DEMO_STEP_MS / 1000
    if step_s <= 0:
        return emit

    def emit_paced(type: str, message: str, progress, payload=None):
        recorded = emit(type, message, progress, payload)
        if type == "principal":
            time.sleep(step_s)
        return recorded

    return emit_paced


def _with_suppressions(emit, run_id: int, account_id: str):
    """Marks findings a reviewer accepted (unexpired) and keeps them out of the final score."""
    accepted = set(
        Suppression.objects.filter(account_id=account_id, expires_at__gt=timezone.now()).values_list(
            "fingerprint", flat=True
        )
    ) if account_id else set()  # fmt: skip
    if not accepted:
        return emit

    def emit_with(type: str, message: str, progress, payload=None):
        payload = dict(payload or {})
        finding = payload.get("finding")
        if finding and finding.get("fingerprint") in accepted:
            payload["finding"] = finding | {"suppressed": True}
            message = f"{message} (suppressed: accepted risk)"
        if type == "complete" and payload.get("result"):
            payload["result"] = _rescore(payload["result"], run_id, accepted)
        return emit(type, message, progress, payload)

    return emit_with


def _rescore(result: dict, run_id: int, accepted: set[str]) -> dict:
    kept = [f.to_dict() for f in Finding.objects.filter(run_id=run_id).exclude(fingerprint__in=accepted)]
    suppressed = Finding.objects.filter(run_id=run_id, fingerprint__in=accepted).count()
    new_score = score(kept)
    return result | {
        "risk_score": new_score,
        "risk_band": band(new_score),
        "risk_score_before_suppressions": result.get("risk_score"),
        "suppressed_findings": suppressed,
    }


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
        if run.target.get("role_arn"):
            recorder.emit("progress", f"Connecting to account {run.account_id} as {run.target['role_arn']}...", 3)
            session = org_runs.member_session(run)
        else:
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
            try:
                value = AuditRun.objects.filter(pk=run_id).values_list("control", flat=True).first()
            except (OperationalError, InterfaceError):
                # A brief database outage must not fail the audit: keep the last answer, reconnect next time
                # (the recorder retries its writes the same way).
                log.warning("control check for run %s failed; retrying at the next checkpoint", run_id)
                connection.close()
                return last_value
            last_value = value or None
        return last_value

    return control


def _describe_failure(exc: Exception) -> tuple[str, bool]:
    from audits.iam.collect import CollectionError
    from audits.iam.snapshot import SnapshotError

    if isinstance(exc, (SnapshotError, CollectionError, AuditInputError, org_runs.OrganizationInputError)):
        return f"Error: {exc}", True
    return "Error: the audit stopped on an internal error; it has been logged for the operators.", False


def _finish(run_id: int, status: str, *, claim: str | None = None, **changes) -> None:
    runs = AuditRun.objects.filter(pk=run_id).filter(~Q(status__in=AuditRun.FINISHED))
    if claim is not None:
        runs = runs.filter(claim=claim)
    runs.update(status=status, finished=timezone.now(), control="", **changes)


def cancel_idle(run_id: int) -> None:
    """Cancel a run that no worker holds: record the event and end it, keeping what it found."""
    with transaction.atomic():
        idle = [AuditRun.Status.QUEUED, AuditRun.Status.PAUSED, AuditRun.Status.INTERRUPTED]
        if AuditRun.objects.select_for_update().filter(pk=run_id, status__in=idle).exists():
            Recorder(run_id).emit("cancelled", "Audit cancelled by the user.", None, {})
            _finish(run_id, AuditRun.Status.CANCELLED)


def requeue_stale_runs(auto_resume: bool = True) -> list[int]:
    """Runs whose worker stopped beating are resumed elsewhere (or marked interrupted).

    Safe to call from every web process at once: the conditional UPDATE lets one of them win."""
    cutoff = timezone.now() - timedelta(seconds=STALE_AFTER_S)
    stale = list(
        AuditRun.objects.filter(status=AuditRun.Status.RUNNING, heartbeat__lt=cutoff)
        # An organization run whose accounts are queued holds no worker: its children report to it.
        .exclude(kind=AuditRun.Kind.ORGANIZATION, checkpoint__children_created=True)
        .values_list("pk", flat=True)
    )
    taken: list[int] = []
    for run_id in stale:
        with transaction.atomic():
            target = AuditRun.Status.QUEUED if auto_resume else AuditRun.Status.INTERRUPTED
            moved = AuditRun.objects.filter(pk=run_id, status=AuditRun.Status.RUNNING, heartbeat__lt=cutoff).update(
                status=target, claim=""
            )
            if not moved:
                continue
            note = (
                "The worker running this audit stopped responding; resuming from the last checkpoint."
                if auto_resume
                else "The worker running this audit stopped responding; resume it to continue."
            )
            Recorder(run_id).emit("warning", note, None, {"interrupted": True})
            if auto_resume:
                transaction.on_commit(lambda run_id=run_id: _enqueue_id(run_id))
            taken.append(run_id)
    return taken


def _enqueue_id(run_id: int) -> None:
    from audits.tasks import execute_audit

    execute_audit.enqueue(run_id)
