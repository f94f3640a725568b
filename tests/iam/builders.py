"""Small builders for IAM snapshots in tests: plain functions, AWS's own shapes."""

from __future__ import annotations

from typing import Any

from audits.iam import run_audit
from audits.iam.agent import AuditOutcome
from audits.iam.finding_types import Finding
from audits.iam.snapshot import AccountSnapshot

ACCOUNT = "111122223333"
OTHER = "444455556666"
NOW = "2026-11-24T00:00:00+00:00"


def allow(actions, resources="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def deny(actions, resources="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": actions, "Resource": resources, **extra}


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def arn(kind: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"


def managed(name: str, document: dict, *, aws: bool = False, attachments: int = 1) -> dict:
    policy_arn = f"arn:aws:iam::aws:policy/{name}" if aws else arn("policy", name)
    return {
        "PolicyName": name,
        "Arn": policy_arn,
        "Path": "/",
        "DefaultVersionId": "v1",
        "AttachmentCount": attachments,
        "IsAttachable": True,
        "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True, "Document": document}],
    }


def attach(*policies: dict) -> list[dict]:
    return [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in policies]


def user(
    name: str, *, inline: dict | None = None, policies: tuple = (), groups: tuple = (), boundary: dict | None = None
) -> dict:
    out: dict[str, Any] = {
        "UserName": name,
        "Arn": arn("user", name),
        "Path": "/",
        "CreateDate": "2024-01-01T00:00:00Z",
        "GroupList": list(groups),
        "AttachedManagedPolicies": attach(*policies),
        "UserPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
    }
    if boundary:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary["Arn"]}
    return out


def trust_doc(principal, *, action: str | list[str] = "sts:AssumeRole", condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return doc(statement)


def role(
    name: str,
    *,
    trust: dict | None = None,
    inline: dict | None = None,
    policies: tuple = (),
    path: str = "/",
    last_used: str | None = "2026-11-20T00:00:00Z",
    created: str = "2024-01-01T00:00:00Z",
    boundary: dict | None = None,
) -> dict:
    out = {
        "RoleName": name,
        "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}",
        "Path": path,
        "CreateDate": created,
        "AssumeRolePolicyDocument": trust
        or trust_doc({"Service": "ec2.amazonaws.com"}, condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}),
        "AttachedManagedPolicies": attach(*policies),
        "RolePolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
        "RoleLastUsed": {"LastUsedDate": last_used} if last_used else {},
    }
    if boundary:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary["Arn"]}
    return out


def group(name: str, *, inline: dict | None = None, policies: tuple = ()) -> dict:
    return {
        "GroupName": name,
        "Arn": arn("group", name),
        "Path": "/",
        "AttachedManagedPolicies": attach(*policies),
        "GroupPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
    }


GOOD_PASSWORD_POLICY = {
    "MinimumPasswordLength": 16,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "ExpirePasswords": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 24,
}


def report_row(name: str, **values: str) -> dict:
    """A credential-report row: a healthy user by default (MFA, one recent key) unless told otherwise."""
    row = {
        "user": name,
        "arn": arn("user", name) if name != "<root_account>" else f"arn:aws:iam::{ACCOUNT}:root",
        "user_creation_time": "2025-01-01T00:00:00+00:00",
        "password_enabled": "true",
        "password_last_used": "2026-11-20T00:00:00+00:00",
        "password_last_changed": "2026-10-01T00:00:00+00:00",
        "password_next_rotation": "N/A",
        "mfa_active": "true",
        "access_key_1_active": "true",
        "access_key_1_last_rotated": "2026-10-01T00:00:00+00:00",
        "access_key_1_last_used_date": "2026-11-20T00:00:00+00:00",
        "access_key_1_last_used_region": "us-east-1",
        "access_key_1_last_used_service": "s3",
        "access_key_2_active": "false",
        "access_key_2_last_rotated": "N/A",
        "access_key_2_last_used_date": "N/A",
        "access_key_2_last_used_region": "N/A",
        "access_key_2_last_used_service": "N/A",
        "cert_1_active": "false",
        "cert_1_last_rotated": "N/A",
        "cert_2_active": "false",
        "cert_2_last_rotated": "N/A",
    }
    if name == "<root_account>":
        row.update(
            password_enabled="not_supported",
            password_last_used="2026-01-01T00:00:00+00:00",
            access_key_1_active="false",
            access_key_1_last_used_date="N/A",
        )
    row.update(values)
    return row


def snapshot(
    *,
    users=(),
    roles=(),
    groups=(),
    policies=(),
    report: list[dict] | None = None,
    password_policy: dict | None = None,
    password_known: bool = True,
    summary: dict | None = None,
    collected_at: str | None = NOW,
    account_id: str = ACCOUNT,
) -> AccountSnapshot:
    if report is None:
        report = [report_row("<root_account>")] + [report_row(u["UserName"]) for u in users]
    return AccountSnapshot(
        account_id=account_id,
        users=list(users),
        groups=list(groups),
        roles=list(roles),
        policies=list(policies),
        credential_report=report,
        password_policy=password_policy if password_known else None,
        account_summary=summary,
        collected_at=collected_at,
        source="snapshot",
        password_policy_known=password_known,
    )


def healthy(**kwargs) -> AccountSnapshot:
    """A snapshot with a good password policy and support/audit roles, so only what a test adds can fire."""
    support = managed("AWSSupportAccess", doc(allow(["support:DescribeCases", "support:DescribeServices"])), aws=True)
    audit = managed("SecurityAudit", doc(allow(["iam:Get*", "iam:List*"])), aws=True)
    roles = [*kwargs.pop("roles", ()), role("support", policies=(support,)), role("auditor", policies=(audit,))]
    policies = [*kwargs.pop("policies", ()), support, audit]
    kwargs.setdefault("password_policy", GOOD_PASSWORD_POLICY)
    return snapshot(roles=roles, policies=policies, **kwargs)


def audit(snap: AccountSnapshot, **kwargs) -> tuple[list[tuple], AuditOutcome]:
    events: list[tuple] = []
    outcome = run_audit(snap, lambda *event: events.append(event), **kwargs)
    return events, outcome


def findings(snap: AccountSnapshot, **kwargs) -> list[Finding]:
    events, _ = audit(snap, **kwargs)
    return [e[3]["finding"] for e in events if e[0] == "finding"]


def hits(snap: AccountSnapshot, check_id: str, name: str | None = None) -> list[Finding]:
    return [f for f in findings(snap) if f["check_id"] == check_id and (name is None or f["principal_name"] == name)]


def identity_perimeter(action: str, org_id: str) -> dict:
    """AWS's RCP identity-perimeter statement: deny `action` to principals outside the organization (services
    acting for it excepted)."""
    return {
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": "*",
        "Condition": {
            "StringNotEqualsIfExists": {"aws:PrincipalOrgID": org_id},
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
        },
    }
