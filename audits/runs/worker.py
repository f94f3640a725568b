"""Runs one audit inside the worker: claim, load the input, drive the engine, record the end.

The task is declared here, beside `enqueue`, so the worker can queue an organization's accounts without importing
the modules that queue runs from the portal (audits.runs.start, which imports this one)."""

import logging
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Subquery
from django.tasks import task
from django.utils import timezone

from audits import mutelist, webhooks
from audits.models import AuditEvent, AuditRun, Finding, Suppression
from audits.runs import inputs, organization, sources
from audits.runs import status as run_status
from audits.runs.recorder import ClaimLostError, Recorder

log = logging.getLogger(__name__)


class AuditInputError(Exception):
    """The audit cannot start from what it was given; the message is shown to the user."""


# How often the engine's checkpoints ask the database whether the owner pressed pause or cancel.
CONTROL_CHECK_S = 0.25


class Heartbeat(threading.Thread):
    """Keeps the run's heartbeat fresh while a long step (say, an AWS call) emits nothing."""

    def __init__(self, run_id: int, token: str) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.run_id, self.token = run_id, token
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.AEGIS_HEARTBEAT_S):
                try:
                    run_status.beat(self.run_id, self.token)
                except Exception:  # a brief DB outage must not kill the beat
                    log.warning("heartbeat for run %s failed", self.run_id, exc_info=True)
                    connection.close()
        finally:
            connection.close()


def execute(run_id: int) -> str:
    token = run_status.claim(run_id)
    if token is None:
        return "skipped: not queued"
    heartbeat = Heartbeat(run_id, token)
    heartbeat.start()
    try:
        return _execute_claimed(run_id, token)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()


@task()
def execute_audit(run_id: int) -> str:
    """Run (or resume) one audit; a run already claimed elsewhere is left alone."""
    return execute(run_id)


