"""What changed since the previous audit of the same account: findings matched by fingerprint."""

from dataclasses import dataclass, field

from audits.models import AuditRun, Finding


@dataclass
class Comparison:
    previous: AuditRun | None
    new: list[Finding] = field(default_factory=list)
    resolved: list[Finding] = field(default_factory=list)
    unchanged: list[Finding] = field(default_factory=list)


def previous_run(run: AuditRun) -> AuditRun | None:
    """The same owner's latest completed audit of the same account that started before this one."""
    if not run.account_id:
        return None
    return (
        AuditRun.objects.filter(
            owner_id=run.owner_id,
            account_id=run.account_id,
            status=AuditRun.Status.COMPLETED,
            created__lt=run.created,
        )
        .exclude(pk=run.pk)
        .defer("result")
        .order_by("-created")
        .first()
    )


def compare(run: AuditRun, previous: AuditRun | None = None) -> Comparison:
    previous = previous if previous is not None else previous_run(run)
    if previous is None:
        return Comparison(None)
    now = {f.fingerprint: f for f in Finding.objects.filter(run=run)}
    before = {f.fingerprint: f for f in Finding.objects.filter(run=previous)}
    return Comparison(
        previous,
        new=[f for fp, f in now.items() if fp not in before],
        resolved=[f for fp, f in before.items() if fp not in now],
        unchanged=[f for fp, f in now.items() if fp in before],
    )
