"""Aegis IAM analysis engine: plain Python, no Django. See agent.run_audit for the event contract."""

from audits.iam.agent import AuditOutcome, Emit, ResumeState, run_audit
from audits.iam.checks import CHECKS
from audits.iam.compliance import FRAMEWORKS

__all__ = ["CHECKS", "FRAMEWORKS", "AuditOutcome", "Emit", "ResumeState", "run_audit"]
