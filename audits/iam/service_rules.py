"""Rules AWS services apply before any policy is read: requests no policy can refuse, and changes no policy can
allow. The evaluator consults this table first, and a decision made by a row names it (its reason and its page),
so an escalation path never runs through a change AWS itself refuses (rewriting the trust of an IAM Identity
Center role, a new version of an AWS-managed policy).

Each row: the actions it covers (lowercased), the resources it covers (a regex on the ARN; None: any resource),
the verdict, a one-line reason and the AWS documentation page that states the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ALWAYS_ALLOWED = "always allowed"
CANNOT_BE_CHANGED = "cannot be changed"

_PARTITION = r"arn:aws[a-z-]*"
# The changes IAM refuses on a protected role ("Cannot perform the operation on the protected role"): its trust,
# its permissions (inline, attached, boundary), its settings, and deleting it through DeleteRole.
_ROLE_WRITES = (
    "iam:updateassumerolepolicy",
    "iam:putrolepolicy",
    "iam:deleterolepolicy",
    "iam:attachrolepolicy",
    "iam:detachrolepolicy",
    "iam:putrolepermissionsboundary",
    "iam:deleterolepermissionsboundary",
    "iam:updaterole",
    "iam:deleterole",
)


@dataclass(frozen=True)
class ServiceRule:
    id: str
    actions: frozenset[str]
    resource: re.Pattern[str] | None
    verdict: str  # ALWAYS_ALLOWED | CANNOT_BE_CHANGED
    reason: str
    doc: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "verdict": self.verdict, "reason": self.reason, "doc": self.doc}


RULES: tuple[ServiceRule, ...] = (
    ServiceRule(
        "sts-get-caller-identity",
        frozenset({"sts:getcalleridentity"}),
        None,
        ALWAYS_ALLOWED,
        "sts:GetCallerIdentity needs no permission and an explicit deny does not stop it",
        "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html",
    ),
    ServiceRule(
        "aws-managed-policy",
        frozenset(
            {"iam:createpolicyversion", "iam:setdefaultpolicyversion", "iam:deletepolicy", "iam:deletepolicyversion"}
        ),
        re.compile(rf"{_PARTITION}:iam::aws:policy/", re.IGNORECASE),
        CANNOT_BE_CHANGED,
        "AWS-managed policies cannot be changed",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies",
    ),
    ServiceRule(
        "identity-center-role",
        frozenset(_ROLE_WRITES),
        re.compile(rf"{_PARTITION}:iam::\d{{12}}:role/aws-reserved/", re.IGNORECASE),
        CANNOT_BE_CHANGED,
        "roles IAM Identity Center creates (/aws-reserved/) cannot be changed through IAM",
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html",
    ),
    ServiceRule(
        "service-linked-role",
        frozenset(_ROLE_WRITES),
        re.compile(rf"{_PARTITION}:iam::\d{{12}}:role/aws-service-role/", re.IGNORECASE),
        CANNOT_BE_CHANGED,
        "service-linked roles' trust and permissions policies cannot be changed through IAM",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html",
    ),
    ServiceRule(
        "aws-kms-alias",
        frozenset({"kms:createalias", "kms:updatealias", "kms:deletealias"}),
        re.compile(rf"{_PARTITION}:kms:[^:]*:\d{{12}}:alias/aws/", re.IGNORECASE),
        CANNOT_BE_CHANGED,
        "alias/aws/ is reserved for AWS managed keys: such aliases cannot be created, updated or deleted",
        "https://docs.aws.amazon.com/kms/latest/developerguide/alias-about.html",
    ),
)

_BY_ACTION: dict[str, tuple[ServiceRule, ...]] = {}
for _rule in RULES:
    for _action in _rule.actions:
        _BY_ACTION[_action] = (*_BY_ACTION.get(_action, ()), _rule)


def rule_for(action: str, resource: str) -> ServiceRule | None:
    """The rule that decides this request before any policy, if one does. A wildcard resource is no single
    request ("*" covers protected and ordinary resources alike), so only a rule for any resource decides it."""
    rules = _BY_ACTION.get(action)
    if rules is None:
        rules = _BY_ACTION.get(action.strip().lower())
        if rules is None:
            return None
    concrete = "*" not in resource and "?" not in resource
    for rule in rules:
        if rule.resource is None or (concrete and rule.resource.match(resource) is not None):
            return rule
    return None


def resource_dependent(action: str) -> bool:
    """Does a rule decide this action on some resources and not others? (Then no single answer covers them all.)"""
    return any(rule.resource is not None for rule in _BY_ACTION.get(action.strip().lower(), ()))
