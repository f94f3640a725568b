"""Patterns across findings: the same risk repeated, which one fix removes at once.

Computed from finding dicts alone, so a resumed run (whose earlier findings come back as dicts) gets the same
patterns as an uninterrupted one.
"""

from __future__ import annotations

from collections import defaultdict

from audits.iam.checks import SEVERITIES
from audits.iam.finding_types import Finding

SHARED_POLICY_MIN = 3
SHARED_TRUST_MIN = 2


def _worst(findings: list[Finding]) -> str:
    return min((f["severity"] for f in findings), key=SEVERITIES.index)


def find_patterns(findings: list[Finding]) -> list[dict]:
    patterns = []

    # One risky managed policy held by many principals.
    policy_findings = [f for f in findings if f["principal_type"] == "policy" and f["severity"] in ("critical", "high")]
    by_policy: dict[str, list[Finding]] = defaultdict(list)
    for f in policy_findings:
        by_policy[f["principal_arn"]].append(f)
    for arn, items in sorted(by_policy.items()):
        holders = (items[0].get("evidence") or {}).get("attached_to") or []
        count = (items[0].get("evidence") or {}).get("attachment_count", len(holders))
        if count >= SHARED_POLICY_MIN:
            titles = sorted({f["title"] for f in items})
            patterns.append(
                {
                    "id": f"shared_risky_policy:{arn}",
                    "title": f"Risky policy '{items[0]['principal_name']}' is attached to {count} principals",
                    "detail": f"{'; '.join(titles)}. Fixing this one policy fixes it for all of them.",
                    "principals": holders,
                    "severity": _worst(items),
                }
            )

    # Many roles trusting the same outside account.
    by_account: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        account = (f.get("evidence") or {}).get("external_account") if isinstance(f.get("evidence"), dict) else None
        if f["check_id"] == "trust_cross_account_unprotected" and account:
            by_account[account].append(f)
    for account, items in sorted(by_account.items()):
        roles = sorted({f["principal_name"] for f in items})
        if len(roles) >= SHARED_TRUST_MIN:
            patterns.append(
                {
                    "id": f"shared_external_trust:{account}",
                    "title": f"{len(roles)} roles trust account {account} without ExternalId or MFA",
                    "detail": "A compromise of that account reaches every one of these roles.",
                    "principals": roles,
                    "severity": _worst(items),
                }
            )

    # Administrators nobody uses.
    dormant = [f for f in findings if f["check_id"] == "dormant_admin"]
    if dormant:
        patterns.append(
            {
                "id": "dormant_admins",
                "title": f"{len(dormant)} administrator(s) unused for months",
                "detail": "Standing administrator access that nobody uses is pure risk: remove it.",
                "principals": sorted(f["principal_name"] for f in dormant),
                "severity": _worst(dormant),
            }
        )

    # Console users without MFA, as one account-wide gap.
    no_mfa = [f for f in findings if f["check_id"] in ("console_user_without_mfa", "admin_without_mfa")]
    if len(no_mfa) >= 2:
        patterns.append(
            {
                "id": "mfa_not_enforced",
                "title": f"{len(no_mfa)} console users have no MFA",
                "detail": "MFA is not enforced account-wide; an IAM policy denying actions without "
                "aws:MultiFactorAuthPresent closes the gap for all users.",
                "principals": sorted({f["principal_name"] for f in no_mfa}),
                "severity": _worst(no_mfa),
            }
        )

    # Escalation that many principals share.
    escalators = sorted(
        {
            f["principal_name"]
            for f in findings
            if f["category"] == "privilege_escalation"
            and f["principal_type"] != "policy"
            and f["check_id"] != "principal_latent_escalation"  # no target today: not an escalation yet
        }
    )
    if len(escalators) >= 3:
        patterns.append(
            {
                "id": "widespread_escalation",
                "title": f"{len(escalators)} principals can escalate their privileges",
                "detail": "Privilege escalation is reachable from many identities; "
                "review iam:* and iam:PassRole grants.",
                "principals": escalators,
                "severity": "high",
            }
        )
    return patterns