def enqueue(run_id: int) -> None:
    """Queue the run for a worker once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: execute_audit.enqueue(run_id))


def _execute_claimed(run_id: int, token: str) -> str:
    run = AuditRun.objects.get(pk=run_id)
    if run.parent_id:
        organization.child_started(run_id)
    status = _execute_run(run, token)
    if run.parent_id and status in AuditRun.FINISHED:
        organization.child_finished(run_id)  # the organization page hears of it; the last child completes the parent
    return status


def _execute_run(run: AuditRun, token: str) -> str:
    run_id = run.pk
    recorder = Recorder(run_id, claim=token)
    try:
        if run.kind == AuditRun.Kind.ORGANIZATION:
            return execute_parent(run, recorder)
        outcome = _drive(run, recorder)
    except ClaimLostError:
        log.warning("run %s was taken over by another worker; stopping here", run_id)
        return "claim lost"
    except Exception as exc:  # the run must end with an error event, never silently
        message, expected = _describe_failure(exc)
        if not expected:
            log.exception("audit %s failed", run_id)
        recorder.emit("error", message, 100, {"error": message})
        run_status.fail(run_id, message, claim=token)
        return "failed"
    if outcome.status == "completed":
        # The run keeps the result its complete event carried (after suppressions), so the page,
        # the stream and the exports can never disagree.
        recorded = AuditEvent.objects.filter(run_id=run_id, type="complete").values_list("payload", flat=True).last()
        result = (recorded or {}).get("result") or outcome.result or {}
        run_status.finish(
            run_id,
            AuditRun.Status.COMPLETED,
            claim=token,
            result=result,
            risk_score=result.get("risk_score"),
            account_id=(result.get("audit_summary") or {}).get("account_id", "") or run.account_id,
        )
        webhooks.notify_finished(run_id)  # never raises; a slow or failing webhook costs the run nothing
    elif outcome.status == "paused":
        ended = run_status.mark_paused(run_id, token)  # paused, or queued again / cancelled if asked meanwhile
        if ended == AuditRun.Status.QUEUED:
            enqueue(run_id)
        return ended
    elif outcome.status == "cancelled":
        run_status.finish(run_id, AuditRun.Status.CANCELLED, claim=token)
    return outcome.status


def _drive(run: AuditRun, recorder: Recorder):
    from audits.iam import ResumeState, run_audit

    snapshot = load_snapshot_for(run, recorder)
    if snapshot.account_id and snapshot.account_id != run.account_id:
        AuditRun.objects.filter(pk=run.pk).update(account_id=snapshot.account_id)
    resume = None
    done = int((run.checkpoint or {}).get("principals_done", 0))
    if run.last_seq > 0:
        # Accepted risks are marked again from the suppressions in force now; mutes stay (Finding.as_engine_finding).
        stored = Finding.objects.filter(run_id=run.pk).order_by("seq", "pk")
        findings = [f.as_engine_finding(keep_accepted=False) for f in stored]
        resume = ResumeState(principals_done=done, findings=findings, progress=run.progress)
    accepted = accepted_risks(run.pk, snapshot.account_id or run.account_id, run.source_key)
    # Rules in force when the run starts (or resumes); a finished run keeps the result it had.
    muted = mutelist.muter(mutelist.active_rules(run.owner_id), snapshot.account_id or run.account_id, snapshot)
    emit = recorder.emit
    if run.source == AuditRun.Source.DEMO:
        emit = _paced(emit)
    return run_audit(
        snapshot,
        emit,
        frameworks=list(run.frameworks or []),
        resume=resume,
        control=_control_reader(run.pk),
        accepted=accepted,
        verify_fixes=_verify_fixes(snapshot),
        muted=muted,
    )


# --- an organization run: list its accounts and queue an account audit for each ---------------------------


def execute_parent(run: AuditRun, recorder: Recorder) -> str:
    """Lists the accounts and queues a child run for each. Returns the parent's status afterwards."""
    from audits.iam.collect import CollectionError, session_for
    from audits.iam.organization import accounts
    from audits.iam.organization_collect import collect_organization

    connection = run.connection
    if connection is None:
        raise organization.OrganizationInputError("this organization audit's AWS connection was deleted.")
    recorder.emit("start", "Organization audit started - reading the organization...", 2, {})
    warnings: list[str] = []
    session = session_for(connection.role_arn, connection.external_id)
    org = collect_organization(session, warnings.append)
    for text in warnings:
        recorder.emit("warning", text, None, {})
    if org is None:
        raise CollectionError("the connection's account cannot read the organization (organizations:ListAccounts)")
    # Member accounts cannot read their own SCPs; each child audit takes the tree and policies from here.
    inputs.store_input(run.pk, {"organization": org})
    members = [a for a in accounts(org) if a["status"] in ("", "ACTIVE")]
    skipped = len(accounts(org)) - len(members)
    recorder.emit(
        "progress",
        f"Organization {org['id']}: {len(members)} active accounts"
        + (f" ({skipped} suspended or closed, skipped)" if skipped else ""),
        4,
        {
            "organization": {
                "id": org["id"],
                "management_account_id": org["management_account_id"],
                "accounts": len(members),
            }
        },
    )
    role_name = str(run.target.get("member_role_name") or "")
    created = create_children(run, members, org["management_account_id"], connection.role_arn, role_name)
    recorder.emit(
        "thinking",
        f"Queued {created} account audit(s); any free worker takes them. Each assumes role '{role_name}' "
        "in its account.",
        5,
        {"org": organization.org_counts(run.pk)},
    )
    AuditRun.objects.filter(pk=run.pk).update(checkpoint={"children_created": True})
    organization.maybe_complete(run.pk)  # an organization with no member account to audit ends here
    return "children queued"


