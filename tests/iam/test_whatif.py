"""What-if on a snapshot: IAM write operations applied copy-on-write, refused as IAM would refuse them."""

from __future__ import annotations

import copy

import pytest

from audits.iam import whatif
from audits.iam.analysis import Analysis
from tests.iam.builders import allow, arn, doc, group, managed, role, snapshot, user

ADMIN = doc(allow("*"))
READ = doc(allow("cloudwatch:GetMetricData"))


def account():
    readonly = managed("readonly", READ)
    boundary = managed("boundary", READ)
    aws = managed("ReadOnlyAccess", READ, aws=True)
    return snapshot(
        users=[
            user("alice", policies=(readonly,), groups=("devs",)),
            user("bounded", boundary=boundary),
            user("full", policies=tuple(managed(f"p{i}", READ) for i in range(10))),
        ],
        roles=[
            role("app", policies=(readonly,)),
            {**role("AWSReservedSSO_Admin"), "Path": "/aws-reserved/sso.amazonaws.com/"},
            {**role("AWSServiceRoleForSupport"), "Path": "/aws-service-role/support.amazonaws.com/"},
        ],
        groups=[group("devs"), group("ops")],
        policies=[readonly, boundary, aws, *(managed(f"p{i}", READ) for i in range(10))],
    )


def one(snap, op):
    after, errors = whatif.apply(snap, [op])
    return after, errors


def entry(snap, kind: str, name: str) -> dict:
    lists = {"user": snap.users, "role": snap.roles, "group": snap.groups, "policy": snap.policies}
    key = {"user": "UserName", "role": "RoleName", "group": "GroupName", "policy": "PolicyName"}[kind]
    return next(e for e in lists[kind] if e[key] == name)


@pytest.mark.parametrize("kind, name", [("user", "alice"), ("role", "app"), ("group", "devs")])
def test_it_puts_and_deletes_inline_policies(kind, name):
    snap = account()
    key = {"user": "UserName", "role": "RoleName", "group": "GroupName"}[kind]
    title = kind.title()
    after, errors = one(snap, {"Operation": f"Put{title}Policy", key: name, "PolicyName": "x", "PolicyDocument": ADMIN})
    assert errors == []
    listed = entry(after, kind, name)[f"{title}PolicyList"]
    assert listed == [{"PolicyName": "x", "PolicyDocument": ADMIN}]
    again, errors = one(after, {"Operation": f"Delete{title}Policy", key: name, "PolicyName": "x"})
    assert errors == [] and entry(again, kind, name)[f"{title}PolicyList"] == []
    _, errors = one(snap, {"Operation": f"Delete{title}Policy", key: name, "PolicyName": "x"})
    assert [e.code for e in errors] == ["NoSuchEntity"]


@pytest.mark.parametrize("kind, name", [("user", "alice"), ("role", "app"), ("group", "devs")])
def test_it_attaches_and_detaches_managed_policies(kind, name):
    snap = account()
    key = {"user": "UserName", "role": "RoleName", "group": "GroupName"}[kind]
    title = kind.title()
    policy_arn = arn("policy", "p0")
    after, errors = one(snap, {"Operation": f"Attach{title}Policy", key: name, "PolicyArn": policy_arn})
    assert errors == []
    assert policy_arn in [a["PolicyArn"] for a in entry(after, kind, name)["AttachedManagedPolicies"]]
    assert entry(after, "policy", "p0")["AttachmentCount"] == 2
    again, errors = one(after, {"Operation": f"Detach{title}Policy", key: name, "PolicyArn": policy_arn})
    assert errors == []
    assert policy_arn not in [a["PolicyArn"] for a in entry(again, kind, name)["AttachedManagedPolicies"]]
    _, errors = one(snap, {"Operation": f"Detach{title}Policy", key: name, "PolicyArn": policy_arn})
    assert [e.code for e in errors] == ["NoSuchEntity"]


