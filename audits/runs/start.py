"""Every way a run becomes queued: started (portal, API, schedule, retry), resumed, or requeued after its worker died.

Each is an INSERT or a conditional UPDATE (starting and resuming within the owner's active-run limit,
audits.runs.limits) that hands the run to a worker through `worker.enqueue` once the transaction commits. This
module sits above the worker, which never imports it: the worker queues only an organization run's accounts, through
the `enqueue` beside its task.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.models import AuditRun
from audits.runs import inputs, limits, organization, sources, worker
from audits.runs.limits import TooManyActiveRunsError as TooManyActiveRunsError  # where views catch it
from audits.runs.recorder import Recorder
from audits.runs.status import RESUMABLE

Status = AuditRun.Status


def start_run(owner, *, source: str, frameworks: list[str], **fields) -> AuditRun:
    """Create a run and queue it, within the owner's limit of active audits (audits.runs.limits).

    Its source key comes from its fields unless given (an upload's names the digest of its bytes)."""
    fields.setdefault("source_key", sources.key_for_new_run(source, fields))
    with transaction.atomic():
        limits.reserve(owner.pk)
        run = AuditRun.objects.create(owner=owner, source=source, frameworks=frameworks, **fields)
        worker.enqueue(run.pk)
    return run


def start_from_form(owner: Any, form: Any) -> AuditRun:
    """Queue the audit a validated NewAuditForm asks for, with its input stored beside it (portal and API).

    Raises TooManyActiveRunsError past the owner's limit, with nothing stored."""
    data = form.cleaned_data
    fields: dict = {}
    packed = None
    if data["source"] == AuditRun.Source.SNAPSHOT:
        upload = data["snapshot_file"]
        # Compressed from the temporary file before the transaction, so no write lock waits on it.
        packed = inputs.pack_input(upload)
        fields.update(snapshot_name=upload.name[:200], account_id=form.snapshot.account_id if form.snapshot else "")
        fields["source_key"] = sources.upload_key(packed.sha256)  # the same file uploaded again shares history
    elif data["source"] == AuditRun.Source.CONNECTION:
        fields.update(connection=data["connection"], account_id=data["connection"].account_id)
    with transaction.atomic():
        run = start_run(owner, source=data["source"], frameworks=data["frameworks"], **fields)
        if packed is not None:
            inputs.save_input(run, packed)
    return run


def resume(run_id: int) -> bool:
    """paused | interrupted -> queued, and queue it; a running audit asked to pause keeps running (the request is
    withdrawn); False when the run is in none of these states.

    Raises TooManyActiveRunsError when the owner's other active runs already fill the limit."""
    with transaction.atomic():
        # Still running: it holds its worker and its place in the limit, so only the pause request goes.
        if AuditRun.objects.filter(pk=run_id, status=Status.RUNNING, control=AuditRun.Control.PAUSE).update(
            control=AuditRun.Control.NONE
        ):
            return True
        owner_id = AuditRun.objects.filter(pk=run_id, status__in=RESUMABLE).values_list("owner_id", flat=True).first()
        if owner_id is None:
            return False
        limits.reserve(owner_id, excluding=run_id)
        resumed = AuditRun.objects.filter(pk=run_id, status__in=RESUMABLE).update(status=Status.QUEUED, control="")
        if resumed:
            worker.enqueue(run_id)
    return bool(resumed)


def requeue(run_id: int, cutoff, auto_resume: bool) -> bool:
    """running with no heartbeat since cutoff -> queued (resumed elsewhere) or interrupted (for the owner)."""
    with transaction.atomic():
        target = Status.QUEUED if auto_resume else Status.INTERRUPTED
        if not AuditRun.objects.filter(pk=run_id, status=Status.RUNNING, heartbeat__lt=cutoff).update(
            status=target, claim=""
        ):
            return False
        note = (
            "The worker running this audit stopped responding; resuming from the last checkpoint."
            if auto_resume
            else "The worker running this audit stopped responding; resume it to continue."
        )
        Recorder(run_id).emit("warning", note, None, {"interrupted": True})
        if auto_resume:
            worker.enqueue(run_id)
    return True


def requeue_stale_runs(auto_resume: bool | None = None) -> list[int]:
    """Runs whose worker stopped beating are resumed elsewhere (or marked interrupted).

    Safe to call from every web process at once: the conditional UPDATE lets one of them win each run."""
    if auto_resume is None:
        auto_resume = settings.AEGIS_AUTO_RESUME
    cutoff = timezone.now() - timedelta(seconds=settings.AEGIS_STALE_AFTER_S)
    stale = (
        AuditRun.objects.filter(status=Status.RUNNING, heartbeat__lt=cutoff)
        # An organization run whose accounts are queued holds no worker: its children report to it.
        .exclude(kind=AuditRun.Kind.ORGANIZATION, checkpoint__children_created=True)
        .values_list("pk", flat=True)
    )
    return [run_id for run_id in list(stale) if requeue(run_id, cutoff, auto_resume)]


def resume_organization(parent: AuditRun) -> int:
    """Every paused or interrupted account audit of the organization is queued again; the parent reads running."""
    resumed = _resume_children(parent.pk)
    Recorder(parent.pk).emit(
        "resumed",
        f"Organization audit resumed ({resumed} account audit(s)).",
        None,
        {"org": organization.org_counts(parent.pk)},
    )
    return resumed


def _resume_children(parent_id: int) -> int:
    """Every paused or interrupted child -> queued (handed to a worker on commit), every child still pausing keeps
    running, the parent -> running."""
    with transaction.atomic():
        children = AuditRun.objects.filter(parent_id=parent_id)
        # Children still on their way to a checkpoint keep running: their pause request is withdrawn.
        resumed = children.filter(status=Status.RUNNING, control=AuditRun.Control.PAUSE).update(
            control=AuditRun.Control.NONE
        )
        waiting = AuditRun.objects.filter(parent_id=parent_id, status__in=RESUMABLE).values_list("pk", "status")
        for child_id, status in list(waiting):
            if AuditRun.objects.filter(pk=child_id, status=status).update(status=Status.QUEUED, control=""):
                worker.enqueue(child_id)
                resumed += 1
        AuditRun.objects.filter(pk=parent_id, status=Status.PAUSED).update(status=Status.RUNNING)
    return resumed
