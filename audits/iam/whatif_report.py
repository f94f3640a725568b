"""What a change does to an account: the findings it adds and removes, and the access each principal gains or loses.

    compare(snapshot, ops) -> WhatIf

The change is applied by the what-if (audits.iam.whatif), both snapshots are audited by the same engine (the "after"
analysis built from the "before" one, audits.iam.incremental), and the two results are compared.
`WhatIf.gate_failures` lists the new paths to administrator, new administrators and new grants of admin to others: a
CI gate fails on those (Access Analyzer's check-no-new-access asks it of one policy; this asks it of the account's
paths).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from audits.iam import incremental, scoring
from audits.iam.agent import run_audit
from audits.iam.analysis import Analysis
from audits.iam.checks import SEVERITIES
from audits.iam.finding_types import Finding
from audits.iam.whatif import OpError, apply_ops

# A new finding of one of these fails the gate: a principal becomes (or can make itself or others) administrator.
GATE_CHECKS = frozenset(
    {
        "policy_admin_access",
        "user_admin_access",
        "role_admin_access",
        "group_admin_access",
        "admin_without_mfa",
        "principal_privilege_escalation",
        "principal_grants_admin",
        "policy_privilege_escalation",
        "trust_any_principal",
        "trust_oidc_unrestricted",
        "cross_account_admin_path",
        "external_admin_path",
    }
)
# Access compared principal by principal: the powers a reviewer of an IAM change asks about first.
ACCESS_QUESTIONS = ("administrator", "escalates to administrator")


@dataclass
class WhatIf:
    errors: list[OpError]
    added: list[Finding] = field(default_factory=list)
    removed: list[Finding] = field(default_factory=list)
    changed: list[tuple[Finding, Finding]] = field(default_factory=list)  # (before, after): severity moved
    access: list[dict] = field(default_factory=list)  # {"principal", "gains": [...], "loses": [...]}
    touched: list[str] = field(default_factory=list)
    risk_score: tuple[int | None, int | None] = (None, None)  # before, after

    @property
    def gate_failures(self) -> list[Finding | dict[str, str]]:
        """New or worse admin and escalation findings, and any principal's new power that no such finding names."""
        worse = [after for before, after in self.changed if _rank(after) < _rank(before)]
        found = [f for f in (*self.added, *worse) if f.get("check_id") in GATE_CHECKS]
        named = {f.get("principal_arn") for f in found}
        return found + [
            {"principal_arn": a["principal"], "check_id": "gains", "title": f"gains: {', '.join(a['gains'])}"}
            for a in self.access
            if a["gains"] and a["principal"] not in named
        ]

    def to_dict(self) -> dict:
        return {
            "errors": [e.to_dict() for e in self.errors],
            "added": [_brief(f) for f in self.added],
            "removed": [_brief(f) for f in self.removed],
            "severity_changed": [
                {**_brief(after), "severity_before": before.get("severity")} for before, after in self.changed
            ],
            "access": self.access,
            "touched": self.touched,
            "risk_score": {"before": self.risk_score[0], "after": self.risk_score[1]},
            "gate": "fail" if self.gate_failures or self.errors else "pass",
        }


def audit_findings(snapshot, analysis: Analysis | None = None) -> tuple[list[Finding], dict]:
    """Every finding of one audit of the snapshot, and its result (no compliance framework: only findings count)."""
    findings: list[Finding] = []

    def emit(kind: str, message: str, percent: int | None = None, payload: dict | None = None) -> None:
        if kind == "finding" and payload:
            findings.append(payload["finding"])

    outcome = run_audit(snapshot, emit, analysis=analysis)
    return findings, outcome.result or {}


def compared_findings(analysis: Analysis) -> tuple[list[Finding], int]:
    """The findings an audit of the analysis reports (each principal of its plan in order, each fingerprint once)
    and their risk score, without what a comparison does not read: fixes, patterns, compliance."""
    analysis.fixes = False
    seen: set[str] = set()
    findings: list[Finding] = []
    for step in analysis.plan():
        for finding in analysis.findings(step.principal):
            if finding["fingerprint"] not in seen:
                seen.add(finding["fingerprint"])
                findings.append(finding)
    return findings, scoring.score(findings)