def create_children(
    parent: AuditRun, members: list[dict], management_id: str, management_role: str, role_name: str
) -> int:
    external_id = str(parent.target.get("external_id") or "")
    created = 0
    with transaction.atomic():
        existing = set(parent.children.values_list("account_id", flat=True))
        for account in members:
            if account["id"] in existing:
                continue
            # The management account is audited through the connection's own role.
            own = account["id"] == management_id
            child = AuditRun.objects.create(
                owner_id=parent.owner_id,
                source=AuditRun.Source.CONNECTION,
                connection=parent.connection,
                kind=AuditRun.Kind.ACCOUNT,
                parent=parent,
                frameworks=parent.frameworks,
                account_id=account["id"],
                source_key=sources.key_for(
                    AuditRun.Source.CONNECTION, connection_id=parent.connection_id, member_account=account["id"]
                ),
                target={
                    "account_id": account["id"],
                    "account_name": account["name"],
                    "role_arn": management_role if own else organization.member_role_arn(account["id"], role_name),
                    "external_id": "" if own else external_id,
                },
            )
            enqueue(child.pk)
            created += 1
    return created


def _verify_fixes(snapshot) -> bool:
    """Each fix is proven by analysing the account again with the fix applied (a round or more per admin or
    escalation finding), which pays on the accounts people read finding by finding; past the setting's number of
    users and roles the fixes cut the path shown and say they are not verified."""
    from audits.iam.fix_plan import proves_fixes

    return proves_fixes(snapshot, settings.AEGIS_VERIFY_FIXES_MAX_PRINCIPALS)


def _paced(emit):
    """The demo account audits in a few milliseconds; pace it per principal so people can watch it."""
    step_s = settings.AEGIS_DEMO_STEP_MS / 1000
    if step_s <= 0:
        return emit

    def emit_paced(type: str, message: str, progress, payload=None):
        recorded = emit(type, message, progress, payload)
        if type == "principal":
            time.sleep(step_s)
        return recorded

    return emit_paced


def accepted_risks(run_id: int, account_id: str, source_key: str = "") -> frozenset[str]:
    """Fingerprints of the run owner's unexpired accepted risks on the account and source; the engine leaves them
    out of score, counts, top risks, compliance and live stats."""
    # Only the run owner's own accepted risks: an upload declares its account id itself, so matching on the
    # account alone would hand one tenant's suppressions to anyone who claims the account. And only those of the
    # same source: the demo, an upload and a connection may all name one account id.
    if not account_id:
        return frozenset()
    owner = AuditRun.objects.filter(pk=run_id).values("owner_id")[:1]
    return frozenset(
        Suppression.objects.filter(
            sources.same_source_suppressions(source_key),
            owner_id=Subquery(owner),
            account_id=account_id,
            expires_at__gt=timezone.now(),
        ).values_list("fingerprint", flat=True)
    )


def load_snapshot_for(run: AuditRun, recorder: Recorder):
    from audits.iam.snapshot import load_demo_snapshot

    if run.source == AuditRun.Source.DEMO:
        return load_demo_snapshot()
    if inputs.has_input(run.pk):
        return inputs.load_input(run.pk)
    if run.source == AuditRun.Source.CONNECTION:
        from audits.iam.collect import collect_snapshot, session_for

        connection = run.connection
        if connection is None:
            raise AuditInputError("this audit's AWS connection was deleted.")
        if run.target.get("role_arn"):
            recorder.emit("progress", f"Connecting to account {run.account_id} as {run.target['role_arn']}...", 3)
            session = organization.member_session(run)
        else:
            recorder.emit("progress", f"Connecting to AWS as {connection.role_arn}...", 3)
            session = session_for(connection.role_arn, connection.external_id)
        snapshot = collect_snapshot(session, lambda text: recorder.emit("warning", text, None, {}))
        if run.parent_id and snapshot.organization is None:
            # A member account cannot read its SCPs; the organization audit collected them for its accounts.
            snapshot.organization = organization.organization_of(run.parent_id)
        # Stored so a resumed run audits the same data, on whichever worker picks it up.
        inputs.store_input(run, snapshot)
        AuditRun.objects.filter(pk=run.pk).update(account_id=snapshot.account_id)
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

    if isinstance(exc, (SnapshotError, CollectionError, AuditInputError, organization.OrganizationInputError)):
        return f"Error: {exc}", True
    return "Error: the audit stopped on an internal error; it has been logged for the operators.", False
