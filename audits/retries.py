"""Retry: a new run of the same input, linked to the run it retries."""

from django.db import transaction

from audits import runner
from audits.models import AuditRun, RunInput


def retry(run: AuditRun) -> AuditRun:
    """Start a new run of `run`'s input (same source, connection, frameworks), within the active-run limit.

    Raises runner.TooManyActiveRunsError when the owner is at the limit; nothing is created then."""
    fields = {
        "connection_id": run.connection_id,
        "account_id": run.account_id,
        "snapshot_name": run.snapshot_name,
        "kind": run.kind,
        "retry_of": run,
    }
    with transaction.atomic():
        stored = RunInput.objects.filter(run_id=run.pk).first()
        new = runner.start_run(run.owner, source=run.source, frameworks=list(run.frameworks or []), **fields)
        if stored is not None:
            copy_input(stored, new)
    return new


def copy_input(stored: RunInput, to: AuditRun) -> RunInput:
    return RunInput.objects.create(run=to, data=stored.data, size_bytes=stored.size_bytes, sha256=stored.sha256)