def test_it_refuses_unknown_principals_and_policies():
    snap = account()
    _, errors = whatif.apply(
        snap,
        [
            {"Operation": "PutUserPolicy", "UserName": "ghost", "PolicyName": "x", "PolicyDocument": ADMIN},
            {"Operation": "AttachRolePolicy", "RoleName": "app", "PolicyArn": arn("policy", "ghost")},
            {"Operation": "AddUserToGroup", "UserName": "alice", "GroupName": "ghost"},
            {"Operation": "SetDefaultPolicyVersion", "PolicyArn": arn("policy", "readonly"), "VersionId": "v9"},
            {"Operation": "Frobnicate"},
        ],
    )
    assert [(e.index, e.code) for e in errors] == [
        (0, "NoSuchEntity"),
        (1, "NoSuchEntity"),
        (2, "NoSuchEntity"),
        (3, "NoSuchEntity"),
        (4, "InvalidAction"),
    ]


def test_it_limits_managed_policies_per_principal():
    snap = account()
    _, errors = one(snap, {"Operation": "AttachUserPolicy", "UserName": "full", "PolicyArn": arn("policy", "readonly")})
    assert [e.code for e in errors] == ["LimitExceeded"]


def test_it_creates_versions_up_to_five_and_sets_the_default():
    snap = account()
    policy_arn = arn("policy", "readonly")
    ops = [{"Operation": "CreatePolicyVersion", "PolicyArn": policy_arn, "PolicyDocument": READ} for _ in range(4)]
    ops.append({"Operation": "CreatePolicyVersion", "PolicyArn": policy_arn, "PolicyDocument": ADMIN})
    after, errors = whatif.apply(snap, ops)
    assert [(e.index, e.code) for e in errors] == [(4, "LimitExceeded")]
    versions = entry(after, "policy", "readonly")["PolicyVersionList"]
    assert [v["VersionId"] for v in versions] == ["v1", "v2", "v3", "v4", "v5"]
    after, errors = whatif.apply(
        after,
        [
            {"Operation": "DeletePolicyVersion", "PolicyArn": policy_arn, "VersionId": "v5"},
            {
                "Operation": "CreatePolicyVersion",
                "PolicyArn": policy_arn,
                "PolicyDocument": ADMIN,
                "SetAsDefault": True,
            },
            {"Operation": "DeletePolicyVersion", "PolicyArn": policy_arn, "VersionId": "v5"},
            {"Operation": "SetDefaultPolicyVersion", "PolicyArn": policy_arn, "VersionId": "v2"},
        ],
    )
    assert [(e.index, e.code) for e in errors] == [(2, "DeleteConflict")]
    policy = entry(after, "policy", "readonly")
    assert policy["DefaultVersionId"] == "v2"
    assert [v["VersionId"] for v in policy["PolicyVersionList"] if v["IsDefaultVersion"]] == ["v2"]


def test_it_refuses_to_change_aws_managed_policies_and_protected_roles():
    snap = account()
    aws_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    _, errors = whatif.apply(
        snap,
        [
            {"Operation": "CreatePolicyVersion", "PolicyArn": aws_arn, "PolicyDocument": ADMIN, "SetAsDefault": True},
            {"Operation": "SetDefaultPolicyVersion", "PolicyArn": aws_arn, "VersionId": "v1"},
            {"Operation": "DeletePolicy", "PolicyArn": aws_arn},
            {"Operation": "AttachRolePolicy", "RoleName": "AWSReservedSSO_Admin", "PolicyArn": arn("policy", "p0")},
            {
                "Operation": "PutRolePolicy",
                "RoleName": "AWSServiceRoleForSupport",
                "PolicyName": "x",
                "PolicyDocument": ADMIN,
            },
            {"Operation": "UpdateAssumeRolePolicy", "RoleName": "AWSReservedSSO_Admin", "PolicyDocument": ADMIN},
        ],
    )
    assert [e.code for e in errors] == ["UnmodifiableEntity"] * 6


