"""What a finished run found that the previous run of the same source did not: new, resolved, changed in severity.

Every completed run is compared, when it completes, with the owner's previous completed run of the same source
(audits.runs.sources: the same key and account, as audits.compare matches them). The counts are recorded on the run
(`target["drift"]`), so the runs list reads three numbers instead of comparing two runs' findings again; the webhook
(audits.webhooks) asks `drift_of()` for the same counts with the worst findings of each kind.

An organization run is compared with the previous organization run of the same connection, its member accounts'
findings included, and the counts are also kept per member account (`"members"`); its own cross-account findings
count under no member. A member account's run is compared with that account's previous member run.

Muted and accepted findings are left out the way the score leaves them out: a finding muted now is neither new nor
changed, and one that was muted before and is gone now is not announced as resolved.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Q

from audits.models import AuditRun, Finding

log = logging.getLogger(__name__)

KINDS = ("new", "resolved", "changed")
RANK = {sev: i for i, sev in enumerate(("critical", "high", "medium", "low", "info"))}
# Where a finding belongs within a run: "" for the run's own findings, else the member account it was found in.
Key = tuple[str, str]


@dataclass(frozen=True)
class _Row:
    severity: str
    suppressed: bool
    seq: int


@dataclass
class Drift:
    """Keys of the new, resolved and changed findings, worst first; `before` and `after` have a changed finding's
    earlier and current severities."""

    run_id: int
    previous: int | None
    new: list[Key] = field(default_factory=list)
    resolved: list[Key] = field(default_factory=list)
    changed: list[Key] = field(default_factory=list)
    before: dict[Key, str] = field(default_factory=dict)
    after: dict[Key, str] = field(default_factory=dict)
    new_by_severity: Counter = field(default_factory=Counter)
    organization: bool = False

    def counts(self) -> dict:
        """What is recorded on the run: {"previous", "new", "resolved", "changed"}, plus "members" for an
        organization run (each member account's three counts, only accounts with any)."""
        if self.previous is None:
            return {"previous": None}
        counts: dict = {"previous": self.previous, **{kind: len(getattr(self, kind)) for kind in KINDS}}
        if self.organization:
            members: dict[str, Counter] = {}
            for kind in KINDS:
                for scope, _ in getattr(self, kind):
                    if scope:
                        members.setdefault(scope, Counter())[kind] += 1
            counts["members"] = {
                account: {kind: tally[kind] for kind in KINDS} for account, tally in sorted(members.items())
            }
        return counts

    @property
    def total(self) -> int:
        return len(self.new) + len(self.resolved) + len(self.changed)


def previous_of_same_source(run: AuditRun) -> AuditRun | None:
    """The owner's latest completed run before this one from the same source (audits.runs.sources) and account:
    the demo account, an upload of the same file, the same connection audited the same way (account, organization,
    or one member account of the organization)."""
    runs = AuditRun.objects.filter(
        owner_id=run.owner_id,
        source_key=run.source_key,
        status=AuditRun.Status.COMPLETED,
        created__lt=run.created,
    )
    if run.account_id:  # a connection re-pointed at another account starts a new history (audits.compare)
        runs = runs.filter(account_id=run.account_id)
    if not run.source_key:  # a run made before keys were kept: its source's fields, as before
        runs = runs.filter(
            source=run.source, connection_id=run.connection_id, kind=run.kind, parent__isnull=run.parent_id is None
        )
    return runs.exclude(pk=run.pk).only("pk").order_by("-created", "-pk").first()


def _rows(run_id: int) -> dict[Key, _Row]:
    """(scope, fingerprint) -> severity, suppressed and order of a run's findings and its member accounts'."""
    rows = Finding.objects.filter(Q(run_id=run_id) | Q(run__parent_id=run_id)).values_list(
        "run_id", "run__account_id", "fingerprint", "severity", "suppressed", "seq"
    )
    return {
        ("" if owner == run_id else account or f"run {owner}", fingerprint): _Row(severity, suppressed, seq or 0)
        for owner, account, fingerprint, severity, suppressed, seq in rows
    }


def drift_between(run_id: int, previous_id: int | None, *, organization: bool = False) -> Drift:
    """The drift of run_id since previous_id; with no previous run, every counted finding is new."""
    now = _rows(run_id)
    before = _rows(previous_id) if previous_id is not None else {}
    drift = Drift(run_id, previous_id, organization=organization)

    def worst_first(keys: list[Key], rows: dict[Key, _Row]) -> list[Key]:
        return sorted(keys, key=lambda key: (RANK.get(rows[key].severity, 9), rows[key].seq, key))

    drift.new = worst_first([k for k, row in now.items() if not row.suppressed and k not in before], now)
    drift.resolved = worst_first([k for k, row in before.items() if not row.suppressed and k not in now], before)
    # Fingerprints leave severity out, so the same finding rated differently is the same fingerprint.
    drift.changed = worst_first(
        [k for k, row in now.items() if not row.suppressed and k in before and before[k].severity != row.severity],
        now,
    )
    drift.before = {key: before[key].severity for key in drift.changed}
    drift.after = {key: now[key].severity for key in drift.changed}
    drift.new_by_severity = Counter(now[key].severity for key in drift.new)
    return drift


def top_items(drift: Drift, kind: str, limit: int) -> list[dict]:
    """The worst `limit` findings of one kind ("new", "resolved", "changed"), each as a plain dict: severity (and
    previous_severity for a changed one), title, check id, principal, the member account ("" for the run's own)."""
    keys = getattr(drift, kind)[:limit]
    if not keys:
        return []
    run_id = drift.previous if kind == "resolved" else drift.run_id
    columns = ("run_id", "run__account_id", "fingerprint", "severity", "title", "check_id", "principal_type",
               "principal_name", "principal_arn")  # fmt: skip
    found = {}
    rows = Finding.objects.filter(Q(run_id=run_id) | Q(run__parent_id=run_id), fingerprint__in={fp for _, fp in keys})
    for row in rows.values(*columns):
        scope = "" if row["run_id"] == run_id else row["run__account_id"] or f"run {row['run_id']}"
        found[(scope, row["fingerprint"])] = row
    items = []
    for key in keys:
        row = found.get(key)
        if row is None:  # deleted since (purge_runs): the counts stand, the item is not listed
            continue
        item = {name: row[name] for name in columns[2:]} | {"account_id": key[0]}
        if kind == "changed":
            item["previous_severity"] = drift.before[key]
        items.append(item)
    return items


def _is_organization(run: AuditRun) -> bool:
    return run.kind == AuditRun.Kind.ORGANIZATION and run.parent_id is None


def drift_of(run: AuditRun) -> Drift:
    previous = previous_of_same_source(run)
    return drift_between(run.pk, previous.pk if previous else None, organization=_is_organization(run))


def summary(drift: dict | None) -> str:
    """ "3 new, 1 resolved, 2 changed in severity", or "" when there was no earlier run to compare with."""
    if not drift or drift.get("previous") is None:
        return ""
    return f"{drift['new']} new, {drift['resolved']} resolved, {drift['changed']} changed in severity"


def record_drift(run_id: int) -> bool:
    """Store the drift of a completed run on it; False when it could not. Never raises: the run is done."""
    try:
        run = AuditRun.objects.only(
            "pk", "owner_id", "source", "source_key", "connection_id", "kind", "created", "target", "account_id",
            "parent_id",
        ).get(pk=run_id)  # fmt: skip
        target = dict(run.target or {})
        previous = previous_of_same_source(run)
        # A first run has nothing to compare with: no need to read its findings.
        target["drift"] = (
            drift_between(run.pk, previous.pk, organization=_is_organization(run)).counts()
            if previous
            else {"previous": None}
        )
        AuditRun.objects.filter(pk=run.pk).update(target=target)
    except Exception:
        log.exception("drift of run %s could not be recorded", run_id)
        return False
    return True
