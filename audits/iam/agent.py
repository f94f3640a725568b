"""The audit run: plan, analyse principal by principal, then patterns, compliance and score — all as events.

Events go out through one `emit(type, message, progress, payload)` callback. Progress never goes backwards.
A checkpoint ("principal" event, emitted after that principal's findings) lets a run pause, be cancelled, or
resume on another worker: the plan is deterministic for a snapshot, so `principals_done` names the same place.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from audits.iam import actions, compliance, fix_plan, patterns, scoring
from audits.iam.analysis import Analysis, Step
from audits.iam.checks import CATEGORIES, SEVERITIES
from audits.iam.finding_types import Finding, Fix
from audits.iam.snapshot import mixed_accounts_warning

Emit = Callable[[str, str, int, dict], object]  # what it returns is ignored
# Given a finding, the name of the mute rule that covers it ("rule #3: <reason>"), or None.
Muter = Callable[[Finding], str | None]

PRINCIPALS_START, PRINCIPALS_END = 10, 95


@dataclass
class ResumeState:
    principals_done: int
    findings: list[Finding] = field(default_factory=list)
    progress: int = 0


@dataclass
class AuditOutcome:
    status: str  # "completed" | "paused" | "cancelled"
    result: dict | None = None


class _Progress:
    """Wraps emit so progress is monotonic whatever a caller computes."""

    def __init__(self, emit: Emit, start: int = 0) -> None:
        self.emit_fn = emit
        self.value = start

    def __call__(self, kind: str, message: str, progress: int | None = None, payload: dict | None = None) -> None:
        if progress is not None:
            self.value = max(self.value, min(100, progress))
        self.emit_fn(kind, message, self.value, payload or {})


@contextmanager
def _fewer_full_collections() -> Iterator[None]:
    """Defer full (generation-2) garbage collections while an audit runs, then restore the thresholds.

    An audit builds a large, long-lived, acyclic heap (snapshot, compiled policies, findings); each full
    collection re-walks all of it, which made a 10,000-role audit cost 2.2x a 5,000-role one instead of 2.0x
    (0.7 s of 2.6 s in three full passes). Young-generation collections still run, so cyclic garbage made by
    the emit callback (ORM objects) is reclaimed as usual.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 1000))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def run_audit(
    snapshot,
    emit: Emit,
    *,
    frameworks: Sequence[str] = (),
    resume: ResumeState | None = None,
    control: Callable[[], str | None] = lambda: None,
    accepted: frozenset[str] = frozenset(),
    verify_fixes: bool = False,
    muted: Muter | None = None,
    analysis: Analysis | None = None,
) -> AuditOutcome:
    """accepted: fingerprints of accepted risks. Their findings are still emitted, marked "suppressed": True,
    and left out of the score, the counts, the live stats, top risks, patterns and compliance.
    muted: names the mute rule covering a finding (or None); such a finding is treated as an accepted risk and
    also carries "muted_by" with that name.
    analysis: the snapshot's analysis when the caller has it already (the what-if's "before" and "after").
    verify_fixes: every admin and escalation fix is applied to the snapshot and the account analysed again until
    the finding is gone (audits.iam.fix_plan); otherwise each fix cuts the path shown and says it is not verified."""
    with _fewer_full_collections():
        mark = _Marker(frozenset(accepted), muted)
        return _run(snapshot, emit, frameworks, resume, control, mark, verify_fixes, analysis)


