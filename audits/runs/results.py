"""A finished run's stored score, counts and result follow its findings' suppressed marks.

The run page, the runs list, compare, the trends, the review pages, the API, the exports and the webhook all read
the run's stored `risk_score` and `result`. When a reviewer accepts a risk (or takes an acceptance back) after the
run finished, the findings' marks change, so the same transaction computes the result again with the engine's own
function (audits.iam.agent.restate) and stores it: every surface then shows what a new audit of the same snapshot
with the same accepted risks shows. A member account's run is part of its organization run's roll-up, which is
stored again in the same transaction (audits.runs.organization.restate). Mute rules apply to runs that start after
them (audits.views.mutelist), so a finished run's muted marks, and with them its result, stay as they were.
"""

from collections.abc import Iterable

from django.db import transaction

from audits.iam.agent import restate
from audits.iam.finding_types import Finding as FindingDict
from audits.models import AuditRun, Finding
from audits.runs import organization


def later_runs_of_source(run: AuditRun, fingerprints: Iterable[str]):
    """The completed runs an acceptance on `run` reaches: this one and the owner's later runs of the same source
    and account that have one of those findings."""
    return AuditRun.objects.filter(
        owner_id=run.owner_id,
        source_key=run.source_key,
        account_id=run.account_id,
        status=AuditRun.Status.COMPLETED,
        created__gte=run.created,
        findings__fingerprint__in=list(fingerprints),
    ).distinct()


def mark(runs, fingerprints: Iterable[str], suppressed: bool) -> list[int]:
    """Mark those findings (accepted: suppressed; taken back: open again, unless a mute rule covers one) in each run,
    and store each run's result again. Inside the caller's transaction; returns the runs changed."""
    fingerprints = list(fingerprints)
    run_ids = list(runs.values_list("pk", flat=True))
    findings = Finding.objects.filter(run_id__in=run_ids, fingerprint__in=fingerprints)
    if not suppressed:
        findings = findings.filter(muted_by="")
    findings.update(suppressed=suppressed)
    for run_id in run_ids:
        store(run_id)
    return run_ids


@transaction.atomic
def store(run_id: int) -> None:
    """Compute the completed run's result again from its findings as they are marked now, and store it (and its
    organization's, when it is a member account's run)."""
    run = AuditRun.objects.select_for_update().filter(pk=run_id, status=AuditRun.Status.COMPLETED).first()
    if run is None or not run.result:
        return
    result = restate(run.result, findings_of(run_id))
    AuditRun.objects.filter(pk=run_id).update(result=result, risk_score=result["risk_score"])
    if run.parent_id:
        # A member account's figures are part of its organization's roll-up, which is stored too.
        organization.restate(run.parent_id)


def findings_of(run_id: int) -> list[FindingDict]:
    """The run's findings in the order the engine emitted them, as it emitted them, each with its stored marks."""
    rows = Finding.objects.filter(run_id=run_id).order_by("seq", "pk").iterator(chunk_size=2000)
    return [row.as_engine_finding(keep_accepted=True) for row in rows]
