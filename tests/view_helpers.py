"""Helpers for the portal's page tests: completed runs with findings and a result."""

from django.utils import timezone

from audits.models import AuditRun
from audits.runs.recorder import Recorder
from tests.helpers import make_run


def make_finding(fingerprint: str, **fields) -> dict:
    finding = {
        "check_id": "iam_admin_access",
        "category": "privilege",
        "severity": "high",
        "principal_arn": f"arn:aws:iam::111122223333:role/{fingerprint}",
        "principal_type": "role",
        "principal_name": fingerprint,
        "policy": "AdminPolicy",
        "title": f"Finding {fingerprint}",
        "detail": "Grants everything.",
        "evidence": {
            "statements": [
                {
                    "policy": "AdminPolicy",
                    "sid": "All",
                    "statement": {"Effect": "Allow", "Action": "*", "Resource": "*"},
                }
            ]
        },
        "remediation": "Scope the policy down.",
        "controls": {"pci_dss": ["7.2.1"]},
        "fingerprint": fingerprint,
    }
    finding.update(fields)
    return finding


def make_result(findings: list[dict], *, risk_score: int = 64, frameworks=("pci_dss",)) -> dict:
    by_severity: dict[str, int] = {}
    for f in findings:
        by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    return {
        "success": True,
        "risk_score": risk_score,
        "risk_band": "high",
        "audit_summary": {
            "account_id": "111122223333",
            "principals": {"users": 3, "roles": 4, "groups": 1, "policies": 6},
            "findings": len(findings),
            "by_severity": by_severity,
            "by_category": {},
        },
        "frameworks": list(frameworks),
        "compliance": {
            fw: {
                "name": "PCI DSS 4.0",
                "controls": [
                    {
                        "id": "7.2.1",
                        "title": "Access is least privilege",
                        "status": "fail",
                        "checks": [],
                        "findings": [f["fingerprint"] for f in findings],
                    },
                    {"id": "8.3.1", "title": "Strong authentication", "status": "pass", "checks": [], "findings": []},
                    {"id": "10.2.1", "title": "Audit logs", "status": "not_evaluated", "checks": [], "findings": []},
                ],
                "passed": 1,
                "failed": 1,
                "not_evaluated": 1,
            }
            for fw in frameworks
        },
        "patterns": [
            {
                "id": "shared-admin",
                "title": "Admin policy shared widely",
                "detail": "Six roles.",
                "principals": ["a", "b"],
                "severity": "high",
            }
        ],
        "top_risks": [{"title": "Admin everywhere", "detail": "Too many admins."}],
    }


def make_completed_run(
    owner,
    findings: list[dict],
    *,
    account_id: str = "111122223333",
    risk_score: int = 64,
    frameworks=("pci_dss",),
    created=None,
) -> AuditRun:
    run = make_run(
        owner,
        status=AuditRun.Status.RUNNING,
        frameworks=list(frameworks),
        account_id=account_id,
        started=timezone.now(),
    )
    if created is not None:
        AuditRun.objects.filter(pk=run.pk).update(created=created)
    recorder = Recorder(run.pk)
    recorder.emit("start", "Audit started", 5)
    for i, finding in enumerate(findings):
        recorder.emit("finding", finding["title"], 10 + i, {"finding": finding})
    result = make_result(findings, risk_score=risk_score, frameworks=frameworks)
    recorder.emit("complete", "Audit complete!", 100, {"result": result})
    AuditRun.objects.filter(pk=run.pk).update(
        status=AuditRun.Status.COMPLETED, finished=timezone.now(), result=result, risk_score=risk_score
    )
    run.refresh_from_db()
    return run
