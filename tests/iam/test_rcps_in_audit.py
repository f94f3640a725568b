"""RCPs limit requests to a member account's resources in the audit itself, for the services RCPs govern (S3, STS,
KMS, SQS, Secrets Manager), never the management account's; the account's principals call with the organization's
id (aws:PrincipalOrgID), so AWS's identity-perimeter RCP leaves them alone. Service-linked roles are outside SCPs
and RCPs. The "who can...?" query applies the organization and the resource's own policy too."""

from __future__ import annotations

import dataclasses

from audits.iam import organization
from audits.iam.account import Account
from audits.iam.authz import Authz
from audits.iam.credentials import now_of
from audits.iam.finding_types import Finding
from audits.iam.query import who_can
from tests.iam.builders import (
    ACCOUNT,
    allow,
    arn,
    deny,
    doc,
    findings,
    identity_perimeter,
    managed,
    role,
    snapshot,
    trust_doc,
    user,
)

ORG_ID = "o-example123"
MANAGEMENT = "999988887777"
ESCALATION = {"principal_privilege_escalation", "privilege_escalation", "user_admin_access"}


def control(policy_id: str, kind: str, *statements: dict) -> dict:
    return {"id": policy_id, "type": kind, "name": policy_id, "document": doc(*statements)}


def org(*, rcps: tuple[dict, ...] = (), scps: tuple[dict, ...] = (), management: str = MANAGEMENT) -> dict | None:
    """Root -> our account, with FullAWSAccess and RCPFullAWSAccess everywhere and the given policies on the root."""
    full = control("p-full", organization.SCP, allow("*"))
    attached = [p["id"] for p in (*rcps, *scps)]
    return organization.parse_organization(
        {
            "id": ORG_ID,
            "management_account_id": management,
            "nodes": [
                {"id": "r-root", "type": "ROOT", "name": "Root", "policies": ["p-full", *attached]},
                {"id": ACCOUNT, "type": "ACCOUNT", "name": "prod", "parent": "r-root", "policies": ["p-full"]},
            ],
            "policies": [full, *rcps, *scps],
        }
    )


def account(**org_kwargs):
    """dev may assume `admin`, which trusts its own account and holds AdministratorAccess; alice may rewrite her
    own managed policy (an IAM-only path)."""
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    own = managed("alice-tools", doc(allow("iam:CreatePolicyVersion", "*")))
    snap = snapshot(
        users=[
            user("dev", inline={"assume": doc(allow("sts:AssumeRole", arn("role", "admin")))}),
            user("alice", policies=(own,)),
        ],
        roles=[role("admin", trust=trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), policies=(admin,))],
        policies=[admin, own],
    )
    return dataclasses.replace(snap, organization=org(**org_kwargs)) if org_kwargs else snap


def escalating(snap) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings(snap):
        if f["check_id"] in ESCALATION and f["principal_type"] == "user":
            out.setdefault(f["principal_name"], []).append(f)
    return out


def test_the_identity_perimeter_rcp_leaves_the_organizations_own_principals_unconditioned():
    perimeter = control("p-perimeter", organization.RCP, identity_perimeter("sts:AssumeRole", ORG_ID))
    found = escalating(account(rcps=(perimeter,)))
    assert {"dev", "alice"} <= set(found)
    assert "principalorgid" not in str(found["dev"]).lower(), "aws:PrincipalOrgID is known for our principals"


def no_assume_on_admin() -> dict:
    """An RCP denying everyone sts:AssumeRole on the admin role (its other principals' roles stay assumable)."""
    return control("p-no-assume", organization.RCP, {**deny("sts:AssumeRole", arn("role", "admin")), "Principal": "*"})


def test_an_rcp_that_denies_assuming_a_role_cuts_the_path_through_it_only():
    found = escalating(account(rcps=(no_assume_on_admin(),)))
    assert "dev" not in found, "sts:AssumeRole on the admin role is denied by the RCP"
    assert "alice" in found


def test_an_rcp_deny_of_everything_leaves_services_that_rcps_do_not_govern():
    everything = control("p-all", organization.RCP, {**deny("*", arn("role", "admin")), "Principal": "*"})
    snap = account(rcps=(everything,))
    acc = Account(snap)
    authz = Authz(acc, ACCOUNT, now_of(snap.collected_at), snap.organization)
    dev = authz.subject(acc.by_arn[arn("user", "dev")])
    admin_user = dataclasses.replace(dev, identity=authz.admin_statements)
    assert authz.decide(admin_user, "sts:assumerole", arn("role", "admin")).verdict == "denied"
    assert "RCP" in authz.decide(admin_user, "sts:assumerole", arn("role", "admin")).reason
    assert authz.decide(admin_user, "iam:attachrolepolicy", arn("role", "admin")).verdict == "allowed"
    assert authz.decide(admin_user, "sts:assumerole", arn("role", "other")).verdict == "allowed"


def test_rcps_never_limit_the_management_account():
    assert "dev" in escalating(account(rcps=(no_assume_on_admin(),), management=ACCOUNT))


def test_service_linked_roles_are_outside_scps_and_rcps():
    snap = dataclasses.replace(
        snapshot(roles=[role("AWSServiceRoleForSupport", path="/aws-service-role/support.amazonaws.com/")]),
        organization=org(
            scps=(control("p-deny", organization.SCP, deny("*")),),
            rcps=(control("p-rdeny", organization.RCP, {**deny("*"), "Principal": "*"}),),
        ),
    )
    acc = Account(snap)
    authz = Authz(acc, ACCOUNT, now_of(snap.collected_at), snap.organization)
    linked = authz.subject(acc.roles[0])
    assert (linked.scps, linked.rcps) == ((), ())
    assert authz.scps and authz.rcps


def test_the_query_applies_the_organizations_scps():
    guard = control("p-guard", organization.SCP, deny("iam:CreatePolicyVersion"))
    rows = {r["name"]: r for r in who_can(account(scps=(guard,)), "iam:CreatePolicyVersion")}
    assert rows["alice"]["decision"] == "denied"
    assert any("p-guard" in str(ref.get("policy")) for ref in rows["alice"]["denying"])
    assert {r["name"]: r for r in who_can(account(), "iam:CreatePolicyVersion")}["alice"]["decision"] == "allowed"


def test_the_query_applies_a_buckets_policy_to_its_objects():
    bucket = "arn:aws:s3:::payroll"
    policy = doc({**allow("s3:GetObject", f"{bucket}/*"), "Principal": {"AWS": arn("user", "alice")}})
    snap = dataclasses.replace(
        account(), resources=[{"type": "s3:bucket", "arn": bucket, "name": "payroll", "policy": policy}]
    )
    rows = {r["name"]: r for r in who_can(snap, "s3:GetObject", f"{bucket}/2026/salaries.csv")}
    assert rows["alice"]["decision"] == "allowed", "the bucket policy names her: no identity policy needed"
    assert rows["dev"]["decision"] == "denied"
    assert {r["name"]: r for r in who_can(snap, "s3:GetObject", "arn:aws:s3:::other/x")}["alice"]["decision"] == (
        "denied"
    )
