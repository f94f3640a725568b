"""Paths across an organization's accounts (audits.iam.cross_account), built from the cross-account rules AWS
documents: a role in another account is assumed only when its trust policy names the caller (or its account)
AND the caller's own identity policy allows sts:AssumeRole on it; SCPs of the caller's account apply; a resource
policy of another account must name the caller, and its identity side must allow the action too."""

from __future__ import annotations

from datetime import UTC, datetime

from audits.iam import organization
from audits.iam.cross_account import analyse_organization
from audits.iam.finding_types import Finding
from audits.iam.snapshot import load_snapshot
from tests.iam.builders import identity_perimeter

TOOLS, PROD, DEV, DATA = "111111111111", "222222222222", "333333333333", "444444444444"
OUTSIDER = "999999999999"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trusting(principal: str, **condition) -> dict:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return doc(statement)


def role(account: str, name: str, trust: dict, *, inline: dict | None = None, admin: bool = False) -> dict:
    return {
        "RoleName": name,
        "Arn": f"arn:aws:iam::{account}:role/{name}",
        "Path": "/",
        "AssumeRolePolicyDocument": trust,
        "RolePolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
        "AttachedManagedPolicies": [{"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN}] if admin else [],
    }


def user(account: str, name: str, *, inline: dict | None = None) -> dict:
    return {
        "UserName": name,
        "Arn": f"arn:aws:iam::{account}:user/{name}",
        "Path": "/",
        "GroupList": [],
        "AttachedManagedPolicies": [],
        "UserPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
    }


def account(account_id: str, *, users=(), roles=(), resources=()) -> object:
    admin = {
        "PolicyName": "AdministratorAccess",
        "Arn": ADMIN,
        "DefaultVersionId": "v1",
        "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True, "Document": doc(allow("*"))}],
    }
    return load_snapshot(
        {
            "account_id": account_id,
            "collected_at": "2026-11-24T00:00:00Z",
            "authorization_details": {
                "UserDetailList": list(users),
                "GroupDetailList": [],
                "RoleDetailList": list(roles),
                "Policies": [admin],
            },
            "resources": list(resources),
        }
    )


def org(
    *members: str, scps: dict[str, list[dict]] | None = None, rcps: dict[str, list[dict]] | None = None
) -> dict | None:
    """Every member directly under the root; FullAWSAccess everywhere, plus the SCPs and RCPs given per account."""
    policies = [{"id": "p-full", "type": organization.SCP, "name": "FullAWSAccess", "document": doc(allow("*"))}]
    nodes = [{"id": "r-root", "type": "ROOT", "name": "Root", "policies": ["p-full"]}]
    for member in members:
        ids = ["p-full"]
        for kind, given in ((organization.SCP, scps or {}), (organization.RCP, rcps or {})):
            for i, statement in enumerate(given.get(member, [])):
                policy_id = f"p-{kind[:3].lower()}-{member}-{i}"
                policies.append({"id": policy_id, "type": kind, "name": policy_id, "document": doc(statement)})
                ids.append(policy_id)
        nodes.append({"id": member, "type": "ACCOUNT", "name": member, "parent": "r-root", "policies": ids})
    return organization.parse_organization(
        {"id": "o-example123", "management_account_id": TOOLS, "nodes": nodes, "policies": policies}
    )


def audit(accounts: dict[str, object], organization_: dict | None = None) -> list[Finding]:
    return analyse_organization(list(accounts), accounts.get, organization_ or org(*accounts), NOW)


def on(findings: list[dict], check: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in findings:
        if f["check_id"] == check:
            out.setdefault(f["principal_name"], []).append(f)
    return out


ASSUME_DEPLOY = {"assume": doc(allow("sts:AssumeRole", f"arn:aws:iam::{PROD}:role/deploy"))}


def prod(trust: dict, **kwargs) -> object:
    return account(PROD, roles=[role(PROD, "deploy", trust, admin=True, **kwargs)])


def test_a_ci_user_that_can_assume_an_admin_role_in_another_account_is_flagged_on_the_user():
    found = audit(
        {
            TOOLS: account(TOOLS, users=[user(TOOLS, "ci", inline=ASSUME_DEPLOY), user(TOOLS, "intern")]),
            PROD: prod(trusting(f"arn:aws:iam::{TOOLS}:root")),
        }
    )
    admin = on(found, "cross_account_admin_path")
    assert set(admin) == {"ci"}  # the intern has no sts:AssumeRole: the trust of the account alone is not enough
    finding = admin["ci"][0]
    assert finding["severity"] == "critical"
    assert finding["evidence"]["target_account"] == PROD
    path = finding["evidence"]["path"]
    assert [(h["from"], h["to"], h["method"]) for h in path] == [
        (f"arn:aws:iam::{TOOLS}:user/ci", f"arn:aws:iam::{PROD}:role/deploy", "AssumeRole")
    ]
    assert path[0]["statements"], "the granting statements are cited"


def test_identity_side_is_required_across_accounts_even_when_the_trust_names_the_principal():
    found = audit(
        {
            TOOLS: account(TOOLS, users=[user(TOOLS, "ci")]),
            PROD: prod(trusting(f"arn:aws:iam::{TOOLS}:user/ci")),
        }
    )
    assert on(found, "cross_account_admin_path") == {}


def test_a_trust_naming_another_principal_of_the_account_lets_only_that_one_in():
    found = audit(
        {
            TOOLS: account(
                TOOLS, users=[user(TOOLS, "ci", inline=ASSUME_DEPLOY), user(TOOLS, "release", inline=ASSUME_DEPLOY)]
            ),
            PROD: prod(trusting(f"arn:aws:iam::{TOOLS}:user/release")),
        }
    )
    assert set(on(found, "cross_account_admin_path")) == {"release"}


def test_an_scp_denying_assume_role_in_the_callers_account_cuts_the_path():
    accounts = {
        TOOLS: account(TOOLS, users=[user(TOOLS, "ci", inline=ASSUME_DEPLOY)]),
        PROD: prod(trusting(f"arn:aws:iam::{TOOLS}:root")),
    }
    guarded = org(TOOLS, PROD, scps={TOOLS: [{"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]})
    # The management account's principals are not limited by SCPs: make DEV the management account here.
    guarded["management_account_id"] = DEV
    assert on(audit(accounts, guarded), "cross_account_admin_path") == {}
    assert set(on(audit(accounts), "cross_account_admin_path")) == {"ci"}


def test_a_path_through_two_accounts_is_reported_hop_by_hop():
    hop_policy = {"next": doc(allow("sts:AssumeRole", f"arn:aws:iam::{PROD}:role/deploy"))}
    dev_policy = {"up": doc(allow("sts:AssumeRole", f"arn:aws:iam::{TOOLS}:role/pipeline"))}
    found = audit(
        {
            DEV: account(DEV, users=[user(DEV, "dev", inline=dev_policy)]),
            TOOLS: account(
                TOOLS, roles=[role(TOOLS, "pipeline", trusting(f"arn:aws:iam::{DEV}:root"), inline=hop_policy)]
            ),
            PROD: prod(trusting(f"arn:aws:iam::{TOOLS}:role/pipeline")),
        }
    )
    admin = on(found, "cross_account_admin_path")
    assert set(admin) == {"dev", "pipeline"}
    path = admin["dev"][0]["evidence"]["path"]
    assert [h["to"].rsplit("/", 1)[-1] for h in path] == ["pipeline", "deploy"]
    assert admin["dev"][0]["evidence"]["accounts"] == [TOOLS, PROD]


def test_a_role_that_escalates_inside_its_own_account_counts_with_its_in_account_hops():
    escalate = {"self": doc(allow("iam:PutRolePolicy", f"arn:aws:iam::{PROD}:role/deploy"))}
    found = audit(
        {
            TOOLS: account(TOOLS, users=[user(TOOLS, "ci", inline=ASSUME_DEPLOY)]),
            PROD: account(PROD, roles=[role(PROD, "deploy", trusting(f"arn:aws:iam::{TOOLS}:root"), inline=escalate)]),
        }
    )
    path = on(found, "cross_account_admin_path")["ci"][0]["evidence"]["path"]
    assert [h["method"] for h in path] == ["AssumeRole", "PutRolePolicy"]
    assert len(path) == 2 and path[1]["account"] == PROD


def test_a_role_without_admin_or_escalation_in_the_target_is_no_admin_path():
    reader = {"read": doc(allow("s3:GetObject", "arn:aws:s3:::reports/*"))}
    found = audit(
        {
            TOOLS: account(TOOLS, users=[user(TOOLS, "ci", inline=ASSUME_DEPLOY)]),
            PROD: account(PROD, roles=[role(PROD, "deploy", trusting(f"arn:aws:iam::{TOOLS}:root"), inline=reader)]),
        }
    )
    assert on(found, "cross_account_admin_path") == {}


def test_an_account_outside_the_organization_reaching_admin_is_flagged_on_the_entry_role():
    found = audit({TOOLS: account(TOOLS), PROD: prod(trusting(f"arn:aws:iam::{OUTSIDER}:root"))})
    external = on(found, "external_admin_path")
    assert set(external) == {"deploy"}
    assert external["deploy"][0]["evidence"]["entry"].startswith(f"account {OUTSIDER}")
    assert not external["deploy"][0]["conditioned"]


def test_an_external_id_is_carried_as_the_condition_and_an_org_condition_keeps_outsiders_out():
    with_id = audit({PROD: prod(trusting(f"arn:aws:iam::{OUTSIDER}:root", StringEquals={"sts:ExternalId": "s3cr3t"}))})
    finding = on(with_id, "external_admin_path")["deploy"][0]
    assert finding["conditioned"]
    assert any(c.get("key", "").lower() == "sts:externalid" for c in finding["evidence"]["conditions"])
    org_only = audit({PROD: prod(trusting("*", StringEquals={"aws:PrincipalOrgID": "o-example123"}))})
    assert on(org_only, "external_admin_path") == {}


TRUST_EC2 = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})


def data_bucket(principal: str) -> dict:
    """Bucket acme-data of account DATA, whose policy lets `principal` read its objects."""
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "s3:GetObject"}
    policy = doc({**statement, "Resource": "arn:aws:s3:::acme-data/*"})
    return {"type": "s3:bucket", "arn": "arn:aws:s3:::acme-data", "name": "acme-data", "policy": policy}


def test_a_bucket_in_another_account_readable_by_a_role_is_data_access_on_the_role():
    bucket = data_bucket(f"arn:aws:iam::{DEV}:role/reader")
    read_all = {"read": doc(allow("s3:GetObject"))}
    found = audit(
        {
            DEV: account(
                DEV,
                roles=[role(DEV, "reader", TRUST_EC2, inline=read_all), role(DEV, "other", TRUST_EC2, inline=read_all)],
            ),
            DATA: account(DATA, resources=[bucket]),
        }
    )
    data = on(found, "cross_account_data_access")
    assert set(data) == {"reader"}  # "other" is not named by the bucket policy
    assert data["reader"][0]["evidence"]["resource"] == "arn:aws:s3:::acme-data"


def test_bucket_access_needs_the_readers_identity_side_too():
    bucket = data_bucket(f"arn:aws:iam::{DEV}:root")
    found = audit({DEV: account(DEV, roles=[role(DEV, "reader", TRUST_EC2)]), DATA: account(DATA, resources=[bucket])})
    assert on(found, "cross_account_data_access") == {}


def test_a_principal_that_escalates_in_its_own_account_takes_that_accounts_cross_account_edges():
    escalate = {"self": doc(allow("iam:PutUserPolicy", f"arn:aws:iam::{TOOLS}:user/esc"))}
    found = audit(
        {
            TOOLS: account(TOOLS, users=[user(TOOLS, "ci", inline=ASSUME_DEPLOY), user(TOOLS, "esc", inline=escalate)]),
            PROD: prod(trusting(f"arn:aws:iam::{TOOLS}:root")),
        }
    )
    admin = on(found, "cross_account_admin_path")
    assert set(admin) == {"ci", "esc"}
    path = admin["esc"][0]["evidence"]["path"]
    assert [h["method"] for h in path] == ["PutUserPolicy", "AssumeRole"]
    assert path[1]["from"] == f"arn:aws:iam::{TOOLS}:user/ci" and "administrator of account" in path[1]["how"]


def test_an_rcp_identity_perimeter_keeps_outsiders_out_and_lets_the_organization_in():
    """AWS's RCP example: deny sts:AssumeRole to principals outside the organization."""
    perimeter = identity_perimeter("sts:AssumeRole", "o-example123")
    accounts = {
        TOOLS: account(TOOLS, users=[user(TOOLS, "ci", inline=ASSUME_DEPLOY)]),
        PROD: account(
            PROD,
            roles=[
                role(PROD, "deploy", trusting(f"arn:aws:iam::{TOOLS}:root"), admin=True),
                role(PROD, "vendor", trusting(f"arn:aws:iam::{OUTSIDER}:root"), admin=True),
            ],
        ),
    }
    open_org = audit(accounts)
    assert set(on(open_org, "external_admin_path")) == {"vendor"}
    fenced = audit(accounts, org(TOOLS, PROD, rcps={PROD: [perimeter]}))
    assert on(fenced, "external_admin_path") == {}
    inside = on(fenced, "cross_account_admin_path")["ci"][0]
    assert not inside["conditioned"], "the organization's own principals pass the perimeter unconditionally"