def test_it_moves_users_between_groups():
    snap = account()
    after, errors = whatif.apply(
        snap,
        [
            {"Operation": "AddUserToGroup", "UserName": "alice", "GroupName": "ops"},
            {"Operation": "RemoveUserFromGroup", "UserName": "alice", "GroupName": "devs"},
            {"Operation": "RemoveUserFromGroup", "UserName": "alice", "GroupName": "devs"},
        ],
    )
    assert [(e.index, e.code) for e in errors] == [(2, "NoSuchEntity")]
    assert entry(after, "user", "alice")["GroupList"] == ["ops"]


def test_it_puts_and_deletes_permissions_boundaries():
    snap = account()
    after, errors = whatif.apply(
        snap,
        [
            {"Operation": "DeleteUserPermissionsBoundary", "UserName": "bounded"},
            {"Operation": "DeleteUserPermissionsBoundary", "UserName": "bounded"},
            {
                "Operation": "PutRolePermissionsBoundary",
                "RoleName": "app",
                "PermissionsBoundary": arn("policy", "boundary"),
            },
            {
                "Operation": "PutRolePermissionsBoundary",
                "RoleName": "app",
                "PermissionsBoundary": arn("policy", "ghost"),
            },
        ],
    )
    assert [(e.index, e.code) for e in errors] == [(1, "NoSuchEntity"), (3, "NoSuchEntity")]
    assert "PermissionsBoundary" not in entry(after, "user", "bounded")
    assert entry(after, "role", "app")["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn("policy", "boundary")


def test_it_rewrites_trust_and_records_access_keys():
    snap = account()
    trust = doc({"Effect": "Allow", "Principal": {"AWS": arn("user", "alice")}, "Action": "sts:AssumeRole"})
    outcome = whatif.apply_ops(
        snap,
        [
            {"Operation": "UpdateAssumeRolePolicy", "RoleName": "app", "PolicyDocument": trust},
            {"Operation": "CreateAccessKey", "UserName": "bounded"},
            {"Operation": "CreateAccessKey", "UserName": "ghost"},
        ],
    )
    assert [(e.index, e.code) for e in outcome.errors] == [(2, "NoSuchEntity")]
    assert entry(outcome.snapshot, "role", "app")["AssumeRolePolicyDocument"] == trust
    assert outcome.records == [
        {"Operation": "CreateAccessKey", "UserName": "bounded", "control": arn("user", "bounded")}
    ]
    assert outcome.touched == {arn("role", "app")}


def test_it_creates_and_deletes_entities():
    snap = account()
    trust = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    after, errors = whatif.apply(
        snap,
        [
            {"Operation": "CreateUser", "UserName": "new"},
            {"Operation": "CreateUser", "UserName": "new"},
            {"Operation": "CreateRole", "RoleName": "made", "AssumeRolePolicyDocument": trust},
            {"Operation": "CreatePolicy", "PolicyName": "fresh", "PolicyDocument": ADMIN},
            {"Operation": "CreatePolicy", "PolicyName": "fresh", "PolicyDocument": ADMIN},
            {"Operation": "DeletePolicy", "PolicyArn": arn("policy", "readonly")},
            {"Operation": "PutUserPolicy", "UserName": "new", "PolicyName": "x", "PolicyDocument": "{not json"},
            {"Operation": "DeletePolicy", "PolicyArn": arn("policy", "fresh")},
        ],
    )
    assert [(e.index, e.code) for e in errors] == [
        (1, "EntityAlreadyExists"),
        (4, "EntityAlreadyExists"),
        (5, "DeleteConflict"),
        (6, "MalformedPolicyDocument"),
    ]
    assert entry(after, "user", "new")["Arn"] == arn("user", "new")
    assert entry(after, "role", "made")["AssumeRolePolicyDocument"] == trust
    assert not [p for p in after.policies if p["PolicyName"] == "fresh"]


def test_it_finds_entities_by_name_after_creations_deletions_and_earlier_what_ifs():
    # Names are looked up in an index of the original snapshot, kept with it: entities created since, policies
    # deleted (their places move) and a second what-if on the same snapshot must all be found as by a full read.
    snap = account()
    trust = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    first, errors = whatif.apply(snap, [{"Operation": "PutUserPolicy", "UserName": "alice", "PolicyName": "x",
                                         "PolicyDocument": ADMIN}])  # fmt: skip
    assert not errors
    after, errors = whatif.apply(
        snap,
        [
            {"Operation": "CreateUser", "UserName": "zed"},
            {"Operation": "PutUserPolicy", "UserName": "zed", "PolicyName": "x", "PolicyDocument": ADMIN},
            {"Operation": "CreateRole", "RoleName": "made", "AssumeRolePolicyDocument": trust},
            {"Operation": "PutRolePolicy", "RoleName": "made", "PolicyName": "x", "PolicyDocument": ADMIN},
            {"Operation": "CreatePolicy", "PolicyName": "gone", "PolicyDocument": ADMIN},
            {"Operation": "CreatePolicy", "PolicyName": "fresh", "PolicyDocument": ADMIN},
            {"Operation": "DeletePolicy", "PolicyArn": arn("policy", "gone")},
            {"Operation": "AttachUserPolicy", "UserName": "alice", "PolicyArn": arn("policy", "fresh")},
            {"Operation": "PutUserPolicy", "UserName": "nobody", "PolicyName": "x", "PolicyDocument": ADMIN},
        ],
    )
    assert [(e.index, e.code) for e in errors] == [(8, "NoSuchEntity")]
    assert entry(after, "user", "zed")["UserPolicyList"][0]["PolicyName"] == "x"
    assert entry(after, "role", "made")["RolePolicyList"][0]["PolicyName"] == "x"
    assert arn("policy", "fresh") in [a["PolicyArn"] for a in entry(after, "user", "alice")["AttachedManagedPolicies"]]
    # The first what-if's change is its own: the second started from the original.
    assert [p["PolicyName"] for p in entry(first, "user", "alice")["UserPolicyList"]].count("x") == 1
    assert "x" not in [p["PolicyName"] for p in entry(after, "user", "alice")["UserPolicyList"]]


def test_it_refuses_oversized_documents():
    big = doc(*(allow(f"s3:GetObject{i}", f"arn:aws:s3:::bucket-{i}/*") for i in range(60)))
    _, errors = one(
        account(), {"Operation": "PutUserPolicy", "UserName": "alice", "PolicyName": "x", "PolicyDocument": big}
    )
    assert [e.code for e in errors] == ["LimitExceeded"]


def test_it_leaves_the_original_untouched_and_shares_what_it_does_not_change():
    snap = account()
    before = copy.deepcopy(snap.to_dict())
    after, errors = whatif.apply(
        snap,
        [
            {"Operation": "PutUserPolicy", "UserName": "alice", "PolicyName": "x", "PolicyDocument": ADMIN},
            {"Operation": "AttachRolePolicy", "RoleName": "app", "PolicyArn": arn("policy", "p1")},
            {"Operation": "CreatePolicyVersion", "PolicyArn": arn("policy", "readonly"), "PolicyDocument": ADMIN},
            {"Operation": "AttachUserPolicy", "UserName": "full", "PolicyArn": arn("policy", "readonly")},  # refused
        ],
    )
    assert [e.code for e in errors] == ["LimitExceeded"]
    assert snap.to_dict() == before
    assert entry(after, "user", "bounded") is entry(snap, "user", "bounded")
    assert entry(after, "user", "alice") is not entry(snap, "user", "alice")
    assert entry(after, "user", "full") is entry(snap, "user", "full")


def test_the_engine_reads_the_changed_snapshot():
    snap = account()
    after, errors = one(
        snap,
        {"Operation": "AttachRolePolicy", "RoleName": "app", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
    )
    assert errors == []
    after, errors = one(
        after, {"Operation": "PutRolePolicy", "RoleName": "app", "PolicyName": "x", "PolicyDocument": ADMIN}
    )
    assert errors == []
    assert arn("role", "app") in Analysis(after).admins and arn("role", "app") not in Analysis(snap).admins
