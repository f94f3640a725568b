"""SCPs limit every principal of a member account in the audit itself (AWS's evaluation logic: an SCP must allow
at every level from the root to the account, and an explicit Deny in one wins), never the management account's."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from audits.iam import organization
from tests.iam.builders import ACCOUNT, allow, deny, doc, findings, managed, role, snapshot, user

MANAGEMENT = "999988887777"
ESCALATION = {
    "user_admin_access",
    "role_admin_access",
    "privilege_escalation",
    "principal_privilege_escalation",
    "principal_grants_admin",
}


def scp(policy_id: str, *statements: dict) -> dict:
    return {"id": policy_id, "type": organization.SCP, "name": policy_id, "document": doc(*statements)}


def org(root: list[dict], ou: Sequence[dict] = (), *, management: str = MANAGEMENT) -> dict | None:
    """Root -> OU "workloads" -> our account; FullAWSAccess at every level unless a test says otherwise."""
    full = scp("p-full", allow("*"))
    return organization.parse_organization(
        {
            "id": "o-example123",
            "management_account_id": management,
            "nodes": [
                {"id": "r-root", "type": "ROOT", "name": "Root", "policies": ["p-full", *(p["id"] for p in root)]},
                {
                    "id": "ou-work",
                    "type": "ORGANIZATIONAL_UNIT",
                    "name": "workloads",
                    "parent": "r-root",
                    "policies": ["p-full", *(p["id"] for p in ou)],
                },
                {"id": ACCOUNT, "type": "ACCOUNT", "name": "prod", "parent": "ou-work", "policies": ["p-full"]},
            ],
            "policies": [full, *root, *ou],
        }
    )


def escalation_names(snap) -> set[str]:
    return {f["principal_name"] for f in findings(snap) if f["check_id"] in ESCALATION}


def account():
    """alice can rewrite her own policy (CreatePolicyVersion); bob holds AdministratorAccess."""
    own = managed("alice-tools", doc(allow(["iam:CreatePolicyVersion"], "*"), allow("s3:ListAllMyBuckets")))
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    return snapshot(
        users=[user("alice", policies=(own,)), user("bob", policies=(admin,))],
        roles=[role("app")],
        policies=[own, admin],
    )


def with_org(snap, value):
    return dataclasses.replace(snap, organization=value)


def test_without_an_organization_both_are_flagged():
    assert {"alice", "bob"} <= escalation_names(account())


def test_an_scp_deny_on_policy_versions_stops_the_self_escalation_but_not_the_admin():
    guard = scp("p-guard", deny(["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"]))
    names = escalation_names(with_org(account(), org([guard])))
    assert "alice" not in names
    assert "bob" in names


def test_an_ou_that_allows_only_s3_leaves_no_administrator():
    # The OU replaces FullAWSAccess with an allow-list: every level must allow, so IAM is out of reach.
    value = org([], [scp("p-s3", allow("s3:*"))])
    value["nodes"][1]["policies"] = ["p-s3"]
    assert escalation_names(with_org(account(), value)) == set()


def test_a_conditional_scp_deny_leaves_the_finding_with_its_condition():
    guard = scp(
        "p-region",
        deny("iam:CreatePolicyVersion", Condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}),
    )
    alice = [f for f in findings(with_org(account(), org([guard]))) if f["principal_name"] == "alice"]
    flagged = [f for f in alice if f["check_id"] in ESCALATION]
    assert flagged, "a Deny that holds only outside eu-west-1 does not take the path away"
    assert "aws:requestedregion" in str(flagged[0]).lower()


def test_scps_never_limit_the_management_account():
    guard = scp("p-guard", deny("*"))
    assert {"alice", "bob"} <= escalation_names(with_org(account(), org([guard], management=ACCOUNT)))
