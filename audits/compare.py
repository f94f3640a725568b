"""What changed between two runs: findings matched by fingerprint, worst first."""

from dataclasses import dataclass, field

from audits.models import SEVERITIES, AuditRun, Finding
from audits.runs import access

CHOICES_LIMIT = 200
_RANK = {sev: i for i, sev in enumerate(SEVERITIES)}


@dataclass
class Comparison:
    previous: AuditRun | None
    new: list[Finding] = field(default_factory=list)
    resolved: list[Finding] = field(default_factory=list)
    unchanged: list[Finding] = field(default_factory=list)


def previous_run(run: AuditRun) -> AuditRun | None:
    """The same owner's latest completed audit of the same source and account that started before this one.

    The source (audits.runs.sources) keeps the demo, an upload and a connection apart even when they name one
    account id; the account keeps a connection re-pointed at another account apart from its earlier history."""
    if not run.account_id:
        return None
    return (
        AuditRun.objects.filter(
            owner_id=run.owner_id,
            source_key=run.source_key,
            account_id=run.account_id,
            status=AuditRun.Status.COMPLETED,
            created__lt=run.created,
        )
        .exclude(pk=run.pk)
        .defer("result", "checkpoint")
        .order_by("-created", "-pk")
        .first()
    )


def visible_runs(user, *, exclude: AuditRun) -> list[AuditRun]:
    """Completed runs of any source the user may see (staff: everyone's), newest first, to compare with."""
    runs = access.visible_runs(user).filter(status=AuditRun.Status.COMPLETED).exclude(pk=exclude.pk)
    # The picker labels each run by its source (audits.runs.sources.label): the connection's name is read with it.
    columns = ("pk", "account_id", "created", "owner_id", "risk_score", "source", "source_key", "snapshot_name")
    runs = runs.select_related("connection").only(*columns, "connection__name")
    return list(runs.order_by("-created", "-pk")[:CHOICES_LIMIT])


def _worst_first(findings) -> list[Finding]:
    return sorted(findings, key=lambda f: (_RANK.get(f.severity, 9), f.title, f.principal_name))


def compare(run: AuditRun, previous: AuditRun | None = None) -> Comparison:
    previous = previous if previous is not None else previous_run(run)
    if previous is None:
        return Comparison(None)
    columns = ("fingerprint", "severity", "title", "principal_name", "run_id")
    now = {f.fingerprint: f for f in Finding.objects.filter(run=run).only(*columns)}
    before = {f.fingerprint: f for f in Finding.objects.filter(run=previous).only(*columns)}
    return Comparison(
        previous,
        new=_worst_first(f for fp, f in now.items() if fp not in before),
        resolved=_worst_first(f for fp, f in before.items() if fp not in now),
        unchanged=_worst_first(f for fp, f in now.items() if fp in before),
    )
