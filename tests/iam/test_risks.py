import pytest

from tests.iam.builders import allow, deny, doc, findings, group, healthy, hits, managed, role, user


def policy_hits(document, check_id, *, aws=False, attachments=1):
    pol = managed("pol", document, aws=aws, attachments=attachments)
    holder = user("holder", policies=(pol,)) if attachments else None
    snap = healthy(users=[holder] if holder else [], policies=[pol])
    return hits(snap, check_id, "pol")


@pytest.mark.parametrize(
    ("check_id", "risky", "decoy"),
    [
        ("policy_admin_access", allow("*"), allow(["s3:*", "ec2:*"])),
        ("policy_data_exfiltration", allow("s3:GetObject"), allow("s3:GetObject", "arn:aws:s3:::reports/*")),
        ("policy_data_exfiltration", allow("secretsmanager:GetSecretValue"), allow("secretsmanager:DescribeSecret")),
        ("policy_resource_exposure", allow("s3:PutBucketPolicy"), allow("s3:PutBucketPolicy", "arn:aws:s3:::mine")),
        ("policy_credentials_exposure", allow("ecr:GetAuthorizationToken"), allow("ecr:DescribeRepositories")),
        ("policy_infrastructure_modification", allow("ec2:TerminateInstances"), allow("ec2:Describe*")),
        ("policy_service_wildcard", allow("dynamodb:*"), allow(["dynamodb:GetItem", "dynamodb:Query"])),
        ("policy_defense_evasion", allow("cloudtrail:StopLogging"), allow("cloudtrail:DescribeTrails")),
        ("policy_full_kms_access", allow("kms:*"), allow("kms:*", "arn:aws:kms:eu-west-1:111122223333:key/k")),
        ("policy_full_cloudtrail_access", allow("cloudtrail:*"), allow("cloudtrail:Get*")),
        (
            "policy_marketplace_subscribe",
            allow("aws-marketplace:Subscribe"),
            allow("aws-marketplace:ViewSubscriptions"),
        ),
        (
            "policy_permissive_role_assumption",
            allow("sts:AssumeRole"),
            allow("sts:AssumeRole", "arn:aws:iam::111122223333:role/deploy"),
        ),
        ("policy_privilege_escalation", allow("iam:PutUserPolicy"), allow("iam:GetUserPolicy")),
    ],
)
def test_it_flags_the_risky_policy_and_not_its_decoy(check_id, risky, decoy):
    assert len(policy_hits(doc(risky), check_id)) == 1
    assert policy_hits(doc(decoy), check_id) == []


def test_it_does_not_call_a_service_wildcard_whose_changes_are_denied_a_wildcard():
    guarded = doc(allow("iam:*"), {"Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*"], "Resource": "*"})
    assert policy_hits(guarded, "policy_service_wildcard") == []
    assert len(policy_hits(doc(allow("iam:*"), deny("iam:DeleteRole")), "policy_service_wildcard")) == 1


def test_it_leaves_security_audit_alone_despite_odd_dataset_levels():
    audit_doc = doc(allow(["quicksight:Describe*", "iot:List*", "ec2:Describe*", "s3:GetBucket*", "iam:Get*"]))
    assert policy_hits(audit_doc, "policy_resource_exposure", aws=True) == []
    assert len(policy_hits(audit_doc, "policy_resource_exposure")) == 1  # the same grant, customer-managed


def test_it_lets_a_deny_in_the_policy_cancel_the_risk():
    assert policy_hits(doc(allow("s3:GetObject"), deny("s3:GetObject")), "policy_data_exfiltration") == []


def test_it_says_under_which_condition_a_grant_holds():
    # Issue 8: a condition no longer lowers the severity ("Mitigated"); the finding names it instead.
    cond = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    [f] = policy_hits(doc(allow("secretsmanager:GetSecretValue", Condition=cond)), "policy_data_exfiltration")
    assert f["severity"] == "medium"
    assert f["conditioned"] and "Only when" in f["detail"] and "aws:SourceIp" in f["detail"]


def test_it_reports_an_unattached_admin_policy_as_admin_access():
    # Issue: an unattached customer policy granting '*:*' is admin access (Prowler's
    # iam_customer_unattached_policy_no_administrative_privileges), rated medium, not a low hygiene note.
    assert policy_hits(doc(allow("*")), "policy_grant_ineffective", attachments=0) == []
    [f] = policy_hits(doc(allow("*")), "policy_admin_access", attachments=0)
    assert f["severity"] == "medium" and f["category"] == "admin_access"
    assert "attached to no one" in f["detail"]


def test_it_notes_an_admin_policy_whose_only_holder_is_denied():
    pol = managed("pol", doc(allow("*")))
    fence = managed("fence", doc(allow("s3:ListAllMyBuckets")))
    denied = user("holder", policies=(pol,), boundary=fence)
    found = findings(healthy(users=[denied], policies=[pol, fence]))
    assert not [f for f in found if f["category"] in ("admin_access", "privilege_escalation")]
    [note] = [f for f in found if f["check_id"] == "policy_grant_ineffective"]
    assert note["principal_name"] == "pol" and "permissions boundary fence" in note["detail"]


def test_it_flags_an_inline_allow_all_on_its_holder():
    found = findings(healthy(users=[user("root-ish", inline={"everything": doc(allow("*"))})]))
    [f] = [f for f in found if f["check_id"] == "policy_admin_access"]
    assert f["policy"] == "everything" and f["evidence"]["effective_for"] == ["arn:aws:iam::111122223333:user/root-ish"]


