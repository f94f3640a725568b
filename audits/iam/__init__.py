"""Aegis IAM analysis engine: plain Python, no Django.

    run_audit(snapshot, emit, frameworks=(), resume=None, control=lambda: None) -> AuditOutcome

takes an AccountSnapshot (audits.iam.snapshot), plans the principals (administrators first), analyses them one
by one and reports everything through emit(type, message, progress, payload): start, progress, thinking,
warning, finding, principal (a checkpoint, after that principal's findings), stats, paused/cancelled, resumed
and complete (whose payload carries the result: risk score, summary, compliance, patterns, top risks).
CHECKS is the check catalog (audits.iam.checks) and FRAMEWORKS the compliance mappings (audits.iam.compliance).
"""

from audits.iam.agent import AuditOutcome, Emit, ResumeState, run_audit
from audits.iam.checks import CHECKS
from audits.iam.compliance import FRAMEWORKS

__all__ = ["CHECKS", "FRAMEWORKS", "AuditOutcome", "Emit", "ResumeState", "run_audit"]