def _run(
    snapshot,
    emit: Emit,
    frameworks: Sequence[str],
    resume: ResumeState | None,
    control: Callable[[], str | None],
    mark: _Marker,
    verify_fixes: bool = False,
    analysis: Analysis | None = None,
) -> AuditOutcome:
    unknown = [f for f in frameworks if f not in compliance.FRAMEWORKS]
    if unknown:
        raise ValueError(f"unknown frameworks: {', '.join(unknown)}")
    out = _Progress(emit, resume.progress if resume else 0)
    if resume is None:
        out("start", "Audit started - Initializing agent...", 3)
        out("progress", "Loading snapshot...", 5)
    if resume is None:
        out("progress", f"Loading IAM action dataset ({actions.describe()})...", 6)
    analysis = analysis or Analysis(snapshot)
    steps = analysis.plan()
    total = len(steps)
    if resume is None:
        _announce(out, analysis, steps)
        done = 0
        findings: list[Finding] = []
    else:
        done = max(0, min(resume.principals_done, total))
        findings = [mark(f) for f in resume.findings]
        where = f"at principal {done + 1}/{total}" if done < total else f"after all {total} principals"
        out("resumed", f"Resuming {where}", None, {"checkpoint": {"principals_done": done}})
    seen = {f["fingerprint"] for f in findings}
    counts = Counter(f["severity"] for f in findings if not f.get("suppressed"))
    stats_every = max(5, total // 50)

    for index in range(done, total):
        step = steps[index]
        p = step.principal
        if index == 0 or steps[index - 1].tier != step.tier:
            out("thinking", _tier_intro(steps, index), None)
        mine: dict[str, int] = {}  # a plain dict: a Counter per principal costs more than its few findings
        for finding in analysis.findings(p):
            if finding["fingerprint"] in seen:
                continue
            seen.add(finding["fingerprint"])
            if finding["check_id"] in fix_plan.HANDLED:
                finding["fix"] = _proven_fix(snapshot, analysis, finding, verify_fixes)
            finding = mark(finding)
            findings.append(finding)
            note = ""
            if finding.get("muted_by"):
                note = f" (muted by {finding['muted_by']})"
            elif finding.get("suppressed"):
                note = " (suppressed: accepted risk)"
            else:
                mine[finding["severity"]] = mine.get(finding["severity"], 0) + 1
            out(
                "finding",
                f"[{finding['severity'].upper()}] {finding['title']}: {p.type} '{p.name}'{note}",
                None,
                {"finding": finding},
            )
        counts.update(mine)
        position = index + 1
        progress = PRINCIPALS_START + (PRINCIPALS_END - PRINCIPALS_START) * position // total
        label = "account" if p.type == "account" else f"{p.type} '{p.name}'"
        out(
            "principal",
            f"Analyzing {label} ({position}/{total})... {_summary(mine)}",
            progress,
            {
                "principal": p.ref,
                "index": position,
                "total": total,
                "counts": {s: mine.get(s, 0) for s in SEVERITIES},
                "checkpoint": {"principals_done": position},
            },
        )
        if position % stats_every == 0 and position < total:
            _stats(out, counts)
        if position < total:
            command = control()
            if command in ("pause", "cancel"):
                kind = "paused" if command == "pause" else "cancelled"
                verb = "Paused" if command == "pause" else "Cancelled"
                out(
                    kind,
                    f"{verb} after {position}/{total} principals",
                    None,
                    {"checkpoint": {"principals_done": position}},
                )
                return AuditOutcome(kind, None)

    _stats(out, counts)
    out("progress", "Detecting patterns across findings...", 96)
    found_patterns = patterns.find_patterns([f for f in findings if not f.get("suppressed")])
    for pattern in found_patterns:
        out("thinking", f"Pattern: {pattern['title']}", None)
    out("progress", "Evaluating compliance controls...", 97)
    result = _result(analysis, findings, found_patterns, frameworks)
    out("progress", "Scoring risk...", 98)
    out(
        "complete",
        f"Audit complete: {result['audit_summary']['findings']} findings, risk score "
        f"{result['risk_score']}/100 "
        f"({result['risk_band']})",
        100,
        {"result": result},
    )
    return AuditOutcome("completed", result)


def _proven_fix(snapshot, analysis: Analysis, finding: Finding, verify: bool) -> Fix:
    """The change set that removes an admin or escalation finding (audits.iam.fix_plan), in place of the fix
    written from the finding alone; a planner failure keeps that fix and says the change set is missing."""
    fallback = finding.get("fix") or {}
    try:
        plan = fix_plan.plan_fix(snapshot, finding, analysis, verify=verify)
    except Exception as exc:  # the finding must survive whatever the planner meets
        return {**fallback, "verified": False, "errors": [f"no change set could be computed: {type(exc).__name__}"]}
    return fix_plan.as_fix(plan, fallback) if plan is not None else fallback


class _Marker:
    """Marks an accepted or muted finding; a mark it already carries (a resumed run's stored findings) stays."""

    def __init__(self, accepted: frozenset[str], muted: Muter | None) -> None:
        self.accepted, self.muted = accepted, muted

    def __call__(self, finding: Finding) -> Finding:
        if finding.get("suppressed"):
            return finding
        if finding["fingerprint"] in self.accepted:
            return {**finding, "suppressed": True}
        rule = self.muted(finding) if self.muted is not None else None
        return {**finding, "suppressed": True, "muted_by": rule} if rule else finding


def _announce(out: _Progress, analysis: Analysis, steps: list[Step]) -> None:
    acc = analysis.account
    n_policies = len(analysis.snapshot.policies)
    out(
        "progress",
        f"Discovering IAM principals: {len(acc.users)} users, {len(acc.roles)} roles, "
        f"{len(acc.groups)} groups, {n_policies} policies",
        7,
    )
    for message, payload in analysis.warnings():
        out("warning", message, None, payload)
    mixed = mixed_accounts_warning(analysis.snapshot)
    if mixed is not None:
        out("warning", mixed[0], None, mixed[1])
    for kind, plural in (("user", "users"), ("role", "roles"), ("group", "groups"), ("policy", "policies")):
        of_kind = [s for s in steps if s.principal.type == kind]
        if not of_kind:
            continue
        top = of_kind[0]
        if top.priority > 0:
            out(
                "thinking",
                f"Discovered {len(of_kind)} {plural}. Prioritizing '{top.principal.name}' first: {top.reason}",
                8,
            )
        else:
            out("thinking", f"Discovered {len(of_kind)} {plural}; none shows an admin signal, taking them by name.", 8)
    urgent = [s for s in steps if s.priority >= 100]
    out(
        "thinking",
        f"Plan: {len(steps)} principals; {len(urgent)} with administrator access go first, then "
        "escalation candidates, admin-like names and recently used ones; account-level checks last.",
        9,
    )


_TIER_INTROS = {
    "admin": "Starting with the {n} principal(s) holding administrator access: a compromise of any is total.",
    "escalation": "Next, {n} principal(s) that can escalate their privileges: one step away from admin.",
    "signals": "Then {n} principal(s) with weaker signals: admin-like names, recent use, wide attachment.",
    "rest": "Now the remaining {n} principal(s), by name.",
    "account": "Finally the account itself: root user, password policy, support and audit roles.",
}


def _tier_intro(steps: list[Step], index: int) -> str:
    tier = steps[index].tier
    n = sum(1 for s in steps[index:] if s.tier == tier)
    return _TIER_INTROS[tier].format(n=n)


def _summary(counts: dict[str, int]) -> str:
    if not counts:
        return "no issues"
    parts = [f"{counts[s]} {s}" for s in SEVERITIES if counts.get(s)]
    return "found " + ", ".join(parts) + (" issue" if sum(counts.values()) == 1 else " issues")


def _stats(out: _Progress, counts: Counter) -> None:
    stats = {s: counts.get(s, 0) for s in SEVERITIES}
    shown = ", ".join(f"{stats[s]} {s}" for s in ("critical", "high", "medium"))
    out("stats", f"Found {shown} issues so far...", None, {"stats": stats})


def _one_per_principal_and_kind(ranked: list[Finding]) -> list[Finding]:
    """The worst finding of each (principal, category): a user with admin access through its own policy and a
    group's is one risk to fix, not two lines of the top list."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for f in ranked:
        key = (f.get("principal_arn") or f.get("principal_name") or f["check_id"], f["category"])
        if key not in seen:
            seen.add(key)
            kept.append(f)
    return kept


def _result(analysis: Analysis, findings: list[Finding], found_patterns: list[dict], frameworks: Sequence[str]) -> dict:
    acc = analysis.account
    base = {
        "success": True,
        "audit_summary": {
            "account_id": analysis.account_id,
            "principals": {
                "users": len(acc.users),
                "roles": len(acc.roles),
                "groups": len(acc.groups),
                "policies": len(analysis.snapshot.policies),
            },
        },
        "frameworks": list(frameworks),
    }
    return _tallied(
        base, findings, found_patterns, compliance.evaluate(frameworks, findings, analysis.evaluated_checks())
    )


def restate(result: dict, findings: list[Finding]) -> dict:
    """A finished run's result with everything that depends on which findings are suppressed (score, band, counts,
    compliance, patterns, top risks) computed again from `findings`, each carrying its current `suppressed` mark.

    What the findings cannot tell (principal counts, which checks had data) is kept from `result`, so the answer is
    the result a new audit of the same snapshot with the same accepted and muted risks would give."""
    kept = [f for f in findings if not f.get("suppressed")]
    table = compliance.restate(result.get("compliance") or {}, findings)
    return _tallied(result, findings, patterns.find_patterns(kept), table)


def _tallied(base: dict, findings: list[Finding], found_patterns: list[dict], table: dict) -> dict:
    kept = [f for f in findings if not f.get("suppressed")]
    score = scoring.score(kept)
    by_severity = Counter(f["severity"] for f in kept)
    by_category = Counter(f["category"] for f in kept)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    # Fully ordered, so a resumed run (whose earlier findings come back from storage) reports the same top risks.
    ranked = sorted(kept, key=lambda f: (order[f["severity"]], f["category"], f["principal_name"], f["fingerprint"]))
    top = _one_per_principal_and_kind(ranked)[:10]
    result = {
        "success": base.get("success", True),
        "risk_score": score,
        "risk_band": scoring.band(score),
        "audit_summary": {
            **(base.get("audit_summary") or {}),
            "findings": len(kept),
            "suppressed_findings": len(findings) - len(kept),
            "by_severity": {s: by_severity.get(s, 0) for s in SEVERITIES},
            "by_category": {c: by_category.get(c, 0) for c in CATEGORIES},
        },
        "frameworks": list(base.get("frameworks") or []),
        "compliance": table,
        "patterns": found_patterns,
        "top_risks": [
            {
                "title": f["title"],
                "severity": f["severity"],
                "principal": f["principal_name"],
                "principal_type": f["principal_type"],
                "detail": f["detail"],
                "fingerprint": f["fingerprint"],
            }
            for f in top
        ],
    }
    if len(kept) < len(findings):
        # Accepted risks are left out of everything above; the run still says how many and what they would add.
        result["suppressed_findings"] = len(findings) - len(kept)
        result["risk_score_before_suppressions"] = scoring.score([f | {"suppressed": False} for f in findings])
    return result
