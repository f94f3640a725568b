"""Role trust policies: who may assume each role, and the trust checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from audits.iam.checks import Spec


def as_list(value: Any) -> list:
    """A policy element that may be one value or a list of them, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_ACCOUNT = re.compile(r"^(?:arn:aws[\w-]*:iam::)?(\d{12})(?::|$)")
# Conditions that pin who may assume across accounts (any one is enough to call the trust protected).
_CROSS_ACCOUNT_GUARDS = (
    "sts:externalid",
    "aws:multifactorauthpresent",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalarn",
    "aws:sourceidentity",
    "aws:userid",
)
_DEPUTY_GUARDS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths")
# Services documented to send aws:SourceAccount / aws:SourceArn when they assume a role on the account's behalf
# (each service guide's "Cross-service confused deputy prevention" page, read 2026-12-02, e.g.
# docs.aws.amazon.com/autoscaling/ec2/userguide/cross-service-confused-deputy-prevention.html,
# docs.aws.amazon.com/personalize/latest/dg/cross-service-confused-deputy-prevention.html,
# docs.aws.amazon.com/greengrass/v2/developerguide/cross-service-confused-deputy-prevention.html,
# docs.aws.amazon.com/controltower/latest/userguide/prevent-confused-deputy.html,
# docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html,
# docs.aws.amazon.com/step-functions/latest/dg/cross-service-confused-deputy-prevention.html,
# docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html,
# docs.aws.amazon.com/transfer/latest/userguide/confused-deputy.html,
# docs.aws.amazon.com/config/latest/developerguide/cross-service-confused-deputy-prevention.html,
# docs.aws.amazon.com/systems-manager/latest/userguide/cross-service-confused-deputy-prevention.html).
# Only for these does adding the condition work; EC2 (instance profiles), Lambda execution roles and ECS task roles
# get no such keys, and the condition would break them, so they are never flagged.
SENDS_SOURCE_KEYS = frozenset(
    {
        "autoscaling.amazonaws.com",
        "personalize.amazonaws.com",
        "credentials.iot.amazonaws.com",
        "controltower.amazonaws.com",
        "codebuild.amazonaws.com",
        "states.amazonaws.com",
        "scheduler.amazonaws.com",
        "transfer.amazonaws.com",
        "config.amazonaws.com",
        "ssm.amazonaws.com",
    }
)
_ASSUME = ("sts:assumerole", "sts:assumerolewithwebidentity", "sts:assumerolewithsaml", "sts:*", "*")


@dataclass(frozen=True)
class Trusted:
    kind: str  # "any" | "aws" | "service" | "federated"
    value: str  # "*", an ARN, an account root, a service or a provider
    account: str  # for AWS principals, the 12-digit account ("" for "*")
    condition_keys: frozenset[str]
    statement: dict


def account_of(value: str) -> str:
    match = _ACCOUNT.match(value)
    return match.group(1) if match else ""


_TRUSTED: dict[int, tuple[dict, list[Trusted]]] = {}


def trusted(role: dict) -> list[Trusted]:
    """Parsed once per trust document (the graph and the checks both ask, for every role)."""
    doc = role.get("AssumeRolePolicyDocument")
    if not isinstance(doc, dict):
        return []
    found = _TRUSTED.get(id(doc))
    if found is not None and found[0] is doc:
        return found[1]
    if len(_TRUSTED) > 100_000:
        _TRUSTED.clear()  # bounded: a long-lived worker audits many accounts
    out = _parse_trust(doc)
    _TRUSTED[id(doc)] = (doc, out)
    return out


