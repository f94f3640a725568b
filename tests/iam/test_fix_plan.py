"""Proven fixes: every admin and escalation fix, applied exactly as printed (its AWS CLI lines read back and applied
by the what-if as IAM would), leaves the account without the finding, and creates no finding at medium or above."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audits.iam.analysis import Analysis
from audits.iam.changeset import parse_cli
from audits.iam.checks import SEVERITIES
from audits.iam.finding_types import Finding
from audits.iam.fix_plan import HANDLED, plan_fix
from audits.iam.snapshot import load_demo_snapshot, load_snapshot
from audits.iam.whatif import apply_ops
from audits.iam.whatif_report import audit_findings

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SAMPLES = Path(__file__).resolve().parent / "data" / "samples"
ACCOUNT = "111122223333"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
MEDIUM = SEVERITIES.index("medium")


def as_printed(plan) -> list[dict]:
    """The fix as a reviewer runs it: its CLI lines, read back."""
    return parse_cli("\n".join(plan.to_dict()["cli"]))


def risk_remains(snapshot, finding: Finding) -> bool:
    after = Analysis(snapshot)
    principal = after.account.by_arn.get(finding["principal_arn"])
    if principal is None:
        if finding["principal_arn"] not in after.account.policies:
            return False
        principal = after.account.managed_policy_principal(finding["principal_arn"])
        if principal.arn not in {p.arn for p in after.policy_principals()}:
            return False  # an AWS-managed policy attached to nothing is not audited
    same = {finding["check_id"]} | (
        {"principal_privilege_escalation", "principal_grants_admin", "principal_latent_escalation"}
        if finding["check_id"] in ("principal_privilege_escalation", "principal_grants_admin")
        else set()
    )
    return any(f["check_id"] in same for f in after.findings(principal))


def check_every_fix(snapshot) -> tuple[int, list[str]]:
    findings, _ = audit_findings(snapshot)
    before = Analysis(snapshot)
    handled = [f for f in findings if f["check_id"] in HANDLED]
    problems = []
    for finding in handled:
        plan = plan_fix(snapshot, finding, before)
        label = f"{finding['check_id']} on {finding['principal_arn']}"
        assert plan is not None, label  # every handled check gets a plan
        if plan.owner_steps:
            # AWS protects a role the risk sits on: its permission set is changed outside IAM, so the IAM part
            # alone cannot be proven and must not say it is.
            assert not plan.verified, label
            continue
        if not plan.verified:
            problems.append(f"{label}: not verified ({plan.errors or plan.removes})")
            continue
        printed = as_printed(plan)
        assert printed == plan.ops, label
        outcome = apply_ops(snapshot, printed)
        assert not outcome.errors, (label, outcome.errors)
        if risk_remains(outcome.snapshot, finding):
            problems.append(f"{label}: still found after the printed fix")
        serious = [n for n in plan.new_findings if SEVERITIES.index(n["severity"]) <= MEDIUM]
        if serious:
            problems.append(f"{label}: creates {serious}")
    return len(handled), problems


def test_every_fix_on_the_literature_account_is_proven():
    snapshot = load_snapshot((SCENARIOS / "literature_account.json").read_text())
    count, problems = check_every_fix(snapshot)
    assert count >= 100
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["demo", "cloudsplaining__examples_files_example.json"])
def test_fixes_on_public_accounts_are_proven(name):
    snapshot = load_demo_snapshot() if name == "demo" else load_snapshot((SAMPLES / name).read_bytes())
    count, problems = check_every_fix(snapshot)
    assert count >= 10
    assert not problems, "\n".join(problems)


# --- small accounts, one behaviour each --------------------------------------------------------------------------


def user(name: str, *, inline: dict | None = None, managed=(), groups=()) -> dict:
    return {
        "UserName": name,
        "Path": "/",
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "GroupList": list(groups),
        "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in managed],
        "UserPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
    }


PROFILE = {"InstanceProfileName": "ec2-admin", "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/ec2-admin"}


def role(name: str, *, managed=(), path: str = "/", trust_account: bool = True) -> dict:
    principal = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"} if trust_account else {"Service": "ec2.amazonaws.com"}
    return {
        "RoleName": name,
        "Path": path,
        "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}",
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        },
        "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in managed],
        "RolePolicyList": [],
        "InstanceProfileList": [],
        "RoleLastUsed": {"LastUsedDate": "2026-12-01T00:00:00Z"},
    }


def group(name: str, *, managed=()) -> dict:
    return {
        "GroupName": name,
        "Path": "/",
        "Arn": f"arn:aws:iam::{ACCOUNT}:group/{name}",
        "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in managed],
        "GroupPolicyList": [],
    }


def managed_policy(arn: str, *documents: dict) -> dict:
    count = len(documents)
    return {
        "PolicyName": arn.rsplit("/", 1)[-1],
        "Arn": arn,
        "Path": "/",
        "DefaultVersionId": f"v{count}",
        "AttachmentCount": 1,
        "IsAttachable": True,
        "PolicyVersionList": [
            {"VersionId": f"v{i}", "IsDefaultVersion": i == count, "Document": doc}
            for i, doc in enumerate(documents, 1)
        ],
    }


def allow(*actions: str, resource: str = "*") -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


EVERYTHING = allow("*")


def snapshot_of(users=(), roles=(), groups=(), policies=()) -> object:
    details = {
        "UserDetailList": list(users),
        "RoleDetailList": list(roles),
        "GroupDetailList": list(groups),
        "Policies": [managed_policy(ADMIN, EVERYTHING), *policies],
    }
    return load_snapshot(json.dumps(details).encode())


def the(findings: list[dict], check: str, who: str) -> dict:
    return next(f for f in findings if f["check_id"] == check and f["principal_arn"].endswith(who))


def test_a_fix_for_a_principal_with_two_paths_cuts_both():
    snapshot = snapshot_of(
        users=[
            user("helpdesk", inline={"keys": allow("iam:CreateAccessKey"), "hop": allow("sts:AssumeRole")}),
            user("alice", managed=[ADMIN]),
        ],
        roles=[role("ops", managed=[ADMIN])],
    )
    findings, _ = audit_findings(snapshot)
    finding = the(findings, "principal_privilege_escalation", "user/helpdesk")
    plan = plan_fix(snapshot, finding)
    # One round: the path to ops is cut, and CreateAccessKey on "*" (latent: a user created later) with it.
    assert plan.verified and plan.rounds == 1, plan.removes
    fence = plan.ops[-1]["PolicyDocument"]["Statement"]
    denied = {(tuple(s["Action"]), s.get("Resource")) for s in fence}
    # CreateAccessKey on "*" is also a latent way up (a user created later with more rights): denied everywhere.
    assert {(("iam:CreateAccessKey",), f"arn:aws:iam::{ACCOUNT}:user/alice"), (("iam:CreateAccessKey",), "*")} & denied
    assert (("sts:AssumeRole",), f"arn:aws:iam::{ACCOUNT}:role/ops") in denied
    # The principal's own policies are untouched: the fence is a policy of its own.
    assert all(op["PolicyName"] == "aegis-deny-escalation" for op in plan.ops)
    assert not risk_remains(apply_ops(snapshot, as_printed(plan)).snapshot, finding)


def test_a_passrole_path_is_cut_at_the_role_passed_not_at_assume_role():
    snapshot = snapshot_of(
        users=[user("dev", inline={"run": allow("iam:PassRole", "ec2:RunInstances")})],
        # EC2 runs a role only through an instance profile the role is in.
        roles=[{**role("ec2-admin", managed=[ADMIN], trust_account=False), "InstanceProfileList": [PROFILE]}],
    )
    findings, _ = audit_findings(snapshot)
    plan = plan_fix(snapshot, the(findings, "principal_privilege_escalation", "user/dev"))
    assert plan.verified
    statements = plan.ops[-1]["PolicyDocument"]["Statement"]
    assert any(s["Action"] == ["iam:PassRole"] for s in statements)
    assert not any("sts:AssumeRole" in s.get("Action", []) for s in statements)


def test_a_passrole_grant_on_every_role_loses_its_latent_form_in_the_same_round():
    # PassRole on "*" with lambda:CreateFunction reaches the admin role today, and any admin role created later:
    # the fix denies passing the admin role and limits passing to the roles there are today, in one proof round.
    lambda_admin = role("lambda-admin", managed=[ADMIN], trust_account=False)
    lambda_admin["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {"Service": "lambda.amazonaws.com"}
    snapshot = snapshot_of(
        users=[user("dev", inline={"run": allow("iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction")})],
        roles=[lambda_admin, role("reader")],
    )
    findings, _ = audit_findings(snapshot)
    finding = the(findings, "principal_privilege_escalation", "user/dev")
    plan = plan_fix(snapshot, finding)
    assert plan.verified and plan.rounds == 1, plan.removes
    statements = plan.ops[-1]["PolicyDocument"]["Statement"]
    passing = [s for s in statements if s["Action"] == ["iam:PassRole"]]
    assert {"Resource": f"arn:aws:iam::{ACCOUNT}:role/lambda-admin"}.items() <= passing[0].items()
    # The roles it may still pass are those that lead nowhere: the admin role is the risk itself.
    assert passing[1]["NotResource"] == [f"arn:aws:iam::{ACCOUNT}:role/reader"]
    assert not risk_remains(apply_ops(snapshot, as_printed(plan)).snapshot, finding)
    # Without the proof the first cut is the same change set: the latent form is not left for a second round.
    assert plan_fix(snapshot, finding, verify=False).ops == plan.ops


def test_a_passrole_limit_says_how_many_of_the_passable_roles_it_keeps():
    # The limit lists at most 20 roles by name: with more passable today, the fix says it keeps 20 of them, not
    # that those are all the principal can pass; the admin role sorts first by ARN and is still not kept.
    lambda_admin = role("a-lambda-admin", managed=[ADMIN], trust_account=False)
    lambda_admin["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {"Service": "lambda.amazonaws.com"}
    snapshot = snapshot_of(
        users=[user("dev", inline={"run": allow("iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction")})],
        roles=[lambda_admin, *(role(f"worker-{i:02d}") for i in range(30))],
    )
    findings, _ = audit_findings(snapshot)
    plan = plan_fix(snapshot, the(findings, "principal_privilege_escalation", "user/dev"))
    assert plan.verified
    # 31 roles match "*"; the admin one is never kept, so 20 of the other 30, in one proof round.
    assert plan.rounds == 1
    assert any("may pass only 20 of the 30 roles it can pass today (the first by ARN" in line for line in plan.removes)
    kept = plan.ops[-1]["PolicyDocument"]["Statement"][-1]["NotResource"]
    assert f"arn:aws:iam::{ACCOUNT}:role/a-lambda-admin" not in kept and len(kept) == 20


def test_an_admin_through_a_group_leaves_the_group_rather_than_detaching_what_it_does_not_hold():
    snapshot = snapshot_of(users=[user("bob", groups=["admins"])], groups=[group("admins", managed=[ADMIN])])
    findings, _ = audit_findings(snapshot)
    plan = plan_fix(snapshot, the(findings, "user_admin_access", "user/bob"))
    assert plan.verified
    assert plan.ops == [{"Operation": "RemoveUserFromGroup", "GroupName": "admins", "UserName": "bob"}]
    assert apply_ops(snapshot, as_printed(plan)).errors == []


def test_a_policy_at_five_versions_makes_room_and_drops_its_escalating_old_versions():
    arn = f"arn:aws:iam::{ACCOUNT}:policy/ops"
    documents = [
        EVERYTHING,
        allow("s3:GetObject"),
        EVERYTHING,
        allow("ec2:Describe*"),
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "Logs", "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"},
            ],
        },
    ]
    snapshot = snapshot_of(users=[user("ops-user", managed=[arn])], policies=[managed_policy(arn, *documents)])
    findings, _ = audit_findings(snapshot)
    finding = next(f for f in findings if f["check_id"] == "policy_admin_access" and f["principal_arn"] == arn)
    plan = plan_fix(snapshot, finding)
    assert plan.verified, (plan.errors, plan.removes)
    deleted = [op["VersionId"] for op in plan.ops if op["Operation"] == "DeletePolicyVersion"]
    assert {"v1", "v3"} <= set(deleted)  # the old admin versions cannot be made default again
    created = next(op for op in plan.ops if op["Operation"] == "CreatePolicyVersion")
    assert created["PolicyDocument"]["Statement"] == [documents[4]["Statement"][1]]  # the other statement kept
    outcome = apply_ops(snapshot, as_printed(plan))
    assert not outcome.errors


def test_a_role_aws_protects_gets_the_owners_step_and_no_iam_change():
    snapshot = snapshot_of(
        roles=[role("AWSReservedSSO_Admin_0123456789abcdef", managed=[ADMIN], path="/aws-reserved/sso.amazonaws.com/")]
    )
    findings, _ = audit_findings(snapshot)
    plan = plan_fix(snapshot, the(findings, "role_admin_access", "AWSReservedSSO_Admin_0123456789abcdef"))
    assert plan.ops == [] and not plan.verified
    assert "permission set" in plan.owner_steps[0] and "sso-admin" in plan.owner_steps[0]
