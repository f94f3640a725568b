"""The shape of a finding, as the engine emits it and the portal stores, exports and renders it.

`checks.make_finding` builds every finding; the agent may replace its fix with a proven one (fix_plan.as_fix) and
mark it accepted or muted; the recorder may trim one past the size cap (size_caps.cap_finding). Evidence differs
per check and stays a plain dict; the parts of it read across checks (the statements cited) have a type here.
"""

from typing import Any, NotRequired, TypedDict

# Framework id -> the control ids a check maps to, e.g. {"cis": ["1.16"], "nist_800_53": ["AC-6"]}.
Controls = dict[str, list[str]]


class StatementRef(TypedDict):
    """A statement cited as evidence: the policy it is in, its Sid ("" when none), its place, and the statement.
    The evaluator makes one per compiled statement (CompiledStatement.ref) and its decisions carry them
    (Decision.allowing, Decision.denying)."""

    policy: str
    sid: str
    index: int
    statement: dict[str, Any]


class DocLink(TypedDict):
    title: str
    url: str


class Fix(TypedDict, total=False):
    """A finding's concrete fix. Every key is optional: a fix that could not be written is {} (and a stored
    finding recorded without one has {}). A written fix (remediation.fix_for) has summary, cli, policy,
    terraform and docs; a proven one (fix_plan.as_fix) adds the change set and its proof."""

    summary: str
    cli: list[str]
    policy: dict[str, Any] | None
    terraform: str
    docs: list[DocLink]
    ops: list[dict[str, Any]]
    verified: bool
    rounds: int
    removes: list[str]
    side_effects: list[str]
    new_findings: list[dict[str, Any]]  # check_id, severity, principal_arn, title of each finding it brings
    errors: list[str]
    owner_steps: list[str]


class Finding(TypedDict):
    check_id: str
    category: str
    severity: str
    principal_arn: str
    principal_type: str
    principal_name: str
    policy: str
    title: str
    detail: str
    evidence: dict[str, Any]
    remediation: str
    controls: Controls
    # The engine always sets it; a stored finding (models.Finding.to_dict) does not keep it.
    conditioned: NotRequired[bool]
    fingerprint: str
    fix: Fix
    # An accepted risk or a muted finding (agent._Marker, the stored marks); muted_by names the mute rule.
    suppressed: NotRequired[bool]
    muted_by: NotRequired[str]
    # Past the size cap its evidence, detail and fix were trimmed (size_caps.cap_finding).
    truncated: NotRequired[bool]