def _parse_trust(doc: dict) -> list[Trusted]:
    out = []
    for st in as_list(doc.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if not any(
            str(a).lower() in _ASSUME or str(a).lower().startswith("sts:assumerole") for a in as_list(st.get("Action"))
        ):
            continue
        condition = found if isinstance(found := st.get("Condition"), dict) else {}
        keys = frozenset(str(k).lower() for op in condition.values() if isinstance(op, dict) for k in op)
        principal = st.get("Principal")
        if principal == "*":
            out.append(Trusted("any", "*", "", keys, st))
            continue
        if not isinstance(principal, dict):
            continue
        for value in as_list(principal.get("AWS")):
            value = str(value)
            kind = "any" if value == "*" else "aws"
            out.append(Trusted(kind, value, account_of(value), keys, st))
        for value in as_list(principal.get("Service")):
            out.append(Trusted("service", str(value), "", keys, st))
        for value in as_list(principal.get("Federated")):
            out.append(Trusted("federated", str(value), "", keys, st))
    return out


def _provider(value: str) -> str:
    return value.split("oidc-provider/", 1)[1] if "oidc-provider/" in value else value


def trust_specs(
    role: dict,
    own_account: str,
    attached: list[str],
    assumers: list[str] | None = None,
    admin: bool = False,
    unchecked: int = 0,
) -> list[Spec]:
    """Findings on one role's trust policy. Service-linked roles are AWS's to manage and are skipped.

    assumers: the principals of the account that can assume the role now (from the graph); admin: the role is
    administrator or can become one."""
    if str(role.get("Path", "")).startswith("/aws-service-role/"):  # str(): a malformed Path is just not one
        return []
    specs = []
    for t in trusted(role):
        evidence = {"statement": t.statement, "admin": admin}
        if t.kind == "any":
            specs.append(
                Spec(
                    "trust_any_principal",
                    "",
                    "any",
                    "The trust policy lets any AWS principal assume this role"
                    + (
                        f" (conditions: {', '.join(sorted(t.condition_keys))})."
                        if t.condition_keys
                        else " with no condition."
                    ),
                    evidence,
                    bool(t.condition_keys),
                )
            )
        elif (
            t.kind == "aws"
            and t.account
            and t.account == own_account
            and (t.value.endswith(":root") or t.value.isdigit())
        ):
            who = sorted(assumers or [])
            names = ", ".join(a.rsplit("/", 1)[-1] for a in who[:5])
            evidence = {**evidence, "effective_for": who[:50], "assumers": len(who), "unchecked": unchecked}
            specs.append(
                Spec(
                    "trust_account_root",
                    "",
                    t.value,
                    "The trust policy trusts the account itself: anyone in it whose own policies allow "
                    "sts:AssumeRole on this role can become it"
                    + (
                        f" ({len(who)} principal(s) can now: {names}" + (" ...)" if len(who) > 5 else ")")
                        if who
                        else "; no principal can today"
                    )
                    + (f"; {unchecked} more candidate(s) not checked" if unchecked else "")
                    + (". The role is administrator or can become one." if admin else "."),
                    evidence,
                    bool(t.condition_keys),
                    "medium" if admin and who else None,
                )
            )
        elif t.kind == "aws" and t.account and t.account != own_account:
            guarded = [k for k in t.condition_keys if k in _CROSS_ACCOUNT_GUARDS]
            if guarded:
                continue
            evidence = {**evidence, "external_account": t.account, "principal": t.value}
            specs.append(
                Spec(
                    "trust_cross_account_unprotected",
                    "",
                    t.value,
                    f"Account {t.account} ({t.value}) can assume this role with no ExternalId, MFA or "
                    "organization condition.",
                    evidence,
                    bool(t.condition_keys),
                )
            )
            if any(a.endswith("/ReadOnlyAccess") for a in attached):
                specs.append(
                    Spec(
                        "cross_account_readonly_role",
                        "",
                        t.value,
                        f"External account {t.account} can assume this role, which has ReadOnlyAccess.",
                        evidence,
                    )
                )
        elif t.kind == "federated" and "saml-provider/" not in t.value:
            provider = _provider(t.value)
            # Cognito identity pools identify the pool by "aud"; every other provider names the caller in "sub".
            claim = "aud" if provider == "cognito-identity.amazonaws.com" else "sub"
            needed = f"{provider}:{claim}".lower()
            values = condition_values(t.statement, needed)
            weak = values and all(v.strip("*:") in ("", "repo") or v in ("*", "repo:*") for v in values)
            if not values or weak:
                evidence = {**evidence, "provider": provider, "missing_condition": needed}
                specs.append(
                    Spec(
                        "trust_oidc_unrestricted",
                        "",
                        provider,
                        f"Web-identity trust of {provider} "
                        + (
                            "allows any subject ('" + "', '".join(values) + "')."
                            if weak
                            else f"has no '{needed}' condition: any identity of that provider can assume the role."
                        ),
                        evidence,
                    )
                )
        elif (
            t.kind == "service"
            and t.value.lower() in SENDS_SOURCE_KEYS
            and not any(k in _DEPUTY_GUARDS for k in t.condition_keys)
        ):
            specs.append(
                Spec(
                    "trust_service_confused_deputy",
                    "",
                    t.value,
                    f"Trusts {t.value} without aws:SourceAccount or aws:SourceArn.",
                    evidence,
                )
            )
    return specs


def condition_values(statement: dict, key: str) -> list[str]:
    """The values a statement's conditions give `key` (lowercased name), under any operator."""
    out: list[str] = []
    condition = found if isinstance(found := statement.get("Condition"), dict) else {}
    for op in condition.values():
        if isinstance(op, dict):
            for k, v in op.items():
                if str(k).lower() == key:
                    out.extend(str(x) for x in as_list(v))
    return out
