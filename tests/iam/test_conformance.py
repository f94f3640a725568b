"""Conformance: single requests whose outcome an AWS documentation page states, each case citing its page.

Every case is asked twice, through `evaluate` without a memo and through one shared Evaluator (whose memo lets
resources under the same Resource patterns share decisions), and both must give the documented verdict. Then two
audits of whole accounts: the roles AWS protects and AWS-managed policies as targets give no escalation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from audits.iam.conditions import Context
from audits.iam.evaluator import (
    ALLOWED,
    CONDITIONAL,
    DENIED,
    KEY_POLICY_UNKNOWN,
    Decision,
    Evaluator,
    Subject,
    compile_policy,
    evaluate,
)
from audits.iam.finding_types import Finding
from audits.iam.service_rules import RULES
from tests.iam import builders as b

ACCOUNT = "111122223333"
OTHER = "444455556666"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

# The pages each case comes from.
IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide"
EVAL = f"{IAM}/reference_policies_evaluation-logic.html"
SINGLE = f"{IAM}/reference_policies_evaluation-logic_policy-eval-basics.html"
DENY_ALLOW = f"{IAM}/reference_policies_evaluation-logic_policy-eval-denyallow.html"
CROSS = f"{IAM}/reference_policies_evaluation-logic-cross-account.html"
BOUNDARIES = f"{IAM}/access_policies_boundaries.html"
SESSION = f"{IAM}/access_policies.html#policies_session"
TRUST = f"{IAM}/reference_policies_elements_principal.html"
RESOURCE = f"{IAM}/reference_policies_elements_resource.html"
NOT_RESOURCE = f"{IAM}/reference_policies_elements_notresource.html"
NOT_ACTION = f"{IAM}/reference_policies_elements_notaction.html"
NOT_PRINCIPAL = f"{IAM}/reference_policies_elements_notprincipal.html"
SCP = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html"
RCP = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html"
KMS = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html"
KMS_DEFAULT = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"
CALLER = "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html"
MANAGED = f"{IAM}/access_policies_managed-vs-inline.html#aws-managed-policies"
SLR = f"{IAM}/using-service-linked-roles.html"
SSO = "https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html"
ALIAS = "https://docs.aws.amazon.com/kms/latest/developerguide/alias-about.html"

ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
APP_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/build"
EVE = f"arn:aws:iam::{OTHER}:user/eve"
OBJECT = "arn:aws:s3:::reports/2026/q4.csv"
QUEUE = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs"  # S3 ARNs name no account: cross-account cases use a queue
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/KeyAdmin"
SSO_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef"
SL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/support.amazonaws.com/AWSServiceRoleForSupport"
AWS_ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def grant(principal, action, resource="*", effect="Allow", key="Principal") -> dict:
    """A resource-policy statement; key="NotPrincipal" for the exceptions form."""
    return {"Effect": effect, key: principal, "Action": action, "Resource": resource}


EVERYTHING = (allow("*"),)
DEFAULT_KEY_POLICY = (grant({"AWS": ROOT}, "kms:*"),)


@dataclass(frozen=True)
class Case:
    id: str
    doc: str
    action: str
    resource: str
    expected: str
    principal: str = ALICE
    identity: tuple[dict, ...] = ()
    boundary: tuple[dict, ...] | None = None
    session: tuple[dict, ...] | None = None
    scps: tuple[tuple[dict, ...], ...] = ()
    rcps: tuple[tuple[dict, ...], ...] = ()
    resource_policy: tuple[dict, ...] | None = None
    trust: bool = False  # the resource policy is a role's trust policy
    context: dict[str, str] = field(default_factory=dict)
    rule: str = ""  # the service-side rule that decides, if one does


def compiled(statements: tuple[dict, ...] | None, kind: str):
    if statements is None:
        return None
    return compile_policy({"Version": "2012-10-17", "Statement": list(statements)}, f"{kind} policy", kind=kind)


def subject_of(case: Case) -> Subject:
    kind = "role" if ":role/" in case.principal else "user"
    return Subject(
        arn=case.principal,
        type=kind,
        identity=compiled(case.identity, "identity") or (),
        boundary=compiled(case.boundary, "boundary"),
        session=compiled(case.session, "session"),
        scps=tuple(compiled(level, "scp") for level in case.scps),
        rcps=tuple(compiled(level, "rcp") for level in case.rcps),
    )


CASES = (
    # --- Policy evaluation logic ---------------------------------------------------------------------------------
    Case("identity-allow", SINGLE, "s3:GetObject", OBJECT, ALLOWED, identity=(allow("s3:GetObject"),)),
    Case("implicit-deny", DENY_ALLOW, "s3:GetObject", OBJECT, DENIED),
    Case("implicit-deny-other-action", DENY_ALLOW, "s3:PutObject", OBJECT, DENIED, identity=(allow("s3:Get*"),)),
    Case(
        "explicit-deny-wins-in-identity",
        DENY_ALLOW,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=(allow("s3:*"), deny("s3:GetObject")),
    ),
    Case(
        "explicit-deny-wins-in-resource-policy",
        EVAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=(allow("s3:*"),),
        resource_policy=(grant({"AWS": ALICE}, "s3:GetObject", effect="Deny"),),
    ),
    Case(
        "explicit-deny-wins-in-boundary",
        BOUNDARIES,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=EVERYTHING,
        boundary=(allow("*"), deny("s3:*")),
    ),
    Case(
        "explicit-deny-wins-in-scp",
        SCP,
        "iam:CreateUser",
        BOB,
        DENIED,
        identity=EVERYTHING,
        scps=((allow("*"), deny("iam:CreateUser")),),
    ),
    Case("scp-must-allow", SCP, "ec2:RunInstances", "*", DENIED, identity=EVERYTHING, scps=((allow("s3:*"),),)),
    Case("scp-grants-nothing", SCP, "s3:GetObject", OBJECT, DENIED, scps=((allow("*"),),)),
    Case(
        "every-scp-level-must-allow",
        SCP,
        "ec2:DescribeInstances",
        "*",
        DENIED,
        identity=EVERYTHING,
        scps=((allow("*"),), (allow("s3:*"),)),
    ),
    Case(
        "scp-and-identity-allow",
        SCP,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=(allow("s3:*"),),
        scps=((allow("*"),), (allow("s3:*"),)),
    ),
    Case("rcp-must-allow", RCP, "s3:GetObject", OBJECT, DENIED, identity=EVERYTHING, rcps=((allow("sqs:*"),),)),
    Case(
        "rcp-explicit-deny",
        RCP,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=EVERYTHING,
        rcps=((allow("*"), grant("*", "s3:GetObject", effect="Deny")),),
    ),
    Case(
        "rcp-leaves-other-services-alone",
        RCP,
        "ec2:DescribeInstances",
        "*",
        ALLOWED,
        identity=EVERYTHING,
        rcps=((allow("*"), grant("*", "*", effect="Deny")),),
    ),
    Case("boundary-grants-nothing", BOUNDARIES, "s3:GetObject", OBJECT, DENIED, boundary=(allow("s3:*"),)),
    Case(
        "boundary-limits-identity",
        BOUNDARIES,
        "iam:CreateUser",
        BOB,
        DENIED,
        identity=EVERYTHING,
        boundary=(allow("s3:*"),),
    ),
    Case(
        "boundary-intersects-identity",
        BOUNDARIES,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=EVERYTHING,
        boundary=(allow("s3:*"),),
    ),
    Case(
        "boundary-does-not-limit-a-user-named-in-a-resource-policy",
        BOUNDARIES,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        boundary=(allow("ec2:*"),),
        resource_policy=(grant({"AWS": ALICE}, "s3:GetObject"),),
    ),
    Case(
        "boundary-limits-a-role-named-in-a-resource-policy",
        BOUNDARIES,
        "s3:GetObject",
        OBJECT,
        DENIED,
        principal=APP_ROLE,
        boundary=(allow("ec2:*"),),
        resource_policy=(grant({"AWS": APP_ROLE}, "s3:GetObject"),),
    ),
    Case(
        "boundary-does-not-limit-a-session-named-in-a-resource-policy",
        BOUNDARIES,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        principal=APP_ROLE,
        boundary=(allow("ec2:*"),),
        resource_policy=(grant({"AWS": APP_SESSION}, "s3:GetObject"),),
    ),
    Case(
        "session-policy-limits-identity",
        SESSION,
        "iam:CreateUser",
        BOB,
        DENIED,
        principal=APP_ROLE,
        identity=EVERYTHING,
        session=(allow("s3:*"),),
    ),
    Case(
        "session-policy-grants-nothing",
        SESSION,
        "s3:GetObject",
        OBJECT,
        DENIED,
        principal=APP_ROLE,
        session=(allow("s3:*"),),
    ),
    Case(
        "session-policy-intersects-identity",
        SESSION,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        principal=APP_ROLE,
        identity=EVERYTHING,
        session=(allow("s3:*"),),
    ),
    Case(
        "same-account-resource-policy-alone-allows-a-user",
        SINGLE,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        resource_policy=(grant({"AWS": ALICE}, "s3:GetObject"),),
    ),
    Case(
        "same-account-identity-alone-allows",
        SINGLE,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=(allow("s3:GetObject"),),
        resource_policy=(grant({"AWS": BOB}, "s3:GetObject"),),
    ),
    Case(
        "cross-account-needs-both-sides",
        CROSS,
        "sqs:SendMessage",
        QUEUE,
        ALLOWED,
        principal=EVE,
        identity=(allow("sqs:SendMessage"),),
        resource_policy=(grant({"AWS": EVE}, "sqs:SendMessage"),),
    ),
    Case(
        "cross-account-resource-policy-alone",
        CROSS,
        "sqs:SendMessage",
        QUEUE,
        DENIED,
        principal=EVE,
        resource_policy=(grant({"AWS": EVE}, "sqs:SendMessage"),),
    ),
    Case(
        "cross-account-identity-alone",
        CROSS,
        "sqs:SendMessage",
        QUEUE,
        DENIED,
        principal=EVE,
        identity=(allow("sqs:SendMessage"),),
    ),
    Case(
        "resource-policy-naming-anyone-grants-without-identity",
        SINGLE,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        resource_policy=(grant("*", "s3:GetObject"),),
    ),
    Case(
        "resource-policy-naming-the-account-delegates-to-iam-policies",
        TRUST,
        "sqs:SendMessage",
        QUEUE,
        DENIED,
        resource_policy=(grant({"AWS": ACCOUNT}, "sqs:SendMessage"),),
    ),
    Case(
        "trust-naming-the-user-needs-no-identity-allow",
        TRUST,
        "sts:AssumeRole",
        APP_ROLE,
        ALLOWED,
        resource_policy=(grant({"AWS": ALICE}, "sts:AssumeRole"),),
        trust=True,
    ),
    Case(
        "trust-naming-the-account-needs-an-identity-allow",
        TRUST,
        "sts:AssumeRole",
        APP_ROLE,
        DENIED,
        resource_policy=(grant({"AWS": ROOT}, "sts:AssumeRole"),),
        trust=True,
    ),
    Case(
        "condition-that-does-not-hold",
        EVAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=(allow("s3:GetObject", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}),),
        context={"aws:RequestedRegion": "us-east-1"},
    ),
    # --- Resource, NotResource, NotAction ------------------------------------------------------------------------
    Case(
        "resource-wildcard-in-path",
        RESOURCE,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=(allow("s3:*", "arn:aws:s3:::reports/*"),),
    ),
    Case(
        "resource-object-pattern-is-not-the-bucket",
        RESOURCE,
        "s3:ListBucket",
        "arn:aws:s3:::reports",
        DENIED,
        identity=(allow("s3:*", "arn:aws:s3:::reports/*"),),
    ),
    Case(
        "resource-is-case-sensitive",
        RESOURCE,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=(allow("s3:*", "arn:aws:s3:::REPORTS/*"),),
    ),
    Case(
        "resource-star-at-segment-end-crosses-colons",
        RESOURCE,
        "logs:PutLogEvents",
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:app:log-stream:web-1",
        ALLOWED,
        identity=(allow("logs:PutLogEvents", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:*"),),
    ),
    Case(
        "resource-other-account",
        RESOURCE,
        "iam:PassRole",
        f"arn:aws:iam::{OTHER}:role/app",
        DENIED,
        identity=(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*"),),
    ),
    Case(
        "not-resource-excludes",
        NOT_RESOURCE,
        "s3:GetObject",
        "arn:aws:s3:::payroll/q4.csv",
        DENIED,
        identity=({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::payroll/*"},),
    ),
    Case(
        "not-resource-allows-the-rest",
        NOT_RESOURCE,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::payroll/*"},),
    ),
    Case(
        "not-action-allow-excludes",
        NOT_ACTION,
        "iam:CreateUser",
        BOB,
        DENIED,
        identity=({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},),
    ),
    Case(
        "not-action-allow-grants-the-rest",
        NOT_ACTION,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},),
    ),
    # --- NotPrincipal ---------------------------------------------------------------------------------------------
    Case(
        "not-principal-allow-grants-everyone-else",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        resource_policy=(grant({"AWS": BOB}, "s3:GetObject", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-allow-exempts-the-named-user",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        resource_policy=(grant({"AWS": ALICE}, "s3:GetObject", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-allow-exempts-the-named-role",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        principal=APP_ROLE,
        resource_policy=(grant({"AWS": APP_ROLE}, "s3:GetObject", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-star-allow-applies-to-nobody",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        resource_policy=(grant("*", "s3:GetObject", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-star-deny-denies-nobody",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=(allow("s3:*"),),
        resource_policy=(grant({"AWS": "*"}, "s3:*", effect="Deny", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-deny-spares-user-and-account",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        identity=(allow("s3:*"),),
        resource_policy=(grant({"AWS": [ALICE, ROOT]}, "s3:*", effect="Deny", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-deny-without-the-account-denies",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=(allow("s3:*"),),
        resource_policy=(grant({"AWS": ALICE}, "s3:*", effect="Deny", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-deny-denies-everyone-else",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        principal=BOB,
        identity=(allow("s3:*"),),
        resource_policy=(grant({"AWS": [ALICE, ROOT]}, "s3:*", effect="Deny", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-deny-spares-session-role-and-account",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        ALLOWED,
        principal=APP_ROLE,
        identity=(allow("s3:*"),),
        resource_policy=(grant({"AWS": [APP_SESSION, APP_ROLE, ROOT]}, "s3:*", effect="Deny", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-deny-needs-the-role-beside-its-session",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        principal=APP_ROLE,
        identity=(allow("s3:*"),),
        resource_policy=(grant({"AWS": [APP_SESSION, ROOT]}, "s3:*", effect="Deny", key="NotPrincipal"),),
    ),
    Case(
        "not-principal-deny-always-denies-a-principal-with-a-boundary",
        NOT_PRINCIPAL,
        "s3:GetObject",
        OBJECT,
        DENIED,
        identity=(allow("s3:*"),),
        boundary=(allow("*"),),
        resource_policy=(grant({"AWS": [ALICE, ROOT]}, "s3:*", effect="Deny", key="NotPrincipal"),),
    ),
    # --- KMS key policies -----------------------------------------------------------------------------------------
    Case(
        "kms-default-key-policy-lets-iam-policies-work",
        KMS_DEFAULT,
        "kms:Decrypt",
        KEY,
        ALLOWED,
        identity=(allow("kms:Decrypt"),),
        resource_policy=DEFAULT_KEY_POLICY,
    ),
    Case(
        "kms-identity-alone-is-not-enough",
        KMS,
        "kms:Decrypt",
        KEY,
        DENIED,
        identity=(allow("kms:*"),),
        resource_policy=(grant({"AWS": KEY_ADMIN}, "kms:*"),),
    ),
    Case(
        "kms-account-statement-for-another-action",
        KMS,
        "kms:ScheduleKeyDeletion",
        KEY,
        DENIED,
        identity=(allow("kms:*"),),
        resource_policy=(grant({"AWS": ROOT}, ["kms:Decrypt", "kms:Encrypt"]),),
    ),
    Case(
        "kms-key-policy-alone-grants-a-named-user",
        KMS,
        "kms:Decrypt",
        KEY,
        ALLOWED,
        resource_policy=(grant({"AWS": ALICE}, "kms:Decrypt"),),
    ),
    Case(
        "kms-account-statement-needs-an-identity-allow",
        KMS_DEFAULT,
        "kms:Decrypt",
        KEY,
        DENIED,
        resource_policy=DEFAULT_KEY_POLICY,
    ),
    Case(
        "kms-key-policy-unknown-is-conditional",
        KMS,
        "kms:Decrypt",
        KEY,
        CONDITIONAL,
        identity=(allow("kms:Decrypt"),),
    ),
    Case(
        "kms-cross-account-needs-both",
        KMS,
        "kms:Decrypt",
        KEY,
        ALLOWED,
        principal=EVE,
        identity=(allow("kms:Decrypt"),),
        resource_policy=(grant({"AWS": f"arn:aws:iam::{OTHER}:root"}, "kms:Decrypt"),),
    ),
    Case(
        "kms-alias-is-governed-by-iam-policies",
        ALIAS,
        "kms:CreateAlias",
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/reports",
        ALLOWED,
        identity=(allow("kms:CreateAlias"),),
    ),
    # --- Service-side rules ---------------------------------------------------------------------------------------
    Case(
        "get-caller-identity-needs-no-permission",
        CALLER,
        "sts:GetCallerIdentity",
        "*",
        ALLOWED,
        rule="sts-get-caller-identity",
    ),
    Case(
        "get-caller-identity-despite-explicit-deny",
        CALLER,
        "sts:GetCallerIdentity",
        "*",
        ALLOWED,
        identity=(deny("sts:GetCallerIdentity"),),
        rule="sts-get-caller-identity",
    ),
    Case(
        "get-caller-identity-despite-an-scp-deny",
        CALLER,
        "sts:GetCallerIdentity",
        "*",
        ALLOWED,
        identity=EVERYTHING,
        scps=((allow("*"), deny("sts:*")),),
        rule="sts-get-caller-identity",
    ),
    Case(
        "aws-managed-policy-new-version",
        MANAGED,
        "iam:CreatePolicyVersion",
        AWS_ADMIN_POLICY,
        DENIED,
        identity=EVERYTHING,
        rule="aws-managed-policy",
    ),
    Case(
        "aws-managed-policy-default-version",
        MANAGED,
        "iam:SetDefaultPolicyVersion",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        DENIED,
        identity=EVERYTHING,
        rule="aws-managed-policy",
    ),
    Case(
        "customer-managed-policy-new-version",
        MANAGED,
        "iam:CreatePolicyVersion",
        f"arn:aws:iam::{ACCOUNT}:policy/deploy",
        ALLOWED,
        identity=EVERYTHING,
    ),
    Case(
        "aws-managed-policy-may-be-read",
        MANAGED,
        "iam:GetPolicyVersion",
        AWS_ADMIN_POLICY,
        ALLOWED,
        identity=(allow("iam:GetPolicyVersion"),),
    ),
    Case(
        "aws-managed-policy-may-be-attached",
        MANAGED,
        "iam:AttachRolePolicy",
        APP_ROLE,
        ALLOWED,
        identity=EVERYTHING,
    ),
    Case(
        "identity-center-role-trust",
        SSO,
        "iam:UpdateAssumeRolePolicy",
        SSO_ROLE,
        DENIED,
        identity=EVERYTHING,
        rule="identity-center-role",
    ),
    Case(
        "identity-center-role-attach",
        SSO,
        "iam:AttachRolePolicy",
        SSO_ROLE,
        DENIED,
        identity=EVERYTHING,
        rule="identity-center-role",
    ),
    Case(
        "service-linked-role-trust",
        SLR,
        "iam:UpdateAssumeRolePolicy",
        SL_ROLE,
        DENIED,
        identity=EVERYTHING,
        rule="service-linked-role",
    ),
    Case(
        "service-linked-role-inline-policy",
        SLR,
        "iam:PutRolePolicy",
        SL_ROLE,
        DENIED,
        identity=EVERYTHING,
        rule="service-linked-role",
    ),
    Case(
        "service-linked-role-description-may-be-edited",
        SLR,
        "iam:UpdateRoleDescription",
        SL_ROLE,
        ALLOWED,
        identity=EVERYTHING,
    ),
    Case(
        "service-linked-role-deleted-through-its-own-action",
        SLR,
        "iam:DeleteServiceLinkedRole",
        SL_ROLE,
        ALLOWED,
        identity=(allow("iam:DeleteServiceLinkedRole"),),
    ),
    Case("ordinary-role-trust", SLR, "iam:UpdateAssumeRolePolicy", APP_ROLE, ALLOWED, identity=EVERYTHING),
    Case(
        "aws-alias-cannot-be-deleted",
        ALIAS,
        "kms:DeleteAlias",
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/aws/s3",
        DENIED,
        identity=EVERYTHING,
        rule="aws-kms-alias",
    ),
    Case(
        "aws-alias-cannot-be-repointed",
        ALIAS,
        "kms:UpdateAlias",
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/aws/ebs",
        DENIED,
        identity=EVERYTHING,
        rule="aws-kms-alias",
    ),
)


def ask(case: Case, evaluator: Evaluator | None) -> Decision:
    kind = "trust" if case.trust else "resource"
    context = Context(case.context, now=NOW)
    return evaluate(
        subject_of(case),
        case.action,
        case.resource,
        context,
        compiled(case.resource_policy, kind),
        evaluator=evaluator,
    )


SHARED = Evaluator(now=NOW)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_it_gives_the_documented_outcome(case: Case):
    assert case.doc.startswith("https://docs.aws.amazon.com/")
    for evaluator in (None, SHARED):
        got = ask(case, evaluator)
        assert got.verdict == case.expected, (case.doc, got.reason)
        assert (got.rule.id if got.rule else "") == case.rule


def test_it_has_at_least_forty_cases_each_with_its_own_id():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def test_it_says_which_service_rule_decided_and_cites_its_page():
    got = ask(next(c for c in CASES if c.id == "aws-managed-policy-new-version"), None)
    assert got.reason == "AWS-managed policies cannot be changed"
    assert got.to_dict()["rule"]["doc"].startswith("https://docs.aws.amazon.com/IAM/")
    assert all(rule.doc.startswith("https://docs.aws.amazon.com/") and rule.reason for rule in RULES)
    plain = ask(next(c for c in CASES if c.id == "identity-allow"), None)
    assert plain.rule is None and "rule" not in plain.to_dict()


def test_it_says_an_unknown_key_policy_is_what_the_answer_depends_on():
    got = ask(next(c for c in CASES if c.id == "kms-key-policy-unknown-is-conditional"), None)
    assert got.conditions == (KEY_POLICY_UNKNOWN,) and "key policy" in got.reason
    assert got.to_dict()["conditions"][0]["text"] == "key policy enables IAM policies (its statement for the account)"


def test_it_does_not_share_a_decision_between_an_aws_managed_and_a_customer_policy():
    """The memo lets resources under the same Resource patterns share a decision; the service rules come first."""
    evaluator = Evaluator(now=NOW)
    admin = Subject(arn=ALICE, identity=compiled(EVERYTHING, "identity") or ())
    own = f"arn:aws:iam::{ACCOUNT}:policy/deploy"
    assert evaluator.evaluate(admin, "iam:CreatePolicyVersion", own).allowed
    assert evaluator.evaluate(admin, "iam:CreatePolicyVersion", AWS_ADMIN_POLICY).verdict == DENIED
    assert evaluator.evaluate(admin, "iam:UpdateAssumeRolePolicy", APP_ROLE).allowed
    assert evaluator.evaluate(admin, "iam:UpdateAssumeRolePolicy", SSO_ROLE).verdict == DENIED
    assert evaluator.evaluate(admin, "kms:Decrypt", f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/reports").allowed
    assert evaluator.evaluate(admin, "kms:Decrypt", KEY).verdict == CONDITIONAL
    assert not evaluator.resource_blind(admin, "iam:UpdateAssumeRolePolicy")


# --- Whole accounts: the protected targets stay quiet -------------------------------------------------------------

ADMIN = b.managed("AdministratorAccess", b.doc(b.allow("*")), aws=True)
READ_ONLY = b.managed("ReadOnlyAccess", b.doc(b.allow(["s3:Get*", "s3:List*"])), aws=True)


def protected_admin_roles() -> list[dict]:
    sso = b.role(
        "AWSReservedSSO_Admin_0123456789abcdef",
        path="/aws-reserved/sso.amazonaws.com/eu-west-1/",
        policies=(ADMIN,),
        trust=b.trust_doc(
            {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/AWSSSO_0123456789abcdef_DO_NOT_DELETE"},
            action=["sts:AssumeRoleWithSAML", "sts:TagSession"],
        ),
    )
    service_linked = b.role(
        "AWSServiceRoleForSupport",
        path="/aws-service-role/support.amazonaws.com/",
        policies=(ADMIN,),
        trust=b.trust_doc({"Service": "support.amazonaws.com"}),
    )
    return [sso, service_linked]


def escalation_findings(snap) -> list[Finding]:
    """Escalation findings that say a path exists today; a latent method (no target today, told as what would
    complete it) is no path through anything."""
    return [
        f
        for f in b.findings(snap)
        if f["category"] == "privilege_escalation"
        and f["evidence"].get("target_kind") != "latent"
        and not (f["evidence"].get("latent_for") and not f["evidence"].get("effective_for"))
    ]


def test_it_finds_no_escalation_through_the_roles_aws_protects():
    """A user that may rewrite any role's trust, and another that may attach or write policies on exactly the
    protected roles: IAM refuses every one of those changes, so neither escalates (SSO and SLR pages)."""
    rewrite = b.user("rewriter", inline={"trust": b.doc(b.allow(["iam:UpdateAssumeRolePolicy", "sts:AssumeRole"]))})
    roles = protected_admin_roles()
    writes = ["iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePermissionsBoundary"]
    attach = b.user("attacher", inline={"write": b.doc(b.allow(writes, [r["Arn"] for r in roles]))})
    snap = b.healthy(users=[rewrite, attach], roles=roles, policies=[ADMIN])
    assert escalation_findings(snap) == []


def test_it_still_finds_the_trust_rewrite_of_an_ordinary_admin_role():
    """The near-miss of the test above: the same user and an admin role AWS does not protect."""
    rewrite = b.user("rewriter", inline={"trust": b.doc(b.allow(["iam:UpdateAssumeRolePolicy", "sts:AssumeRole"]))})
    ordinary = b.role("Ops", policies=(ADMIN,))
    found = escalation_findings(
        b.healthy(users=[rewrite], roles=[*protected_admin_roles(), ordinary], policies=[ADMIN])
    )
    [principal] = [f for f in found if f["check_id"] == "principal_privilege_escalation"]
    assert principal["principal_name"] == "rewriter" and principal["evidence"]["target"] == ordinary["Arn"]


def test_it_finds_no_escalation_through_a_new_version_of_an_aws_managed_policy():
    """A user holding ReadOnlyAccess that may write new versions of AWS-managed policies only (MANAGED page)."""
    versions = b.user(
        "versioner",
        policies=(READ_ONLY,),
        inline={
            "v": b.doc(
                b.allow(
                    ["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"],
                    [READ_ONLY["Arn"], ADMIN["Arn"]],
                )
            )
        },
    )
    snap = b.healthy(users=[versions], roles=[b.role("Ops", policies=(ADMIN,))], policies=[ADMIN, READ_ONLY])
    assert escalation_findings(snap) == []
