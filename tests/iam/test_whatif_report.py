"""The what-if report and the Terraform plan reader: a change set or a plan is applied to a snapshot, audited again,
and the difference is what a reviewer (or a CI gate) reads."""

import json
from collections.abc import Sequence

import pytest

from audits.iam import whatif_report
from audits.iam.snapshot import load_snapshot
from audits.iam.terraform_plan import PlanError, ops_from_plan
from audits.iam.whatif import apply_ops

ACCOUNT = "111122223333"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
TRUST_EC2 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def user(name: str, **extra) -> dict:
    return {
        "UserName": name,
        "Path": "/",
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "UserId": "AIDA" + name.upper().ljust(17, "X")[:17],
        "GroupList": [],
        "AttachedManagedPolicies": [],
        "UserPolicyList": [],
        **extra,
    }


def role(name: str, **extra) -> dict:
    return {
        "RoleName": name,
        "Path": "/",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "RoleId": "AROA" + name.upper().ljust(17, "X")[:17],
        "AssumeRolePolicyDocument": TRUST_EC2,
        "AttachedManagedPolicies": [],
        "RolePolicyList": [],
        "InstanceProfileList": [],
        **extra,
    }


def admin_policy() -> dict:
    return {
        "PolicyName": "AdministratorAccess",
        "Arn": ADMIN,
        "Path": "/",
        "DefaultVersionId": "v1",
        "AttachmentCount": 0,
        "IsAttachable": True,
        "PolicyVersionList": [
            {
                "VersionId": "v1",
                "IsDefaultVersion": True,
                "Document": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                },
            }
        ],
    }


@pytest.fixture
def snapshot():
    details = {
        "UserDetailList": [user("dev", UserPolicyList=[{"PolicyName": "read", "PolicyDocument": READ}])],
        "RoleDetailList": [role("app")],
        "GroupDetailList": [],
        "Policies": [admin_policy()],
    }
    return load_snapshot(json.dumps(details).encode())


def test_it_reports_a_new_administrator_and_fails_the_gate(snapshot):
    report = whatif_report.compare(snapshot, [{"Operation": "AttachUserPolicy", "UserName": "dev", "PolicyArn": ADMIN}])
    assert not report.errors
    assert [(f["check_id"], f["principal_arn"]) for f in report.added if f["check_id"] == "user_admin_access"] == [
        ("user_admin_access", f"arn:aws:iam::{ACCOUNT}:user/dev")
    ]
    assert {"principal": f"arn:aws:iam::{ACCOUNT}:user/dev", "gains": ["administrator"], "loses": []} in report.access
    assert report.gate_failures and report.to_dict()["gate"] == "fail"
    assert "gate: FAIL" in whatif_report.as_text(report)


def test_it_passes_a_change_that_adds_no_power(snapshot):
    report = whatif_report.compare(
        snapshot,
        [{"Operation": "PutRolePolicy", "RoleName": "app", "PolicyName": "read", "PolicyDocument": READ}],
    )
    assert not report.gate_failures and report.to_dict()["gate"] == "pass"
    assert not any(f["check_id"] in whatif_report.GATE_CHECKS for f in report.added)


def test_it_reports_what_a_removal_takes_away(snapshot):
    granted = apply_ops(snapshot, [{"Operation": "AttachUserPolicy", "UserName": "dev", "PolicyArn": ADMIN}]).snapshot
    report = whatif_report.compare(granted, [{"Operation": "DetachUserPolicy", "UserName": "dev", "PolicyArn": ADMIN}])
    assert any(f["check_id"] == "user_admin_access" for f in report.removed)
    assert {"principal": f"arn:aws:iam::{ACCOUNT}:user/dev", "gains": [], "loses": ["administrator"]} in report.access
    assert not report.gate_failures


def test_it_names_an_operation_iam_would_refuse(snapshot):
    report = whatif_report.compare(
        snapshot, [{"Operation": "AttachUserPolicy", "UserName": "ghost", "PolicyArn": ADMIN}]
    )
    assert [(e.operation, e.code) for e in report.errors] == [("AttachUserPolicy", "NoSuchEntity")]
    assert not report.added and not report.removed
    assert report.to_dict()["gate"] == "fail"  # a change that would not apply as written is no pass
    assert "IAM would refuse 1 operation(s)" in whatif_report.as_text(report)


# --- terraform show -json ------------------------------------------------------------------------------------------


