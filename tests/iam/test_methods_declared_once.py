"""Each escalation method is declared once, by the edge module that proves it, and every declaration is tied to a
positive scenario (a principal holding exactly the method's actions escalates by it) and a near-miss (one
requirement short, or the action denied, it does not)."""

from __future__ import annotations

from typing import Any

import pytest

from audits.iam import actions as ds
from audits.iam import graph
from audits.iam.analysis import Analysis
from audits.iam.edges import PassMethod, TakeoverMethod, catalog
from tests.iam.builders import ACCOUNT, allow, deny, doc, group, healthy, managed, report_row, role, trust_doc, user
from tests.iam.builders import arn as arn_of

ADMIN = managed("AdministratorAccess", doc(allow("*")), aws=True)
PROFILE = [{"InstanceProfileName": "p", "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/p"}]
COGNITO_TRUST = doc(
    {
        "Effect": "Allow",
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:0d1b2c3d-aaaa"}},
    }
)


def test_every_method_is_declared_once_with_a_docs_link():
    names = [m.name for m in catalog.METHODS]
    assert len(names) == len(set(names)) >= 70
    for m in catalog.METHODS:
        assert m.how and m.docs.startswith("https://"), m.name
        assert m.kind in ("assume", "takeover", "pass", "self"), m.name
        assert all(a == a.lower() for a in m.actions), m.name


def test_every_action_a_method_names_is_a_dataset_action():
    known = ds.all_actions()
    unknown = sorted({a for m in catalog.METHODS for a in m.actions} - known)
    assert unknown == []


def test_the_graph_indexes_what_the_declarations_say():
    assert graph.INDEXED is catalog.INDEXED
    assert {"iam:passrole", "sts:assumerole", "iam:createaccesskey", "ssm:sendcommand"} <= graph.INDEXED
    assert graph.FAMILIES is catalog.FAMILIES
    for m in catalog.METHODS:
        if m.kind == "self":
            assert set(m.requires[0]) <= graph.SELF_SET, m.name


def _first(requirements) -> list[str]:
    return [r[0] for r in requirements]


def _scenario(method, near_miss: bool):
    """A snapshot where `subject` holds the method's actions, with the target the method needs; the near-miss is
    one requirement short or denied, or (a service's method) has no role trusting the service. Returns (snapshot,
    subject ARN)."""
    requirements = list(method.requires)
    service_method = isinstance(method, (PassMethod, TakeoverMethod))
    # The create-and-use methods act on a principal they create: their grants name only those (not oneself).
    made = {"CreateRoleThenAttachAndAssume": "role", "CreateUserThenAttachAndCreateAccessKey": "user"}.get(method.name)
    resource = arn_of(made, "new-*") if made else "*"
    statements: list[dict] = []
    if near_miss and not service_method and len(requirements) > 1:
        statements.append(allow([ds.display(a) for a in _first(requirements[:-1])], resource))
    else:
        statements.append(allow([ds.display(a) for a in _first(method.all_requirements)], resource))
        if near_miss and not service_method:
            statements.append(deny([ds.display(a) for a in method.all_requirements[-1]]))
    policy = managed("method", doc(*statements))
    roles, users, groups, policies = [], [], [], [policy, ADMIN]
    kind = "role"
    if service_method:
        # The near-miss: every action held, but the only admin role trusts a service none of them reaches.
        service = "backup.amazonaws.com" if near_miss else method.service
        target = role("target", trust=trust_doc({"Service": service}), policies=(ADMIN,))
        target["InstanceProfileList"] = PROFILE
        roles.append(target)
    elif method.name == "PassRoleToCognitoIdentityPool":
        roles.append(role("target", trust=COGNITO_TRUST, policies=(ADMIN,)))
    elif method.name == "AssumeRole":
        roles.append(role("target", trust=trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), policies=(ADMIN,)))
    elif method.name in ("CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile"):
        users.append(user("target", policies=(ADMIN,)))
    elif method.name == "UpdateRolePolicyToAssumeIt":
        roles.append(role("target", policies=(ADMIN,)))
    elif method.kind == "self":
        kind = "role" if "role" in " ".join(method.actions) and "user" not in method.name.lower() else "user"
        if method.name in ("PutGroupPolicy", "AttachGroupPolicy"):
            groups.append(group("mine"))
        if method.name == "AddUserToGroup":
            groups.append(group("admins", policies=(ADMIN,)))
        if method.name == "SetExistingDefaultPolicyVersion":
            # A stored, non-default version of the held policy that grants everything.
            policy["PolicyVersionList"].append(
                {"VersionId": "v2", "IsDefaultVersion": False, "Document": doc(allow("*"))}
            )
        if method.name in ("DeletePermissionsBoundary", "PutPermissionsBoundary"):
            fence = managed("fence", doc(allow([ds.display(a) for a in method.actions])))
            policies.append(fence)
            holder: dict[str, Any] = {"policies": (policy, ADMIN), "boundary": fence}
            subject = (
                user("subject", **holder)
                if kind == "user"
                else role("subject", trust=trust_doc({"Service": "ec2.amazonaws.com"}), **holder)
            )
            return _snapshot(users, roles, groups, policies, subject, kind, method)
    holder = {"policies": (policy,)}
    if kind == "user":
        subject = user("subject", groups=tuple(g["GroupName"] for g in groups if g["GroupName"] == "mine"), **holder)
    else:
        subject = role("subject", trust=trust_doc({"Service": "ec2.amazonaws.com"}), **holder)
    return _snapshot(users, roles, groups, policies, subject, kind, method)


def _snapshot(users, roles, groups, policies, subject, kind, method):
    # A user has at most one login profile: CreateLoginProfile needs none, UpdateLoginProfile one.
    password = "true" if method.name == "UpdateLoginProfile" else "false"
    rows = [report_row("<root_account>"), *(report_row(u["UserName"], password_enabled=password) for u in users)]
    if kind == "user":
        rows.append(report_row("subject"))
    snap = healthy(
        report=rows,
        users=[*users, subject] if kind == "user" else users,
        roles=[*roles, subject] if kind == "role" else roles,
        groups=groups,
        policies=policies,
    )
    return snap, arn_of(kind, "subject")


@pytest.mark.parametrize("method", list(catalog.METHODS), ids=lambda m: m.name)
def test_every_method_has_a_positive_and_a_near_miss(method):
    snap, subject = _scenario(method, near_miss=False)
    esc = Analysis(snap).graph.escalation(subject)
    assert esc is not None and not esc.admin, f"{method.name}: no escalation for its positive scenario"
    assert method.name in esc.method, (method.name, esc.method)

    snap, subject = _scenario(method, near_miss=True)
    assert Analysis(snap).graph.escalation(subject) is None, f"{method.name}: its near-miss escalates"
