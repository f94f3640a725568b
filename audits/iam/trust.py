"""Role trust policies: who may assume each role, and the trust checks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from audits.iam.checks import Spec
from audits.iam.policy import as_list

_ACCOUNT = re.compile(r"^(?:arn:aws[\w-]*:iam::)?(\d{12})(?::|$)")
# Conditions that pin who may assume across accounts (any one is enough to call the trust protected).
_CROSS_ACCOUNT_GUARDS = ("sts:externalid", "aws:multifactorauthpresent", "aws:principalorgid",
                         "aws:principalorgpaths", "aws:principalarn", "aws:sourceidentity", "aws:userid")
_DEPUTY_GUARDS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths")
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


def trusted(role: dict) -> list[Trusted]:
    doc = role.get("AssumeRolePolicyDocument")
    if not isinstance(doc, dict):
        return []
    out = []
    for st in as_list(doc.get("Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        if not any(str(a).lower() in _ASSUME or str(a).lower().startswith("sts:assumerole")
                   for a in as_list(st.get("Action"))):
            continue
        condition = st.get("Condition") if isinstance(st.get("Condition"), dict) else {}
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


def trust_specs(role: dict, own_account: str, attached: list[str]) -> list[Spec]:
    """Findings on one role's trust policy. Service-linked roles are AWS's to manage and are skipped."""
    if str(role.get("Path", "")).startswith("/aws-service-role/"):  # str(): a malformed Path is just not one
        return []
    specs = []
    for t in trusted(role):
        evidence = {"statement": t.statement}
        if t.kind == "any":
            specs.append(Spec("trust_any_principal", "", "any",
                              "The trust policy lets any AWS principal assume this role"
                              + (f" (conditions: {', '.join(sorted(t.condition_keys))})." if t.condition_keys
                                 else " with no condition."), evidence, bool(t.condition_keys)))
        elif t.kind == "aws" and t.account and t.account != own_account:
            guarded = [k for k in t.condition_keys if k in _CROSS_ACCOUNT_GUARDS]
            if guarded:
                continue
            evidence = {**evidence, "external_account": t.account, "principal": t.value}
            specs.append(Spec("trust_cross_account_unprotected", "", t.value,
                              f"Account {t.account} ({t.value}) can assume this role with no ExternalId, MFA or "
                              "organization condition.", evidence, bool(t.condition_keys)))
            if any(a.endswith("/ReadOnlyAccess") for a in attached):
                specs.append(Spec("cross_account_readonly_role", "", t.value,
                                  f"External account {t.account} can assume this role, which has ReadOnlyAccess.",
                                  evidence))
        elif t.kind == "federated" and "saml-provider/" not in t.value:
            provider = _provider(t.value)
            # Cognito identity pools identify the pool by "aud"; every other provider names the caller in "sub".
            claim = "aud" if provider == "cognito-identity.amazonaws.com" else "sub"
            needed = f"{provider}:{claim}".lower()
            values = _condition_values(t.statement, needed)
            weak = values and all(v.strip("*:") in ("", "repo") or v in ("*", "repo:*") for v in values)
            if not values or weak:
                evidence = {**evidence, "provider": provider, "missing_condition": needed}
                specs.append(Spec("trust_oidc_unrestricted", "", provider,
                                  f"Web-identity trust of {provider} "
                                  + ("allows any subject ('" + "', '".join(values) + "')." if weak
                                     else f"has no '{needed}' condition: any identity of that provider can "
                                          "assume the role."), evidence))
        elif t.kind == "service" and not any(k in _DEPUTY_GUARDS for k in t.condition_keys):
            specs.append(Spec("trust_service_confused_deputy", "", t.value,
                              f"Trusts {t.value} without aws:SourceAccount or aws:SourceArn.", evidence))
    return specs


def _condition_values(statement: dict, key: str) -> list[str]:
    out = []
    condition = statement.get("Condition") if isinstance(statement.get("Condition"), dict) else {}
    for op in condition.values():
        if isinstance(op, dict):
            for k, v in op.items():
                if str(k).lower() == key:
                    out.extend(str(x) for x in as_list(v))
    return out
