"""Retry: a new run of the same input, linked to the run it retries, created once however often Retry is pressed."""

from django.db import transaction

from audits.models import AuditRun, RunInput
from audits.runs import limits, start


class _AlreadyRetriedError(Exception):
    """Another Retry of the same run won the race; roll this one back."""


def retry(run: AuditRun) -> tuple[AuditRun, bool]:
    """The run that retries `run` (same source, connection, frameworks and stored input), and whether this call
    created it: a second Retry, at once or later, gets the first one's run, so one click never makes two audits.

    Raises start.TooManyActiveRunsError when the owner is at the limit; nothing is created then."""
    try:
        with transaction.atomic():
            # The owner's lock first: a racing Retry of this run waits here, then finds the winner's run below.
            limits.reserve(run.owner_id)
            earlier = _retried_as(run.pk)
            if earlier is not None:
                return earlier, False
            new = _start_again(run)
            # The conditional UPDATE decides even where the lock does not (another owner process, a lowered limit).
            if not AuditRun.objects.filter(pk=run.pk, retried_as__isnull=True).update(retried_as=new):
                raise _AlreadyRetriedError
    except (_AlreadyRetriedError, limits.TooManyActiveRunsError):
        earlier = _retried_as(run.pk)
        if earlier is None:
            raise
        return earlier, False
    return new, True


def _retried_as(run_id: int) -> AuditRun | None:
    new_id = AuditRun.objects.filter(pk=run_id).values_list("retried_as", flat=True).first()
    return AuditRun.objects.filter(pk=new_id).first() if new_id else None


def _start_again(run: AuditRun) -> AuditRun:
    fields = {
        "connection_id": run.connection_id,
        "account_id": run.account_id,
        "snapshot_name": run.snapshot_name,
        "kind": run.kind,
        "source_key": run.source_key,  # a retry audits the same input, so it keeps its history
        "retry_of": run,
    }
    stored = RunInput.objects.filter(run_id=run.pk).first()
    new = start.start_run(run.owner, source=run.source, frameworks=list(run.frameworks or []), **fields)
    if stored is not None:
        copy_input(stored, new)
    return new


def copy_input(stored: RunInput, to: AuditRun) -> RunInput:
    return RunInput.objects.create(run=to, data=stored.data, size_bytes=stored.size_bytes, sha256=stored.sha256)