def test_it_leaves_aws_managed_read_only_policies_alone():
    read_only = doc(allow(["s3:Get*", "s3:List*", "ec2:Describe*", "iam:Get*", "iam:List*"]))
    pol = managed("ViewOnly", read_only, aws=True)
    found = [
        f
        for f in findings(healthy(roles=[role("viewer", policies=(pol,))], policies=[pol]))
        if f["principal_name"] == "ViewOnly"
    ]
    assert found == []


def test_it_still_flags_customer_policies_that_read_every_bucket():
    assert len(policy_hits(doc(allow(["s3:Get*", "s3:List*"])), "policy_data_exfiltration")) == 1


def test_it_reports_the_admin_policy_once_per_principal_kind():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    snap = healthy(
        users=[user("alice", policies=(admin,))],
        roles=[role("ops", policies=(admin,))],
        groups=[group("admins", policies=(admin,))],
        policies=[admin],
    )
    snap.users.append(user("carol", groups=("admins",)))
    assert [f["principal_name"] for f in hits(snap, "user_admin_access")] == ["alice", "carol"]
    assert [f["principal_name"] for f in hits(snap, "role_admin_access")] == ["ops"]
    assert [f["principal_name"] for f in hits(snap, "group_admin_access")] == ["admins"]
    assert len(hits(snap, "policy_admin_access")) == 1


def test_it_grants_admin_to_group_members():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    snap = healthy(
        users=[user("bob", groups=("admins",))], groups=[group("admins", policies=(admin,))], policies=[admin]
    )
    [f] = hits(snap, "user_admin_access", "bob")
    assert "AdministratorAccess" in f["detail"]


def test_it_respects_a_permissions_boundary():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    fence = managed("fence", doc(allow(["s3:*"])))
    snap = healthy(roles=[role("bounded", policies=(admin,), boundary=fence)], policies=[admin, fence])
    assert hits(snap, "role_admin_access") == []


def test_it_evaluates_inline_policies_with_the_holders_denies():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    risky = user("r", inline={"keys": doc(allow("iam:CreateAccessKey"))})
    guarded = user("g", inline={"keys": doc(allow("iam:CreateAccessKey")), "guard": doc(deny("iam:*"))})
    snap = healthy(users=[risky, guarded, user("boss", policies=(admin,))], policies=[admin])
    found = hits(snap, "policy_privilege_escalation")
    assert [(f["principal_name"], f["policy"]) for f in found] == [("r", "keys")]
    assert [(f["principal_name"], f["policy"]) for f in hits(snap, "policy_grant_ineffective")] == [("g", "keys")]


def test_it_flags_cloudshell_full_access():
    shell = managed("AWSCloudShellFullAccess", doc(allow("cloudshell:*")), aws=True)
    snap = healthy(users=[user("dev", policies=(shell,)), user("ops")], policies=[shell])
    assert [f["principal_name"] for f in hits(snap, "cloudshell_full_access")] == ["dev"]


def test_it_flags_users_with_their_own_policies():
    pol = managed("p", doc(allow("s3:ListAllMyBuckets")))
    snap = healthy(
        users=[user("direct", policies=(pol,)), user("grouped", groups=("g",))],
        groups=[group("g", policies=(pol,))],
        policies=[pol],
    )
    assert [f["principal_name"] for f in hits(snap, "user_attached_policies")] == ["direct"]


def test_it_does_not_call_power_users_or_guarded_admins_administrators():
    power = managed(
        "PowerUserAccess",
        doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}),
        aws=True,
    )
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    guard = managed("guard", doc(deny(["iam:*", "organizations:*"])))
    snap = healthy(
        users=[user("power", policies=(power,)), user("guarded", groups=("g",))],
        groups=[group("g", policies=(admin, guard))],
        policies=[power, admin, guard],
    )
    assert hits(snap, "user_admin_access") == []
    assert hits(snap, "group_admin_access") == []


def test_it_ignores_a_boundary_missing_from_the_export():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    ghost = {"PolicyName": "ghost", "Arn": "arn:aws:iam::111122223333:policy/ghost"}
    bounded = role("bounded", policies=(admin,), boundary=ghost)
    assert len(hits(healthy(roles=[bounded], policies=[admin]), "role_admin_access")) == 1


def test_it_keeps_a_conditioned_broad_grant_instead_of_dropping_it():
    cond = {"StringEquals": {"aws:PrincipalTag/team": "storage"}}
    [f] = policy_hits(doc(allow("s3:PutBucketPolicy", Condition=cond)), "policy_resource_exposure")
    assert f["severity"] == "high" and f["conditioned"]


def test_it_counts_every_role_of_an_account_as_permissive_role_assumption():
    assert (
        len(policy_hits(doc(allow("sts:AssumeRole", "arn:aws:iam::*:role/*")), "policy_permissive_role_assumption"))
        == 1
    )


def test_it_applies_a_groups_deny_to_its_members():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    guard = managed("no-iam", doc(deny("iam:*")))
    snap = healthy(
        users=[user("ops", policies=(admin,), groups=("guarded",))],
        groups=[group("guarded", policies=(guard,))],
        policies=[admin, guard],
    )
    assert hits(snap, "user_admin_access") == []