def change(address: str, kind: str, actions: list[str], before: dict | None, after: dict | None) -> dict:
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": address.split(".")[-1],
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}},
    }


def plan(*changes: dict, config: Sequence[dict] = ()) -> dict:
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "resource_changes": list(changes),
        "configuration": {"root_module": {"resources": list(config)}},
    }


def test_it_reads_a_new_policy_attached_in_the_same_plan_through_its_reference():
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    tf = plan(
        change(
            "aws_iam_policy.ops", "aws_iam_policy", ["create"], None, {"name": "ops", "path": "/", "policy": document}
        ),
        change(
            "aws_iam_user_policy_attachment.dev_ops",
            "aws_iam_user_policy_attachment",
            ["create"],
            None,
            {"user": "dev"},  # policy_arn is known after apply
        ),
        change("aws_s3_bucket.logs", "aws_s3_bucket", ["create"], None, {"bucket": "logs"}),
        config=[
            {
                "address": "aws_iam_user_policy_attachment.dev_ops",
                "expressions": {"policy_arn": {"references": ["aws_iam_policy.ops.arn", "aws_iam_policy.ops"]}},
            }
        ],
    )
    found = ops_from_plan(tf, ACCOUNT)
    assert found.ops == [
        {"Operation": "CreatePolicy", "PolicyName": "ops", "Path": "/", "PolicyDocument": json.loads(document)},
        {"Operation": "AttachUserPolicy", "UserName": "dev", "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/ops"},
    ]
    assert not found.skipped  # the bucket is not IAM; nothing was left out


def test_a_plan_that_makes_an_admin_fails_the_gate(snapshot):
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
    )
    tf = plan(
        change(
            "aws_iam_role_policy.app",
            "aws_iam_role_policy",
            ["create"],
            None,
            {"role": "app", "name": "iam-all", "policy": document},
        ),
        change(
            "aws_iam_role.app",
            "aws_iam_role",
            ["update"],
            {"name": "app", "assume_role_policy": json.dumps(TRUST_EC2)},
            {"name": "app", "assume_role_policy": json.dumps(TRUST_EC2)},
        ),
    )
    found = ops_from_plan(tf, ACCOUNT)
    assert [op["Operation"] for op in found.ops] == ["PutRolePolicy"]  # the role's trust did not change
    report = whatif_report.compare(snapshot, found.ops)
    assert report.gate_failures
    assert any(a["principal"].endswith(":role/app") and a["gains"] for a in report.access)


def test_it_turns_updates_and_deletions_into_their_iam_calls():
    old = json.dumps(READ)
    new = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    arn = f"arn:aws:iam::{ACCOUNT}:policy/p"
    tf = plan(
        change(
            "aws_iam_policy.p", "aws_iam_policy", ["update"], {"arn": arn, "policy": old}, {"arn": arn, "policy": new}
        ),
        change(
            "aws_iam_group_membership.team",
            "aws_iam_group_membership",
            ["update"],
            {"group": "team", "users": ["a", "b"]},
            {"group": "team", "users": ["b", "c"]},
        ),
        change(
            "aws_iam_role_policy_attachment.x",
            "aws_iam_role_policy_attachment",
            ["delete"],
            {"role": "r", "policy_arn": arn},
            None,
        ),
        change("aws_iam_user.u", "aws_iam_user", ["update"], {"name": "u", "permissions_boundary": arn}, {"name": "u"}),
        change("aws_iam_account_alias.a", "aws_iam_account_alias", ["create"], None, {"account_alias": "x"}),
    )
    found = ops_from_plan(tf, ACCOUNT)
    assert found.ops == [
        {"Operation": "CreatePolicyVersion", "PolicyArn": arn, "PolicyDocument": json.loads(new), "SetAsDefault": True},
        {"Operation": "RemoveUserFromGroup", "UserName": "a", "GroupName": "team"},
        {"Operation": "AddUserToGroup", "UserName": "c", "GroupName": "team"},
        {"Operation": "DetachRolePolicy", "RoleName": "r", "PolicyArn": arn},
        {"Operation": "DeleteUserPermissionsBoundary", "UserName": "u"},
    ]
    assert found.skipped == ["aws_iam_account_alias.a: aws_iam_account_alias is not modelled by the what-if"]


@pytest.mark.parametrize("bad", [[], "plan", {"resource_changes": "x"}, {"format_version": "1.2"}])
def test_it_refuses_what_is_not_a_plan(bad):
    with pytest.raises(PlanError):
        ops_from_plan(bad, ACCOUNT)
