"""What a scheduled run found that the previous run of the same source did not: new, resolved, changed in severity.

Recorded on the run (`target["drift"]`) when it completes, so the runs list and the webhook read three numbers
instead of comparing two runs' findings again. An organization run is compared with all its accounts' findings.
"""

import logging

from django.db.models import Q

from audits.models import AuditRun, Finding

log = logging.getLogger(__name__)


def previous_of_same_source(run: AuditRun) -> AuditRun | None:
    """The owner's latest completed run before this one from the same source (audits.run_sources): the demo
    account, or the same connection audited the same way (account or organization)."""
    runs = AuditRun.objects.filter(
        owner_id=run.owner_id,
        source_key=run.source_key,
        parent__isnull=True,
        status=AuditRun.Status.COMPLETED,
        created__lt=run.created,
    )
    if not run.source_key:  # a run made before keys were kept: its source's fields, as before
        runs = runs.filter(source=run.source, connection_id=run.connection_id, kind=run.kind)
    return runs.exclude(pk=run.pk).only("pk").order_by("-created", "-pk").first()


def _severities(run_id: int) -> dict[str, str]:
    """fingerprint -> severity of a run's findings and, for an organization run, of its accounts' findings."""
    rows = Finding.objects.filter(Q(run_id=run_id) | Q(run__parent_id=run_id)).values_list("fingerprint", "severity")
    return dict(rows)


def drift_between(run_id: int, previous_id: int) -> dict:
    now, before = _severities(run_id), _severities(previous_id)
    return {
        "previous": previous_id,
        "new": sum(1 for fp in now if fp not in before),
        "resolved": sum(1 for fp in before if fp not in now),
        # Fingerprints leave severity out, so the same finding rated differently is the same fingerprint.
        "changed": sum(1 for fp, sev in now.items() if fp in before and before[fp] != sev),
    }


def summary(drift: dict | None) -> str:
    """ "3 new, 1 resolved, 2 changed in severity", or "" when there was no earlier run to compare with."""
    if not drift or drift.get("previous") is None:
        return ""
    return f"{drift['new']} new, {drift['resolved']} resolved, {drift['changed']} changed in severity"


def record_drift(run_id: int) -> None:
    """Store the drift of a completed scheduled run; other runs are left alone. Never raises: the run is done."""
    try:
        run = AuditRun.objects.only(
            "pk", "owner_id", "source", "source_key", "connection_id", "kind", "created", "target"
        ).get(pk=run_id)
        target = dict(run.target or {})
        if "schedule" not in target:
            return
        previous = previous_of_same_source(run)
        target["drift"] = drift_between(run.pk, previous.pk) if previous else {"previous": None}
        AuditRun.objects.filter(pk=run.pk).update(target=target)
    except Exception:
        log.exception("drift of scheduled run %s could not be recorded", run_id)
