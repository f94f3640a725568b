"""Conformance through the simulator's door: SimulateCustomPolicy-shaped requests whose EvalDecision an AWS page
states, each citing its page. Every request goes in as JSON text through `load_request` and `simulate`, as the
CLI and the API take it; keys a request does not give are absent, as in AWS's simulator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from audits.iam.simulate import load_request, simulate

ACCOUNT = "111122223333"
OTHER = "444455556666"

# The pages each case comes from.
IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide"
ACTION = f"{IAM}/reference_policies_elements_action.html"
NOT_ACTION = f"{IAM}/reference_policies_elements_notaction.html"
RESOURCE = f"{IAM}/reference_policies_elements_resource.html"
NOT_RESOURCE = f"{IAM}/reference_policies_elements_notresource.html"
STATEMENT = f"{IAM}/reference_policies_elements_statement.html"
SID = f"{IAM}/reference_policies_elements_sid.html"
VERSION = f"{IAM}/reference_policies_elements_version.html"
PRINCIPAL = f"{IAM}/reference_policies_elements_principal.html"
NOT_PRINCIPAL = f"{IAM}/reference_policies_elements_notprincipal.html"
CONDITION = f"{IAM}/reference_policies_elements_condition.html"
OPERATORS = f"{IAM}/reference_policies_elements_condition_operators.html"
MULTIPLE = f"{IAM}/reference_policies_condition-logic-multiple-context-keys-or-values.html"
MULTIVALUED = f"{IAM}/reference_policies_condition-single-vs-multi-valued-context-keys.html"
MULTIVALUED_EXAMPLES = f"{IAM}/reference_policies_condition_examples-multi-valued-context-keys.html"
KEYS = f"{IAM}/reference_policies_condition-keys.html"
VARIABLES = f"{IAM}/reference_policies_variables.html"
DENY_ALLOW = f"{IAM}/reference_policies_evaluation-logic_policy-eval-denyallow.html"
SINGLE = f"{IAM}/reference_policies_evaluation-logic_policy-eval-basics.html"
CROSS = f"{IAM}/reference_policies_evaluation-logic-cross-account.html"
BOUNDARIES = f"{IAM}/access_policies_boundaries.html"
SESSION = f"{IAM}/access_policies.html#policies_session"
SCP = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html"
RCP = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps_evaluation.html"

ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ALICE_IN_PATH = f"arn:aws:iam::{ACCOUNT}:user/division/alice"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
APP_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/build"
OTHER_APP_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/deploy"
EVE = f"arn:aws:iam::{OTHER}:user/eve"
OTHER_ROOT = f"arn:aws:iam::{OTHER}:root"
BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"
OBJECT = f"{BUCKET}/reports/q1.csv"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
OTHER_QUEUE = f"arn:aws:sqs:us-east-1:{OTHER}:jobs"

ALLOWED, EXPLICIT, IMPLICIT = "allowed", "explicitDeny", "implicitDeny"


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def grant(principal: Any, action: Any, resource: Any = "*", effect: str = "Allow", **extra: Any) -> dict:
    """A resource-policy statement; pass NotPrincipal in `extra` (with principal None) for the exceptions form."""
    statement = {"Effect": effect, "Action": action, "Resource": resource, **extra}
    if principal is not None:
        statement["Principal"] = principal
    return statement


def when(operator: str, key: str, value: Any) -> dict:
    return {"Condition": {operator: {key: value}}}


def policy(statements: tuple[dict, ...], version: str | None = "2012-10-17") -> str:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        document = {"Version": version, **document}
    return json.dumps(document)


def ctx(name: str, kind: str, *values: str) -> dict:
    return {"ContextKeyName": name, "ContextKeyValues": list(values), "ContextKeyType": kind}


def ask(
    action: str,
    resource: str | None = None,
    *,
    identity: tuple[dict, ...] = (),
    more: tuple[tuple[dict, ...], ...] = (),
    version: str | None = "2012-10-17",
    boundary: tuple[dict, ...] | None = None,
    session: tuple[dict, ...] | None = None,
    scps: tuple[tuple[dict, ...], ...] = (),
    rcps: tuple[tuple[dict, ...], ...] = (),
    resource_policy: tuple[dict, ...] | None = None,
    caller: str | None = None,
    owner: str | None = None,
    context: tuple[dict, ...] = (),
) -> dict:
    """A SimulateCustomPolicy request: `identity` is the first policy of PolicyInputList, `more` the next ones."""
    request: dict[str, Any] = {
        "PolicyInputList": [policy(identity, version), *(policy(p) for p in more)],
        "ActionNames": [action],
    }
    if resource is not None:
        request["ResourceArns"] = [resource]
    if boundary is not None:
        request["PermissionsBoundaryPolicyInputList"] = [policy(boundary)]
    if session is not None:
        request["SessionPolicyInputList"] = [policy(session)]
    if scps:
        request["ServiceControlPolicyLevels"] = [[policy(level)] for level in scps]
    if rcps:
        request["ResourceControlPolicyLevels"] = [[policy(level)] for level in rcps]
    if resource_policy is not None:
        request["ResourcePolicy"] = policy(resource_policy)
    if caller is not None:
        request["CallerArn"] = caller
    if owner is not None:
        request["ResourceOwner"] = owner
    if context:
        request["ContextEntries"] = list(context)
    return request


@dataclass(frozen=True)
class Case:
    id: str
    doc: str
    expected: str
    request: dict


EVERYTHING = (allow("*"),)
S3_ALL = (allow("s3:*"),)

CASES = (
    # --- Policy evaluation logic ---------------------------------------------------------------------------------
    Case("identity-allow", SINGLE, ALLOWED, ask("s3:GetObject", OBJECT, identity=(allow("s3:GetObject"),))),
    Case("nothing-allows", DENY_ALLOW, IMPLICIT, ask("s3:GetObject", OBJECT, identity=(allow("sqs:*"),))),
    Case(
        "deny-overrides-allow-in-the-same-policy",
        DENY_ALLOW,
        EXPLICIT,
        ask("s3:DeleteObject", OBJECT, identity=(allow("s3:*"), deny("s3:DeleteObject"))),
    ),
    Case(
        "deny-in-another-policy-overrides-allow",
        DENY_ALLOW,
        EXPLICIT,
        ask("s3:DeleteObject", OBJECT, identity=S3_ALL, more=((deny("s3:Delete*"),),)),
    ),
    Case(
        "allow-in-any-policy-is-enough",
        DENY_ALLOW,
        ALLOWED,
        ask("sqs:SendMessage", QUEUE, identity=S3_ALL, more=((allow("sqs:SendMessage", QUEUE),),)),
    ),
    Case(
        "deny-of-another-action-leaves-the-allow",
        DENY_ALLOW,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=(allow("s3:*"), deny("s3:DeleteObject"))),
    ),
    # --- Statement, Sid, Version ----------------------------------------------------------------------------------
    Case(
        "statement-as-a-single-object",
        STATEMENT,
        ALLOWED,
        {
            "PolicyInputList": [json.dumps({"Version": "2012-10-17", "Statement": allow("s3:GetObject")})],
            "ActionNames": ["s3:GetObject"],
            "ResourceArns": [OBJECT],
        },
    ),
    Case(
        "sid-does-not-change-the-statement",
        SID,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=({"Sid": "ReadReports", **allow("s3:GetObject", f"{BUCKET}/*")},)),
    ),
    Case(
        "statements-are-ored",
        STATEMENT,
        ALLOWED,
        ask(
            "s3:PutObject",
            OBJECT,
            identity=({"Sid": "One", **allow("s3:GetObject")}, {"Sid": "Two", **allow("s3:PutObject")}),
        ),
    ),
    Case(
        "version-2008-treats-a-variable-as-text",
        VERSION,
        IMPLICIT,
        ask(
            "s3:GetObject",
            f"{BUCKET}/home/alice/notes.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),),
            version="2008-10-17",
            caller=ALICE,
        ),
    ),
    Case(
        "version-2008-matches-the-variable-literally",
        VERSION,
        ALLOWED,
        ask(
            "s3:GetObject",
            f"{BUCKET}/home/${{aws:username}}/notes.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),),
            version="2008-10-17",
            caller=ALICE,
        ),
    ),
    Case(
        "no-version-means-2008-without-variables",
        VERSION,
        IMPLICIT,
        ask(
            "s3:GetObject",
            f"{BUCKET}/home/alice/notes.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),),
            version=None,
            caller=ALICE,
        ),
    ),
    # --- Action and NotAction -------------------------------------------------------------------------------------
    Case("action-star-matches-everything", ACTION, ALLOWED, ask("iam:CreateUser", BOB, identity=EVERYTHING)),
    Case("action-prefix-wildcard", ACTION, ALLOWED, ask("s3:GetObject", OBJECT, identity=(allow("s3:Get*"),))),
    Case(
        "action-prefix-wildcard-near-miss",
        ACTION,
        IMPLICIT,
        ask("s3:PutObject", OBJECT, identity=(allow("s3:Get*"),)),
    ),
    Case(
        "action-wildcard-in-the-middle",
        ACTION,
        ALLOWED,
        ask("iam:CreateAccessKey", ALICE, identity=(allow("iam:*AccessKey*"),)),
    ),
    Case(
        "action-suffix-wildcard-near-miss",
        ACTION,
        IMPLICIT,
        ask("s3:GetObjectAcl", OBJECT, identity=(allow("s3:*Object"),)),
    ),
    Case(
        "action-single-character-wildcard",
        ACTION,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=(allow("s3:GetObjec?"),)),
    ),
    Case(
        "action-single-character-wildcard-is-one-character",
        ACTION,
        IMPLICIT,
        ask("s3:GetObjectAcl", OBJECT, identity=(allow("s3:GetObject?"),)),
    ),
    Case(
        "action-names-ignore-case-in-the-policy",
        ACTION,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=(allow("S3:GETOBJECT"),)),
    ),
    Case(
        "action-names-ignore-case-in-the-request",
        ACTION,
        ALLOWED,
        ask("S3:getobject", OBJECT, identity=(allow("s3:GetObject"),)),
    ),
    Case(
        "action-list-is-ored",
        ACTION,
        ALLOWED,
        ask("sqs:SendMessage", QUEUE, identity=(allow(["s3:GetObject", "sqs:SendMessage"]),)),
    ),
    Case(
        "allow-not-action-grants-the-other-services",
        NOT_ACTION,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},)),
    ),
    Case(
        "allow-not-action-does-not-grant-the-listed-one",
        NOT_ACTION,
        IMPLICIT,
        ask("iam:CreateUser", BOB, identity=({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},)),
    ),
    Case(
        "deny-not-action-denies-everything-else",
        NOT_ACTION,
        EXPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("*"), {"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*"}),
        ),
    ),
    Case(
        "deny-not-action-spares-the-listed-ones",
        NOT_ACTION,
        ALLOWED,
        ask(
            "iam:GetUser",
            BOB,
            identity=(allow("*"), {"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*"}),
        ),
    ),
    # --- Resource and NotResource ---------------------------------------------------------------------------------
    Case(
        "resource-wildcard-spans-slashes",
        RESOURCE,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=(allow("s3:GetObject", f"{BUCKET}/*"),)),
    ),
    Case(
        "bucket-arn-does-not-cover-its-objects",
        RESOURCE,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, identity=(allow("s3:GetObject", BUCKET),)),
    ),
    Case(
        "resource-arns-are-case-sensitive",
        RESOURCE,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, identity=(allow("s3:GetObject", f"{BUCKET}/Reports/*"),)),
    ),
    Case(
        "resource-single-character-wildcard",
        RESOURCE,
        ALLOWED,
        ask(
            "s3:GetObject", f"{BUCKET}/report-2026.csv", identity=(allow("s3:GetObject", f"{BUCKET}/report-20??.csv"),)
        ),
    ),
    Case(
        "resource-single-character-wildcard-near-miss",
        RESOURCE,
        IMPLICIT,
        ask(
            "s3:GetObject", f"{BUCKET}/report-20261.csv", identity=(allow("s3:GetObject", f"{BUCKET}/report-20??.csv"),)
        ),
    ),
    Case(
        "resource-wildcard-covers-a-user-path",
        RESOURCE,
        ALLOWED,
        ask("iam:GetUser", ALICE_IN_PATH, identity=(allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/*"),)),
    ),
    Case(
        "resource-star-ending-a-segment-spans-colons",
        RESOURCE,
        ALLOWED,
        ask("sqs:SendMessage", QUEUE, identity=(allow("sqs:SendMessage", "arn:aws:sqs:us-east-1:*"),)),
    ),
    Case(
        "resource-wildcard-region-segment",
        RESOURCE,
        ALLOWED,
        ask("sqs:SendMessage", QUEUE, identity=(allow("sqs:SendMessage", f"arn:aws:sqs:*:{ACCOUNT}:jobs"),)),
    ),
    Case(
        "resource-question-mark-is-one-character-of-its-segment",
        RESOURCE,
        IMPLICIT,
        ask("sqs:SendMessage", QUEUE, identity=(allow("sqs:SendMessage", f"arn:aws:sqs:us-?-1:{ACCOUNT}:jobs"),)),
    ),
    Case(
        "resource-other-account-near-miss",
        RESOURCE,
        IMPLICIT,
        ask("sqs:SendMessage", QUEUE, identity=(allow("sqs:SendMessage", f"arn:aws:sqs:*:{OTHER}:*"),)),
    ),
    Case(
        "allow-not-resource-grants-the-rest",
        NOT_RESOURCE,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=({"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/private/*"},),
        ),
    ),
    Case(
        "allow-not-resource-leaves-out-the-listed",
        NOT_RESOURCE,
        IMPLICIT,
        ask(
            "s3:GetObject",
            f"{BUCKET}/private/salaries.csv",
            identity=({"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/private/*"},),
        ),
    ),
    Case(
        "deny-not-resource-denies-other-buckets",
        NOT_RESOURCE,
        EXPLICIT,
        ask(
            "s3:GetObject",
            "arn:aws:s3:::another-bucket/file.txt",
            identity=(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": [BUCKET, f"{BUCKET}/*"]}),
        ),
    ),
    Case(
        "deny-not-resource-spares-the-listed",
        NOT_RESOURCE,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": [BUCKET, f"{BUCKET}/*"]}),
        ),
    ),
    # --- Condition operators --------------------------------------------------------------------------------------
    Case(
        "string-equals",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("StringEquals", "aws:PrincipalTag/team", "blue")),),
            context=(ctx("aws:PrincipalTag/team", "string", "blue"),),
        ),
    ),
    Case(
        "string-equals-is-case-sensitive",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("StringEquals", "aws:PrincipalTag/team", "Blue")),),
            context=(ctx("aws:PrincipalTag/team", "string", "blue"),),
        ),
    ),
    Case(
        "string-equals-ignore-case",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("StringEqualsIgnoreCase", "aws:PrincipalTag/team", "BLUE")),),
            context=(ctx("aws:PrincipalTag/team", "string", "blue"),),
        ),
    ),
    Case(
        "string-equals-with-the-key-absent",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("StringEquals", "aws:PrincipalTag/team", "blue")),),
        ),
    ),
    Case(
        "string-not-equals-with-the-key-absent-is-true",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("StringNotEquals", "aws:PrincipalTag/team", "red")),),
        ),
    ),
    Case(
        "string-not-equals-with-the-value",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("StringNotEquals", "aws:PrincipalTag/team", "red")),),
            context=(ctx("aws:PrincipalTag/team", "string", "red"),),
        ),
    ),
    Case(
        "string-like-star",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("StringLike", "s3:prefix", "home/*")),),
            context=(ctx("s3:prefix", "string", "home/alice/photos/"),),
        ),
    ),
    Case(
        "string-like-question-mark",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("StringLike", "s3:prefix", "logs/2026-0?/")),),
            context=(ctx("s3:prefix", "string", "logs/2026-07/"),),
        ),
    ),
    Case(
        "string-like-near-miss",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("StringLike", "s3:prefix", "logs/2026-0?/")),),
            context=(ctx("s3:prefix", "string", "logs/2026-10/"),),
        ),
    ),
    Case(
        "string-equals-does-not-expand-a-star",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("StringEquals", "s3:prefix", "home/*")),),
            context=(ctx("s3:prefix", "string", "home/alice/"),),
        ),
    ),
    Case(
        "numeric-less-than-equals-at-the-limit",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("NumericLessThanEquals", "s3:max-keys", "10")),),
            context=(ctx("s3:max-keys", "numeric", "10"),),
        ),
    ),
    Case(
        "numeric-less-than-equals-over-the-limit",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("NumericLessThanEquals", "s3:max-keys", "10")),),
            context=(ctx("s3:max-keys", "numeric", "11"),),
        ),
    ),
    Case(
        "numeric-greater-than",
        OPERATORS,
        EXPLICIT,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:*"), deny("s3:ListBucket", **when("NumericGreaterThan", "s3:max-keys", "1000"))),
            context=(ctx("s3:max-keys", "numeric", "5000"),),
        ),
    ),
    Case(
        "date-less-than",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z")),),
            context=(ctx("aws:CurrentTime", "date", "2026-11-24T12:00:00Z"),),
        ),
    ),
    Case(
        "date-greater-than-near-miss",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("DateGreaterThan", "aws:CurrentTime", "2030-01-01T00:00:00Z")),),
            context=(ctx("aws:CurrentTime", "date", "2026-11-24T12:00:00Z"),),
        ),
    ),
    Case(
        "date-with-an-epoch-value",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("DateGreaterThan", "aws:CurrentTime", "1700000000")),),
            context=(ctx("aws:CurrentTime", "date", "2026-11-24T12:00:00Z"),),
        ),
    ),
    Case(
        "bool-deny-without-tls",
        OPERATORS,
        EXPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:*"), deny("s3:*", **when("Bool", "aws:SecureTransport", "false"))),
            context=(ctx("aws:SecureTransport", "boolean", "false"),),
        ),
    ),
    Case(
        "bool-deny-does-not-apply-with-tls",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:*"), deny("s3:*", **when("Bool", "aws:SecureTransport", "false"))),
            context=(ctx("aws:SecureTransport", "boolean", "true"),),
        ),
    ),
    Case(
        "bool-allow-needs-the-key",
        KEYS,
        IMPLICIT,
        ask(
            "iam:DeleteUser",
            BOB,
            identity=(allow("iam:DeleteUser", **when("Bool", "aws:MultiFactorAuthPresent", "true")),),
        ),
    ),
    Case(
        "bool-if-exists-deny-applies-without-the-key",
        KEYS,
        EXPLICIT,
        ask(
            "iam:DeleteUser",
            BOB,
            identity=(allow("iam:*"), deny("iam:*", **when("BoolIfExists", "aws:MultiFactorAuthPresent", "false"))),
        ),
    ),
    Case(
        "bool-if-exists-deny-spares-mfa",
        KEYS,
        ALLOWED,
        ask(
            "iam:DeleteUser",
            BOB,
            identity=(allow("iam:*"), deny("iam:*", **when("BoolIfExists", "aws:MultiFactorAuthPresent", "false"))),
            context=(ctx("aws:MultiFactorAuthPresent", "boolean", "true"),),
        ),
    ),
    Case(
        "binary-equals",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("BinaryEquals", "aws:BinaryKey", "QmluYXJ5VmFsdWVJbkJhc2U2NA==")),),
            context=(ctx("aws:BinaryKey", "binary", "QmluYXJ5VmFsdWVJbkJhc2U2NA=="),),
        ),
    ),
    Case(
        "binary-equals-near-miss",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("BinaryEquals", "aws:BinaryKey", "QmluYXJ5VmFsdWVJbkJhc2U2NA==")),),
            context=(ctx("aws:BinaryKey", "binary", "b3RoZXI="),),
        ),
    ),
    Case(
        "ip-address-in-the-range",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("IpAddress", "aws:SourceIp", "203.0.113.0/24")),),
            context=(ctx("aws:SourceIp", "ip", "203.0.113.7"),),
        ),
    ),
    Case(
        "ip-address-outside-the-range",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("IpAddress", "aws:SourceIp", "203.0.113.0/24")),),
            context=(ctx("aws:SourceIp", "ip", "198.51.100.7"),),
        ),
    ),
    Case(
        "ip-address-ipv6",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(
                allow(
                    "s3:GetObject",
                    **when("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]),
                ),
            ),
            context=(ctx("aws:SourceIp", "ip", "2001:db8:1234:5678::42"),),
        ),
    ),
    Case(
        "ip-address-ipv6-outside",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("IpAddress", "aws:SourceIp", "2001:DB8:1234:5678::/64")),),
            context=(ctx("aws:SourceIp", "ip", "2001:db8:1234:9999::42"),),
        ),
    ),
    Case(
        "not-ip-address-deny-outside",
        OPERATORS,
        EXPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:*"), deny("*", **when("NotIpAddress", "aws:SourceIp", "192.0.2.0/24"))),
            context=(ctx("aws:SourceIp", "ip", "203.0.113.7"),),
        ),
    ),
    Case(
        "not-ip-address-deny-spares-inside",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:*"), deny("*", **when("NotIpAddress", "aws:SourceIp", "192.0.2.0/24"))),
            context=(ctx("aws:SourceIp", "ip", "192.0.2.10"),),
        ),
    ),
    Case(
        "arn-like-source-arn",
        OPERATORS,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(
                allow("sqs:SendMessage", **when("ArnLike", "aws:SourceArn", f"arn:aws:sns:*:{ACCOUNT}:alerts-*")),
            ),
            context=(ctx("aws:SourceArn", "string", f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts-prod"),),
        ),
    ),
    Case(
        "arn-equals-near-miss",
        OPERATORS,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(
                allow(
                    "sqs:SendMessage", **when("ArnEquals", "aws:SourceArn", f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts")
                ),
            ),
            context=(ctx("aws:SourceArn", "string", f"arn:aws:sns:us-east-1:{OTHER}:alerts"),),
        ),
    ),
    Case(
        "arn-not-equals-deny",
        OPERATORS,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"), deny("sqs:*", **when("ArnNotEquals", "aws:PrincipalArn", APP_ROLE))),
            caller=ALICE,
        ),
    ),
    Case(
        "if-exists-with-the-key-absent",
        OPERATORS,
        ALLOWED,
        ask(
            "ec2:RunInstances",
            f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*",
            identity=(allow("ec2:RunInstances", **when("StringLikeIfExists", "ec2:InstanceType", "t3.*")),),
        ),
    ),
    Case(
        "if-exists-with-another-value",
        OPERATORS,
        IMPLICIT,
        ask(
            "ec2:RunInstances",
            f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*",
            identity=(allow("ec2:RunInstances", **when("StringLikeIfExists", "ec2:InstanceType", "t3.*")),),
            context=(ctx("ec2:InstanceType", "string", "m5.large"),),
        ),
    ),
    Case(
        "null-true-with-the-key-absent",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("Null", "aws:TokenIssueTime", "true")),),
        ),
    ),
    Case(
        "null-false-with-the-key-absent",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("Null", "aws:TokenIssueTime", "false")),),
        ),
    ),
    Case(
        "null-false-with-the-key-present",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("Null", "aws:TokenIssueTime", "false")),),
            context=(ctx("aws:TokenIssueTime", "date", "2026-11-24T11:00:00Z"),),
        ),
    ),
    Case(
        "ip-address-single-address",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("IpAddress", "aws:SourceIp", "203.0.113.7/32")),),
            context=(ctx("aws:SourceIp", "ip", "203.0.113.7"),),
        ),
    ),
    Case(
        "date-less-than-equals-at-the-instant",
        OPERATORS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("DateLessThanEquals", "aws:CurrentTime", "2026-11-24T12:00:00Z")),),
            context=(ctx("aws:CurrentTime", "date", "2026-11-24T12:00:00Z"),),
        ),
    ),
    Case(
        "negated-if-exists-with-the-value",
        OPERATORS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("StringNotEqualsIfExists", "aws:PrincipalTag/team", "red")),),
            context=(ctx("aws:PrincipalTag/team", "string", "red"),),
        ),
    ),
    Case(
        "version-2008-condition-value-is-text",
        VERSION,
        IMPLICIT,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("StringEquals", "s3:prefix", "home/${aws:username}")),),
            version="2008-10-17",
            caller=ALICE,
            context=(ctx("s3:prefix", "string", "home/alice"),),
        ),
    ),
    Case(
        "iam-user-arn-with-a-path-near-miss",
        RESOURCE,
        IMPLICIT,
        ask("iam:GetUser", ALICE_IN_PATH, identity=(allow("iam:GetUser", ALICE),)),
    ),
    # --- Condition logic and key names ----------------------------------------------------------------------------
    Case(
        "condition-key-names-ignore-case",
        CONDITION,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject", **when("IpAddress", "AWS:SOURCEIP", "203.0.113.0/24")),),
            context=(ctx("aws:SourceIp", "ip", "203.0.113.7"),),
        ),
    ),
    Case(
        "values-of-one-key-are-ored",
        MULTIPLE,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(
                allow("s3:GetObject", **when("StringEquals", "aws:RequestedRegion", ["eu-west-1", "us-east-1"])),
            ),
            context=(ctx("aws:RequestedRegion", "string", "us-east-1"),),
        ),
    ),
    Case(
        "keys-are-anded",
        MULTIPLE,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(
                allow(
                    "s3:GetObject",
                    Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1", "aws:PrincipalTag/team": "blue"}},
                ),
            ),
            context=(ctx("aws:RequestedRegion", "string", "us-east-1"), ctx("aws:PrincipalTag/team", "string", "red")),
        ),
    ),
    Case(
        "operators-are-anded",
        MULTIPLE,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(
                allow(
                    "s3:GetObject",
                    Condition={
                        "StringEquals": {"aws:RequestedRegion": "us-east-1"},
                        "IpAddress": {"aws:SourceIp": "203.0.113.0/24"},
                    },
                ),
            ),
            context=(ctx("aws:RequestedRegion", "string", "us-east-1"), ctx("aws:SourceIp", "ip", "203.0.113.7")),
        ),
    ),
    Case(
        "negated-values-are-nored-and-spare-a-listed-value",
        MULTIPLE,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(
                allow("s3:*"),
                deny("*", **when("StringNotEquals", "aws:RequestedRegion", ["eu-west-1", "eu-central-1"])),
            ),
            context=(ctx("aws:RequestedRegion", "string", "eu-central-1"),),
        ),
    ),
    Case(
        "negated-values-are-nored-and-deny-the-others",
        MULTIPLE,
        EXPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(
                allow("s3:*"),
                deny("*", **when("StringNotEquals", "aws:RequestedRegion", ["eu-west-1", "eu-central-1"])),
            ),
            context=(ctx("aws:RequestedRegion", "string", "us-east-1"),),
        ),
    ),
    # --- Multivalued keys -----------------------------------------------------------------------------------------
    Case(
        "for-any-value-one-matches",
        MULTIVALUED,
        ALLOWED,
        ask(
            "iam:TagUser",
            BOB,
            identity=(allow("iam:TagUser", **when("ForAnyValue:StringEquals", "aws:TagKeys", ["team", "project"])),),
            context=(ctx("aws:TagKeys", "stringList", "project", "owner"),),
        ),
    ),
    Case(
        "for-any-value-none-matches",
        MULTIVALUED,
        IMPLICIT,
        ask(
            "iam:TagUser",
            BOB,
            identity=(allow("iam:TagUser", **when("ForAnyValue:StringEquals", "aws:TagKeys", ["team", "project"])),),
            context=(ctx("aws:TagKeys", "stringList", "owner", "cost-center"),),
        ),
    ),
    Case(
        "for-any-value-is-false-without-the-key",
        MULTIVALUED,
        IMPLICIT,
        ask(
            "iam:TagUser",
            BOB,
            identity=(allow("iam:TagUser", **when("ForAnyValue:StringEquals", "aws:TagKeys", ["team", "project"])),),
        ),
    ),
    Case(
        "for-all-values-every-one-matches",
        MULTIVALUED,
        ALLOWED,
        ask(
            "iam:TagUser",
            BOB,
            identity=(allow("iam:TagUser", **when("ForAllValues:StringEquals", "aws:TagKeys", ["team", "project"])),),
            context=(ctx("aws:TagKeys", "stringList", "team", "project"),),
        ),
    ),
    Case(
        "for-all-values-one-outside",
        MULTIVALUED,
        IMPLICIT,
        ask(
            "iam:TagUser",
            BOB,
            identity=(allow("iam:TagUser", **when("ForAllValues:StringEquals", "aws:TagKeys", ["team", "project"])),),
            context=(ctx("aws:TagKeys", "stringList", "team", "owner"),),
        ),
    ),
    Case(
        "for-all-values-is-true-without-the-key",
        MULTIVALUED,
        ALLOWED,
        ask(
            "iam:TagUser",
            BOB,
            identity=(allow("iam:TagUser", **when("ForAllValues:StringEquals", "aws:TagKeys", ["team", "project"])),),
        ),
    ),
    Case(
        "for-all-values-is-true-on-an-empty-set",
        MULTIVALUED,
        ALLOWED,
        ask(
            "iam:TagUser",
            BOB,
            identity=(allow("iam:TagUser", **when("ForAllValues:StringEquals", "aws:TagKeys", ["team", "project"])),),
            context=(ctx("aws:TagKeys", "stringList"),),
        ),
    ),
    Case(
        "for-all-values-with-null-false-refuses-a-missing-key",
        MULTIVALUED,
        IMPLICIT,
        ask(
            "iam:TagUser",
            BOB,
            identity=(
                allow(
                    "iam:TagUser",
                    Condition={
                        "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "project"]},
                        "Null": {"aws:TagKeys": "false"},
                    },
                ),
            ),
        ),
    ),
    Case(
        "for-all-values-string-not-like-deny-spares-matching-keys",
        MULTIVALUED_EXAMPLES,
        ALLOWED,
        ask(
            "iam:TagUser",
            BOB,
            identity=(
                allow("iam:*"),
                deny(["iam:Tag*", "iam:UnTag*"], **when("ForAllValues:StringNotLike", "aws:TagKeys", "key1*")),
            ),
            context=(ctx("aws:TagKeys", "stringList", "key1legal"),),
        ),
    ),
    Case(
        "for-all-values-string-not-like-deny-matches-other-keys",
        MULTIVALUED_EXAMPLES,
        EXPLICIT,
        ask(
            "iam:TagUser",
            BOB,
            identity=(
                allow("iam:*"),
                deny(["iam:Tag*", "iam:UnTag*"], **when("ForAllValues:StringNotLike", "aws:TagKeys", "key1*")),
            ),
            context=(ctx("aws:TagKeys", "stringList", "key2audit"),),
        ),
    ),
    Case(
        "for-all-values-string-not-like-deny-matches-a-missing-key",
        MULTIVALUED_EXAMPLES,
        EXPLICIT,
        ask(
            "iam:TagUser",
            BOB,
            identity=(
                allow("iam:*"),
                deny(["iam:Tag*", "iam:UnTag*"], **when("ForAllValues:StringNotLike", "aws:TagKeys", "key1*")),
            ),
        ),
    ),
    # --- Policy variables -----------------------------------------------------------------------------------------
    Case(
        "username-variable-in-resource",
        VARIABLES,
        ALLOWED,
        ask(
            "s3:GetObject",
            f"{BUCKET}/home/alice/notes.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),),
            caller=ALICE,
        ),
    ),
    Case(
        "username-variable-near-miss",
        VARIABLES,
        IMPLICIT,
        ask(
            "s3:GetObject",
            f"{BUCKET}/home/bob/notes.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),),
            caller=ALICE,
        ),
    ),
    Case(
        "username-variable-is-the-name-without-the-path",
        VARIABLES,
        ALLOWED,
        ask(
            "s3:GetObject",
            f"{BUCKET}/home/alice/notes.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),),
            caller=ALICE_IN_PATH,
        ),
    ),
    Case(
        "username-variable-absent-for-a-role-matches-nothing",
        VARIABLES,
        IMPLICIT,
        ask(
            "s3:GetObject",
            f"{BUCKET}/home/app/notes.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*"),),
            caller=APP_ROLE,
        ),
    ),
    Case(
        "principal-tag-variable-in-resource",
        VARIABLES,
        ALLOWED,
        ask(
            "s3:GetObject",
            f"{BUCKET}/blue/plan.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/${{aws:PrincipalTag/team}}/*"),),
            context=(ctx("aws:PrincipalTag/team", "string", "blue"),),
        ),
    ),
    Case(
        "variable-in-a-condition-value",
        VARIABLES,
        ALLOWED,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("StringLike", "s3:prefix", "home/${aws:username}/*")),),
            caller=ALICE,
            context=(ctx("s3:prefix", "string", "home/alice/photos/"),),
        ),
    ),
    Case(
        "variable-in-a-condition-value-near-miss",
        VARIABLES,
        IMPLICIT,
        ask(
            "s3:ListBucket",
            BUCKET,
            identity=(allow("s3:ListBucket", BUCKET, **when("StringLike", "s3:prefix", "home/${aws:username}/*")),),
            caller=ALICE,
            context=(ctx("s3:prefix", "string", "home/bob/photos/"),),
        ),
    ),
    Case(
        "variable-default-value-when-the-key-is-absent",
        VARIABLES,
        ALLOWED,
        ask(
            "s3:GetObject",
            f"{BUCKET}/shared/plan.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/${{aws:PrincipalTag/team, 'shared'}}/*"),),
        ),
    ),
    Case(
        "variable-default-value-is-unused-when-the-key-is-there",
        VARIABLES,
        IMPLICIT,
        ask(
            "s3:GetObject",
            f"{BUCKET}/shared/plan.txt",
            identity=(allow("s3:GetObject", f"{BUCKET}/${{aws:PrincipalTag/team, 'shared'}}/*"),),
            context=(ctx("aws:PrincipalTag/team", "string", "blue"),),
        ),
    ),
    Case(
        "escaped-star-is-a-literal-star",
        VARIABLES,
        ALLOWED,
        ask("s3:GetObject", f"{BUCKET}/*", identity=(allow("s3:GetObject", f"{BUCKET}/${{*}}"),)),
    ),
    Case(
        "escaped-star-is-not-a-wildcard",
        VARIABLES,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, identity=(allow("s3:GetObject", f"{BUCKET}/${{*}}"),)),
    ),
    Case(
        "escaped-question-mark-is-not-a-wildcard",
        VARIABLES,
        IMPLICIT,
        ask("s3:GetObject", f"{BUCKET}/whatX", identity=(allow("s3:GetObject", f"{BUCKET}/what${{?}}"),)),
    ),
    Case(
        "escaped-dollar-is-a-literal-dollar",
        VARIABLES,
        ALLOWED,
        ask("s3:GetObject", f"{BUCKET}/price$", identity=(allow("s3:GetObject", f"{BUCKET}/price${{$}}"),)),
    ),
    # --- Resource-based policies in one account and across accounts ------------------------------------------------
    Case(
        "resource-policy-alone-grants-a-user-in-the-account",
        SINGLE,
        ALLOWED,
        ask("sqs:SendMessage", QUEUE, resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", QUEUE),), caller=ALICE),
    ),
    Case(
        "resource-policy-naming-someone-else",
        SINGLE,
        IMPLICIT,
        ask("sqs:SendMessage", QUEUE, resource_policy=(grant({"AWS": BOB}, "sqs:SendMessage", QUEUE),), caller=ALICE),
    ),
    Case(
        "identity-policy-alone-in-the-account",
        SINGLE,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:SendMessage"),),
            resource_policy=(grant({"AWS": BOB}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "resource-policy-deny-wins",
        SINGLE,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", QUEUE, effect="Deny"),),
            caller=ALICE,
        ),
    ),
    Case(
        "resource-policy-for-everyone",
        PRINCIPAL,
        ALLOWED,
        ask("sqs:SendMessage", QUEUE, resource_policy=(grant("*", "sqs:SendMessage", QUEUE),), caller=ALICE),
    ),
    Case(
        "resource-policy-naming-the-account-with-an-identity-allow",
        PRINCIPAL,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:SendMessage"),),
            resource_policy=(grant({"AWS": ACCOUNT}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "cross-account-needs-the-identity-policy",
        CROSS,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            OTHER_QUEUE,
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", OTHER_QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "cross-account-needs-the-resource-policy",
        CROSS,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            OTHER_QUEUE,
            identity=(allow("sqs:SendMessage"),),
            resource_policy=(grant({"AWS": OTHER_ROOT}, "sqs:SendMessage", OTHER_QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "cross-account-both-allow",
        CROSS,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            OTHER_QUEUE,
            identity=(allow("sqs:SendMessage"),),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", OTHER_QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "cross-account-resource-policy-naming-the-callers-account",
        CROSS,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            OTHER_QUEUE,
            identity=(allow("sqs:SendMessage"),),
            resource_policy=(grant({"AWS": ACCOUNT}, "sqs:SendMessage", OTHER_QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "cross-account-s3-by-resource-owner",
        CROSS,
        IMPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            resource_policy=(grant({"AWS": EVE}, "s3:GetObject", f"{BUCKET}/*"),),
            caller=EVE,
            owner=ROOT,
        ),
    ),
    Case(
        "cross-account-s3-both-allow",
        CROSS,
        ALLOWED,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=(allow("s3:GetObject"),),
            resource_policy=(grant({"AWS": EVE}, "s3:GetObject", f"{BUCKET}/*"),),
            caller=EVE,
            owner=ROOT,
        ),
    ),
    Case(
        "resource-policy-naming-the-role-grants-its-session",
        SINGLE,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            resource_policy=(grant({"AWS": APP_ROLE}, "sqs:SendMessage", QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "resource-policy-naming-the-session-grants-it",
        SINGLE,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            resource_policy=(grant({"AWS": APP_SESSION}, "sqs:SendMessage", QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "resource-policy-naming-another-session-of-the-role",
        PRINCIPAL,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            resource_policy=(grant({"AWS": OTHER_APP_SESSION}, "sqs:SendMessage", QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "not-principal-deny-spares-the-listed-user",
        NOT_PRINCIPAL,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            resource_policy=(grant(None, "sqs:*", QUEUE, effect="Deny", NotPrincipal={"AWS": [ALICE, ROOT]}),),
            caller=ALICE,
        ),
    ),
    Case(
        "not-principal-deny-denies-the-others",
        NOT_PRINCIPAL,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            resource_policy=(grant(None, "sqs:*", QUEUE, effect="Deny", NotPrincipal={"AWS": [ALICE, ROOT]}),),
            caller=BOB,
        ),
    ),
    Case(
        "not-principal-deny-spares-a-session-listed-with-its-role-and-account",
        NOT_PRINCIPAL,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            resource_policy=(
                grant(None, "sqs:*", QUEUE, effect="Deny", NotPrincipal={"AWS": [ROOT, APP_ROLE, APP_SESSION]}),
            ),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "not-principal-deny-needs-the-session-itself",
        NOT_PRINCIPAL,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            resource_policy=(grant(None, "sqs:*", QUEUE, effect="Deny", NotPrincipal={"AWS": [ROOT, APP_ROLE]}),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "not-principal-deny-always-denies-a-principal-with-a-boundary",
        NOT_PRINCIPAL,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            boundary=EVERYTHING,
            resource_policy=(grant(None, "sqs:*", QUEUE, effect="Deny", NotPrincipal={"AWS": [ALICE, ROOT]}),),
            caller=ALICE,
        ),
    ),
    Case(
        "not-principal-allow-grants-everyone-else",
        NOT_PRINCIPAL,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            resource_policy=(grant(None, "sqs:*", QUEUE, NotPrincipal={"AWS": BOB}),),
            caller=ALICE,
        ),
    ),
    Case(
        "not-principal-allow-leaves-out-the-listed",
        NOT_PRINCIPAL,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            resource_policy=(grant(None, "sqs:*", QUEUE, NotPrincipal={"AWS": BOB}),),
            caller=BOB,
        ),
    ),
    Case(
        "cross-account-role-session-both-allow",
        CROSS,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            OTHER_QUEUE,
            identity=(allow("sqs:SendMessage"),),
            resource_policy=(grant({"AWS": APP_ROLE}, "sqs:SendMessage", OTHER_QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "cross-account-boundary-limits-the-identity-side",
        CROSS,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            OTHER_QUEUE,
            identity=(allow("sqs:SendMessage"),),
            boundary=(allow("s3:*"),),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", OTHER_QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "resource-account-key-denies-other-accounts",
        KEYS,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            OTHER_QUEUE,
            identity=(allow("sqs:*"), deny("*", **when("StringNotEquals", "aws:ResourceAccount", ACCOUNT))),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", OTHER_QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "rcp-deny-for-principals-of-other-accounts",
        RCP,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            rcps=(
                (
                    allow("*"),
                    grant("*", "sqs:*", effect="Deny", **when("StringNotEquals", "aws:PrincipalAccount", ACCOUNT)),
                ),
            ),
            resource_policy=(grant({"AWS": EVE}, "sqs:SendMessage", QUEUE),),
            caller=EVE,
        ),
    ),
    Case(
        "rcp-deny-for-principals-of-other-accounts-spares-the-own",
        RCP,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            identity=(allow("sqs:*"),),
            rcps=(
                (
                    allow("*"),
                    grant("*", "sqs:*", effect="Deny", **when("StringNotEquals", "aws:PrincipalAccount", ACCOUNT)),
                ),
            ),
            caller=ALICE,
        ),
    ),
    Case(
        "principal-arn-takes-no-partial-wildcard",
        PRINCIPAL,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            resource_policy=(grant({"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "service-principal-does-not-name-a-user",
        PRINCIPAL,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            resource_policy=(grant({"Service": "sns.amazonaws.com"}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    # --- Permissions boundaries -----------------------------------------------------------------------------------
    Case(
        "boundary-limits-the-identity-policy",
        BOUNDARIES,
        IMPLICIT,
        ask("iam:CreateUser", BOB, identity=EVERYTHING, boundary=(allow(["s3:*", "ec2:*"]),)),
    ),
    Case(
        "boundary-and-identity-both-allow",
        BOUNDARIES,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=EVERYTHING, boundary=(allow(["s3:*", "ec2:*"]),)),
    ),
    Case(
        "boundary-grants-nothing-alone",
        BOUNDARIES,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, boundary=(allow("s3:*"),)),
    ),
    Case(
        "boundary-deny-wins",
        BOUNDARIES,
        EXPLICIT,
        ask("s3:DeleteObject", OBJECT, identity=EVERYTHING, boundary=(allow("*"), deny("s3:Delete*"))),
    ),
    Case(
        "boundary-does-not-limit-a-resource-policy-naming-the-user",
        BOUNDARIES,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            boundary=(allow("ec2:*"),),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "boundary-limits-a-resource-policy-naming-the-role",
        BOUNDARIES,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            boundary=(allow("ec2:*"),),
            resource_policy=(grant({"AWS": APP_ROLE}, "sqs:SendMessage", QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "boundary-does-not-limit-a-resource-policy-naming-the-session",
        BOUNDARIES,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            boundary=(allow("ec2:*"),),
            resource_policy=(grant({"AWS": APP_SESSION}, "sqs:SendMessage", QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "boundary-deny-still-wins-over-a-resource-policy-naming-the-user",
        BOUNDARIES,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            boundary=(allow("*"), deny("sqs:*")),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    # --- Session policies -----------------------------------------------------------------------------------------
    Case(
        "session-policy-limits-the-identity-policy",
        SESSION,
        IMPLICIT,
        ask("iam:CreateUser", BOB, identity=EVERYTHING, session=(allow("s3:*"),), caller=APP_SESSION),
    ),
    Case(
        "session-policy-grants-nothing-alone",
        SESSION,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, session=(allow("s3:*"),), caller=APP_SESSION),
    ),
    Case(
        "session-policy-and-identity-both-allow",
        SESSION,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=S3_ALL, session=(allow("s3:GetObject"),), caller=APP_SESSION),
    ),
    Case(
        "session-policy-limits-a-resource-policy-naming-the-role",
        SESSION,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            session=(allow("s3:*"),),
            resource_policy=(grant({"AWS": APP_ROLE}, "sqs:SendMessage", QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "session-policy-does-not-limit-a-resource-policy-naming-the-session",
        SESSION,
        ALLOWED,
        ask(
            "sqs:SendMessage",
            QUEUE,
            session=(allow("s3:*"),),
            resource_policy=(grant({"AWS": APP_SESSION}, "sqs:SendMessage", QUEUE),),
            caller=APP_SESSION,
        ),
    ),
    Case(
        "session-policy-limits-a-resource-policy-naming-the-user",
        SESSION,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            session=(allow("s3:*"),),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "session-policy-deny-wins",
        SESSION,
        EXPLICIT,
        ask("s3:DeleteObject", OBJECT, identity=S3_ALL, session=(allow("*"), deny("s3:Delete*")), caller=APP_SESSION),
    ),
    # --- Service control policies ---------------------------------------------------------------------------------
    Case(
        "scp-every-level-allows",
        SCP,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=EVERYTHING, scps=((allow("*"),), (allow("s3:*"),))),
    ),
    Case(
        "scp-one-level-does-not-allow",
        SCP,
        IMPLICIT,
        ask(
            "ec2:StartInstances",
            f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0abc",
            identity=EVERYTHING,
            scps=((allow("*"),), (allow("s3:*"),)),
        ),
    ),
    Case(
        "scp-deny-at-the-root",
        SCP,
        EXPLICIT,
        ask(
            "s3:DeleteObject", OBJECT, identity=EVERYTHING, scps=((allow("*"), deny("s3:DeleteObject")), (allow("*"),))
        ),
    ),
    Case(
        "scp-grants-nothing-alone",
        SCP,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, scps=((allow("*"),),)),
    ),
    Case(
        "scp-limits-a-resource-policy-grant",
        DENY_ALLOW,
        IMPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            scps=((allow("s3:*"),),),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
    Case(
        "scp-deny-with-a-region-condition",
        SCP,
        EXPLICIT,
        ask(
            "s3:GetObject",
            OBJECT,
            identity=EVERYTHING,
            scps=((allow("*"), deny("*", **when("StringNotEquals", "aws:RequestedRegion", "eu-west-1"))),),
            context=(ctx("aws:RequestedRegion", "string", "us-east-1"),),
        ),
    ),
    # --- Resource control policies --------------------------------------------------------------------------------
    Case(
        "rcp-every-level-allows",
        RCP,
        ALLOWED,
        ask("s3:GetObject", OBJECT, identity=EVERYTHING, rcps=((allow("*"),), (allow("*"),))),
    ),
    Case(
        "rcp-deny",
        RCP,
        EXPLICIT,
        ask(
            "s3:DeleteObject",
            OBJECT,
            identity=EVERYTHING,
            rcps=((allow("*"), grant("*", "s3:DeleteObject", effect="Deny")),),
        ),
    ),
    Case(
        "rcp-level-that-does-not-allow",
        RCP,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, identity=EVERYTHING, rcps=((allow("*"),), (allow("sqs:*"),))),
    ),
    Case(
        "rcp-grants-nothing-alone",
        RCP,
        IMPLICIT,
        ask("s3:GetObject", OBJECT, rcps=((allow("*"),),)),
    ),
    Case(
        "rcp-deny-limits-a-resource-policy-grant",
        RCP,
        EXPLICIT,
        ask(
            "sqs:SendMessage",
            QUEUE,
            rcps=((allow("*"), grant("*", "sqs:*", effect="Deny")),),
            resource_policy=(grant({"AWS": ALICE}, "sqs:SendMessage", QUEUE),),
            caller=ALICE,
        ),
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_it_gives_the_documented_decision(case: Case) -> None:
    assert case.doc.startswith("https://docs.aws.amazon.com/")
    response = simulate(load_request(json.dumps(case.request)))
    [result] = response["EvaluationResults"]
    assert result["EvalDecision"] == case.expected, result["AegisReason"]


def test_it_has_at_least_eighty_cases_each_with_its_own_id() -> None:
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)