def compare(snapshot, ops: list[dict]) -> WhatIf:
    outcome = apply_ops(snapshot, ops)
    first = Analysis(snapshot)
    before, before_score = compared_findings(first)
    after, after_score = compared_findings(incremental.after(first, outcome))
    old = {f["fingerprint"]: f for f in before}
    new = {f["fingerprint"]: f for f in after}
    report = WhatIf(
        errors=outcome.errors,
        touched=sorted(outcome.touched),
        risk_score=(before_score, after_score),
    )
    report.added = _by_severity(f for key, f in new.items() if key not in old)
    report.removed = _by_severity(f for key, f in old.items() if key not in new)
    report.changed = [(old[k], new[k]) for k in old.keys() & new.keys() if old[k]["severity"] != new[k]["severity"]]
    report.access = _access(before, after)
    return report


def _access(before: list[Finding], after: list[Finding]) -> list[dict]:
    """Principal by principal: administrator or escalating, before and after."""

    def powers(findings: list[Finding]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for f in findings:
            if f.get("principal_type") not in ("user", "role"):
                continue
            if f["check_id"] in ("user_admin_access", "role_admin_access"):
                out.setdefault(f["principal_arn"], set()).add(ACCESS_QUESTIONS[0])
            elif f["check_id"] == "principal_privilege_escalation":
                out.setdefault(f["principal_arn"], set()).add(ACCESS_QUESTIONS[1])
        return out

    old, new = powers(before), powers(after)
    rows = []
    for arn in sorted(old.keys() | new.keys()):
        gains, loses = (
            sorted(new.get(arn, set()) - old.get(arn, set())),
            sorted(old.get(arn, set()) - new.get(arn, set())),
        )
        if gains or loses:
            rows.append({"principal": arn, "gains": gains, "loses": loses})
    return rows


def _rank(finding: Finding) -> int:
    severity = finding.get("severity")
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _by_severity(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (_rank(f), f.get("check_id", ""), f.get("principal_arn", "")))


def _brief(f: Finding) -> dict:
    return {
        "check_id": f.get("check_id"),
        "severity": f.get("severity"),
        "principal_arn": f.get("principal_arn"),
        "policy": f.get("policy"),
        "title": f.get("title"),
        "detail": f.get("detail"),
        "fingerprint": f.get("fingerprint"),
    }


def as_text(report: WhatIf) -> str:
    lines = []
    for error in report.errors:
        lines.append(f"refused  op {error.index + 1} {error.operation}: {error.code}: {error.message}")
    for f in report.added:
        lines.append(f"+ {f['severity']:<8} {f['check_id']}  {f['principal_arn']}  {f['title']}")
    for f in report.removed:
        lines.append(f"- {f['severity']:<8} {f['check_id']}  {f['principal_arn']}  {f['title']}")
    for before, after in report.changed:
        lines.append(f"~ {before['severity']}->{after['severity']}  {after['check_id']}  {after['principal_arn']}")
    for row in report.access:
        if row["gains"]:
            lines.append(f"gains    {row['principal']}: {', '.join(row['gains'])}")
        if row["loses"]:
            lines.append(f"loses    {row['principal']}: {', '.join(row['loses'])}")
    failures = report.gate_failures
    if failures:
        verdict = f"gate: FAIL ({len(failures)} new path(s) to administrator or admin grant(s))"
    elif report.errors:
        verdict = f"gate: FAIL (IAM would refuse {len(report.errors)} operation(s) as written)"
    else:
        verdict = "gate: pass"
    counts = f"{len(report.added)} added, {len(report.removed)} removed, {len(report.changed)} changed in severity"
    lines.append(f"{counts}; {verdict}")
    return "\n".join(lines) + "\n"
