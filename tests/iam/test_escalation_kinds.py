"""Self-changes followed to a fixpoint, and the three escalation findings told apart: escalates now, grants admin
to another principal, latent. policy_grant_ineffective only where something named cancels the grant."""

from __future__ import annotations

from tests.iam.builders import allow, arn, deny, doc, findings, group, healthy, managed, role, user

ADMIN = managed("AdministratorAccess", doc(allow("*")), aws=True)


def on(found: list[dict], name: str, check_id: str) -> list[dict]:
    return [f for f in found if f["principal_name"] == name and f["check_id"] == check_id]


def test_joining_a_group_then_granting_oneself_admin_is_a_chain():
    power = managed("power", doc(allow(["iam:*", "ec2:*", "s3:*"])))
    join = managed("join", doc(allow("iam:AddUserToGroup", arn("group", "power"))))
    found = findings(
        healthy(
            users=[user("joiner", policies=(join,))], groups=[group("power", policies=(power,))], policies=[power, join]
        )
    )
    [f] = on(found, "joiner", "principal_privilege_escalation")
    assert [h["method"] for h in f["evidence"]["path"]] == ["AddUserToGroup", "PutUserPolicy"]
    assert "2 hop(s)" in f["detail"] and "AddUserToGroup on power" in f["detail"]


def test_a_boundary_that_lets_itself_be_removed_is_a_chain():
    boundary = managed(
        "fence", doc(allow(["iam:PutUserPolicy", "iam:DeleteUserPermissionsBoundary"], arn("user", "bounded")))
    )
    iam_star = managed("iam-star", doc(allow("iam:*")))
    found = findings(
        healthy(users=[user("bounded", policies=(iam_star,), boundary=boundary)], policies=[boundary, iam_star])
    )
    [f] = on(found, "bounded", "principal_privilege_escalation")
    assert [h["method"] for h in f["evidence"]["path"]] == ["DeletePermissionsBoundary", "PutUserPolicy"]


def test_a_boundary_that_blocks_the_second_step_keeps_it_quiet():
    power = managed("power", doc(allow(["iam:*", "ec2:*", "s3:*"])))
    join = managed("join", doc(allow("iam:AddUserToGroup", arn("group", "power"))))
    fence = managed("fence", doc(allow("iam:AddUserToGroup")))
    found = findings(
        healthy(
            users=[user("blocked", policies=(join,), boundary=fence)],
            groups=[group("power", policies=(power,))],
            policies=[power, join, fence],
        )
    )
    assert not [f for f in found if f["principal_name"] == "blocked" and f["category"] == "privilege_escalation"]


def test_a_role_rewriting_a_policy_attached_to_itself_escalates():
    held = managed("held", doc(allow("cloudwatch:GetMetricData")))
    versions = managed("versions", doc(allow("iam:CreatePolicyVersion", arn("policy", "held"))))
    found = findings(healthy(roles=[role("app", policies=(versions, held))], policies=[held, versions]))
    [f] = on(found, "app", "principal_privilege_escalation")
    assert f["evidence"]["method"] == "CreateNewPolicyVersion"


def test_rewriting_a_policy_held_by_another_user_grants_admin_to_that_user():
    held = managed("held", doc(allow("cloudwatch:GetMetricData")))
    found = findings(
        healthy(
            users=[
                user("writer", inline={"v": doc(allow("iam:CreatePolicyVersion"))}),
                user("victim", policies=(held,)),
            ],
            policies=[held],
        )
    )
    [f] = on(found, "writer", "principal_grants_admin")
    assert f["severity"] == "high" and f["evidence"]["target"] == arn("user", "victim")
    assert "victim" in f["detail"] and "CreatePolicyVersion" in f["detail"]
    assert not on(found, "writer", "principal_privilege_escalation")
    assert not [f for f in found if f["check_id"] == "policy_grant_ineffective"]


def test_a_deny_that_cancels_the_grant_is_named():
    keys = managed("keys", doc(allow("iam:CreateAccessKey")))
    guard = managed("guard", doc(deny("iam:CreateAccessKey")))
    found = findings(
        healthy(
            users=[user("dev", policies=(keys, guard)), user("boss", policies=(ADMIN,))], policies=[keys, guard, ADMIN]
        )
    )
    [note] = on(found, "keys", "policy_grant_ineffective")
    assert "by a Deny in guard" in note["detail"] and note["severity"] == "low"


def test_a_condition_that_cannot_hold_is_named():
    cond = {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}
    keys = managed("keys", doc(allow("iam:CreateAccessKey", Condition=cond)))
    found = findings(
        healthy(users=[user("dev", policies=(keys,)), user("boss", policies=(ADMIN,))], policies=[keys, ADMIN])
    )
    [note] = on(found, "keys", "policy_grant_ineffective")
    assert "condition of keys that cannot hold" in note["detail"]


def test_an_admin_group_with_no_members_is_admin_access():
    found = findings(healthy(groups=[group("admins", policies=(ADMIN,))], policies=[ADMIN]))
    [f] = on(found, "admins", "group_admin_access")
    assert f["severity"] == "medium" and "no members" in f["detail"]


def test_a_not_action_allow_is_reported_by_what_it_grants():
    everything_but = managed(
        "everything-but",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}],
        },
    )
    found = findings(healthy(roles=[role("wide", policies=(everything_but,))], policies=[everything_but]))
    [f] = [f for f in on(found, "everything-but", "policy_service_wildcard") if "NotAction" in f["detail"]]
    assert "every action of every service except iam:*, organizations:*" in f["detail"]
    assert not on(found, "everything-but", "policy_grant_ineffective")
