"""Broad-grant notes on one policy: which sensitive actions it grants on unrestricted resources, read from the
evaluator's compiled statements (admin access and escalation are judged by the evaluator and the graph, in
analysis; these categories are about a statement's shape, after Cloudsplaining's and Prowler's policy checks).

A grant counts when an Allow statement matches the action on unrestricted resources (Resource "*", a whole-type
wildcard, NotResource), or when the action supports no resource-level permissions at all. An unconditioned Deny on
all resources (the policy's own, or its holder's) removes it; a permissions boundary must allow it too. Conditions
never silently drop a grant: a grant only available under a condition is reported as conditioned (rated one
severity lower).

Each function returns finding specs rather than findings, so principals with identical policies share one result.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from audits.iam import actions as ds
from audits.iam.checks import CHECKS, Spec, lower
from audits.iam.evaluator import CompiledStatement
from audits.iam.finding_types import StatementRef
from audits.iam.policy_alone import labelled

# Read actions that return data or secrets (Cloudsplaining's set plus RDS snapshot copies).
DATA_EXFILTRATION_ACTIONS = frozenset(
    {
        "s3:getobject",
        "s3:getobjectversion",
        "ssm:getparameter",
        "ssm:getparameters",
        "ssm:getparametersbypath",
        "secretsmanager:getsecretvalue",
        "rds:copydbsnapshot",
        "rds:createdbsnapshot",
        "dynamodb:scan",
        "dynamodb:exporttabletopointintime",
        "ec2:getpassworddata",
        "ebs:getsnapshotblock",
        "kms:decrypt",
    }
)
# Actions whose response carries credentials (after github.com/kmcquade's list used by Cloudsplaining).
CREDENTIAL_ACTIONS = frozenset(
    {
        "airflow:createclitoken",
        "airflow:createweblogintoken",
        "appsync:createapikey",
        "chime:createapikey",
        "cloud9:createenvironmenttoken",
        "codeartifact:getauthorizationtoken",
        "codepipeline:pollforjobs",
        "cognito-identity:getopenidtoken",
        "cognito-identity:getopenidtokenfordeveloperidentity",
        "cognito-identity:getcredentialsforidentity",
        "connect:getfederationtoken",
        "ec2:getpassworddata",
        "ecr:getauthorizationtoken",
        "ecr-public:getauthorizationtoken",
        "gamelift:requestuploadcredentials",
        "iam:createaccesskey",
        "iam:createloginprofile",
        "iam:createservicespecificcredential",
        "iam:resetservicespecificcredential",
        "iam:updateaccesskey",
        "lightsail:getinstanceaccessdetails",
        "lightsail:getrelationaldatabasemasteruserpassword",
        "mediapackage:rotatechannelcredentials",
        "mediapackage:rotateingestendpointcredentials",
        "rds-db:connect",
        "redshift:getclustercredentials",
        "redshift:getclustercredentialswithiam",
        "sts:assumerole",
        "sts:assumerolewithsaml",
        "sts:assumerolewithwebidentity",
        "sts:getfederationtoken",
        "sts:getsessiontoken",
        "storagegateway:describechapcredentials",
    }
)
# Actions that blind monitoring: logging, detection and their alarms.
DEFENSE_EVASION_ACTIONS = frozenset(
    {
        "cloudtrail:stoplogging",
        "cloudtrail:deletetrail",
        "cloudtrail:updatetrail",
        "cloudtrail:puteventselectors",
        "guardduty:deletedetector",
        "guardduty:updatedetector",
        "guardduty:disassociatefromadministratoraccount",
        "guardduty:deletemembers",
        "guardduty:createfilter",
        "guardduty:updateipset",
        "config:stopconfigurationrecorder",
        "config:deleteconfigurationrecorder",
        "config:deletedeliverychannel",
        "logs:deleteloggroup",
        "logs:deletelogstream",
        "logs:deletesubscriptionfilter",
        "ec2:deleteflowlogs",
        "securityhub:disablesecurityhub",
        "securityhub:batchupdatefindings",
        "access-analyzer:deleteanalyzer",
        "organizations:leaveorganization",
        "cloudwatch:deletealarms",
        "cloudwatch:disablealarmactions",
        "detective:deletegraph",
        "inspector2:disable",
        "macie2:disablemacie",
        "s3:putbucketlogging",
    }
)
# Every action a category or a single check names: one grants() over them all serves each (a grant of one action
# does not depend on which others are asked about).
_NAMED_ACTIONS = (
    DATA_EXFILTRATION_ACTIONS
    | CREDENTIAL_ACTIONS
    | DEFENSE_EVASION_ACTIONS
    | frozenset({"sts:assumerole", "aws-marketplace:subscribe"})
)
_SAMPLE = 15
_TYPE_WILDCARD = re.compile(r"^[A-Za-z0-9_-]+[/:]\*$")


def is_broad_resource(resource: str) -> bool:
    """ "*" or a whole resource type ("arn:aws:iam::123456789012:role/*"), not one named resource or prefix."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return False
    service, rest = parts[2], parts[5]
    if rest == "*":
        return True
    if service == "s3":
        # The resource part is a bucket name: "bucket/*" is one bucket's objects (scoped), "*/*" every object.
        return rest.startswith("*")
    return bool(_TYPE_WILDCARD.match(rest))


@lru_cache(maxsize=8192)
def _expanded(patterns: tuple[str, ...]) -> frozenset[str]:
    return ds.expand_all(patterns)


@lru_cache(maxsize=8192)
def _hits(patterns: tuple[str, ...], not_action: bool, candidates: frozenset[str]) -> frozenset[str]:
    found = _expanded(patterns)
    return candidates - found if not_action else candidates & found


def matches(s: CompiledStatement, action: str) -> bool:
    return (action in _expanded(s.actions)) != s.not_action


def matches_any(s: CompiledStatement, actions: set[str] | frozenset[str]) -> bool:
    """any(matches(s, a) for a in actions), as one set operation."""
    named = _expanded(s.actions)
    return not actions <= named if s.not_action else not actions.isdisjoint(named)


def broad(s: CompiledStatement) -> bool:
    """NotResource, an omitted Resource, or a Resource that is "*" or a whole resource type."""
    return s.not_resource or not s.has_resource or _broad(s.resources)


@lru_cache(maxsize=8192)
def _broad(resources: tuple) -> bool:
    return any(is_broad_resource(r.text) for r in resources)


def on_everything(s: CompiledStatement) -> bool:
    return not s.not_resource and (not s.has_resource or any(r.text == "*" for r in s.resources))


def grants_all_actions(s: CompiledStatement) -> bool:
    return not s.not_action and bool({"*", "*:*"} & set(s.actions))


@dataclass(frozen=True)
class Grant:
    statements: tuple[CompiledStatement, ...]
    conditioned: bool  # every granting statement carries a condition, or a conditional Deny may remove it


@dataclass
class Grants:
    """What one policy's Allow statements grant on unrestricted resources, under the Denies and boundary given."""

    allows: list[CompiledStatement]
    denies: list[CompiledStatement]
    boundary: tuple[CompiledStatement, ...] | None = None

    @classmethod
    def of(cls, statements, denies=None, boundary=None) -> Grants:
        own = list(statements)
        return cls(
            [s for s in own if s.effect == "Allow"],
            [s for s in (own if denies is None else denies) if s.effect == "Deny"],
            boundary,
        )

    @cached_property
    def _scoped(self) -> list[tuple[CompiledStatement, bool]]:
        """Each Allow with whether its Resource is unrestricted: asked once, read by every category."""
        return [(s, broad(s)) for s in self.allows]

    def grants(self, candidates: frozenset[str]) -> dict[str, Grant]:
        found: dict[str, list[CompiledStatement]] = {}
        resourceless = ds.resourceless_actions()
        for s, unrestricted in self._scoped:
            hit = _hits(s.actions, s.not_action, candidates)
            if not unrestricted:
                hit &= resourceless
            for action in hit:
                found.setdefault(action, []).append(s)
        out = {}
        for action, stmts in found.items():
            conditioned = all(s.conditions for s in stmts)
            removed = False
            for d in self.denies:
                if matches(d, action):
                    if d.conditions:
                        conditioned = True  # a conditional Deny may well remove it: mitigating, not conclusive
                    elif on_everything(d):
                        removed = True
                        break
            if removed or not self._boundary_allows(action):
                continue
            out[action] = Grant(tuple(stmts), conditioned)
        return out

    @cached_property
    def _named_grants(self) -> dict[str, Grant]:
        return self.grants(_NAMED_ACTIONS)

    def among(self, candidates: frozenset[str]) -> dict[str, Grant]:
        """grants(candidates) for actions the categories name, from one pass over the policy."""
        if candidates <= _NAMED_ACTIONS:
            return {action: g for action, g in self._named_grants.items() if action in candidates}
        return self.grants(candidates)

    def grant(self, action: str) -> Grant | None:
        if action in _NAMED_ACTIONS:
            return self._named_grants.get(action)
        return self.grants(frozenset({action})).get(action)

    def level_grants(self, level: str, *, conditioned: bool = False) -> tuple[frozenset[str], list[CompiledStatement]]:
        """Actions of one access level allowed on unrestricted resources; only unconditioned grants unless asked."""
        candidates = ds.actions_at_level(level)
        actions: set[str] = set()
        stmts = []
        resourceless = ds.resourceless_actions()
        for s, unrestricted in self._scoped:
            if s.conditions and not conditioned:
                continue
            hit = _hits(s.actions, s.not_action, candidates)
            if not unrestricted:
                hit &= resourceless
            if hit:
                actions |= hit
                stmts.append(s)
        for d in self.denies:
            if not d.conditions and on_everything(d):
                # The actions the Deny does not match, as one set operation (thousands for a 'service:*').
                named = _expanded(d.actions)
                actions = actions & named if d.not_action else actions - named
        if self.boundary is not None:
            actions = {a for a in actions if self._boundary_allows(a)}
        return frozenset(actions), [s for s in stmts if matches_any(s, actions)] if actions else []

    def read_only(self, tolerance: float = 0.02) -> bool:
        """All (but a sliver) of the allowed actions are at List or Read level.

        The sliver absorbs the dataset's odd classifications inside read-only patterns (quicksight:Describe*
        includes "Permissions management" actions that only describe permissions; iot:List* a Write one)."""
        if any(s.not_action for s in self.allows):
            return False
        allowed: set[str] = set()
        for s in self.allows:
            allowed |= _expanded(s.actions)
        if not allowed:
            return True
        # Two differences, not a union of the two levels (thousands of actions) built on every call.
        return len(allowed.difference(ds.actions_at_level("L"), ds.actions_at_level("R"))) <= tolerance * len(allowed)

    def _boundary_allows(self, action: str) -> bool:
        if self.boundary is None:
            return True
        allowed = any(s.effect == "Allow" and matches(s, action) for s in self.boundary)
        return allowed and not any(
            s.effect == "Deny" and matches(s, action) and not s.conditions and on_everything(s) for s in self.boundary
        )


def evidence(stmts: Iterable[CompiledStatement], label: str, limit: int = 5) -> list[StatementRef]:
    """Which statements grant, as findings cite them: the policy's label, sid, position and original text."""
    seen: dict[tuple[int, str], StatementRef] = {}
    for s in stmts:
        seen.setdefault((s.index, s.sid), s.ref)
        if len(seen) >= limit:
            break
    return labelled(seen.values(), label)


def hygiene_specs(
    grants: Grants, label: str, *, attached: bool = True, aws_managed: bool = False, admin: bool = False
) -> list[Spec]:
    """The broad-grant notes on one policy (admin and escalation are judged on its holders, in analysis).

    AWS-managed read-only policies (ReadOnlyAccess, SecurityAudit, …) do read data by design: choosing one is an
    access decision reviewed on the principal, not a defect of the policy, so they raise nothing here."""
    if aws_managed and grants.read_only():
        return []
    specs: list[Spec] = []
    assume = None if admin else grants.grant("sts:assumerole")  # granted only on '*' or every role ('role/*')
    if assume:
        specs.append(
            Spec(
                "policy_permissive_role_assumption",
                label,
                "",
                "Allows sts:AssumeRole on every role: each role that trusts this account can be assumed.",
                {"statements": evidence(assume.statements, label)},
                assume.conditioned,
            )
        )
    if not admin:
        specs.extend(_category_specs(grants, label))
    if not attached:
        specs = [
            s._replace(
                severity=lower(s.severity or CHECKS[s.check_id].severity),
                detail=s.detail + " The policy is not attached to anyone; rated one level lower.",
            )
            for s in specs
        ]
    return specs


def _named(found: dict[str, Grant], allows: list[CompiledStatement]) -> tuple[list[str], list[CompiledStatement], bool]:
    actions = sorted(ds.display(a) for a in found)
    granting = {id(s) for g in found.values() for s in g.statements}
    # The granting statements in the policy's own order (not in the order the actions happen to come in a set).
    stmts = [s for s in allows if id(s) in granting]
    return actions, stmts, all(g.conditioned for g in found.values())


def _still_writes(grants: Grants, wildcard: str) -> bool:
    """A 'service:*' whose write and permission actions are all denied is a read grant, not a wildcard."""
    changing = ds.expand(wildcard) - ds.actions_at_level("L") - ds.actions_at_level("R")
    if not grants.denies:
        return True
    return bool(grants.grants(changing)) if changing else False


def _category_specs(grants: Grants, label: str) -> list[Spec]:
    specs = []
    for check_id, candidates, what in (
        ("policy_data_exfiltration", DATA_EXFILTRATION_ACTIONS, "read data or secrets from every resource"),
        ("policy_credentials_exposure", CREDENTIAL_ACTIONS, "obtain credentials"),
        ("policy_defense_evasion", DEFENSE_EVASION_ACTIONS, "disable logging or threat detection"),
    ):
        found = grants.among(candidates)
        if found:
            names, stmts, conditioned = _named(found, grants.allows)  # a list here, a frozenset of actions below
            specs.append(
                Spec(
                    check_id,
                    label,
                    "",
                    f"Allows actions that {what}: {', '.join(names[:8])}"
                    + (f" (+{len(names) - 8} more)." if len(names) > 8 else "."),
                    {"actions": names, "statements": evidence(stmts, label)},
                    conditioned,
                )
            )
    for check_id, level, what in (
        ("policy_resource_exposure", "P", "permissions-management"),
        ("policy_infrastructure_modification", "W", "write"),
    ):
        actions, stmts = grants.level_grants(level)
        mitigated = False
        if not actions:
            actions, stmts = grants.level_grants(level, conditioned=True)
            mitigated = bool(actions)
        if actions:
            # The first few in order, without sorting thousands (a 'service:*' or a NotAction grant).
            shown = [ds.display(a) for a in heapq.nsmallest(_SAMPLE, actions)]
            services = sorted({a.partition(":")[0] for a in actions})
            specs.append(
                Spec(
                    check_id,
                    label,
                    "",
                    f"Allows {len(actions)} {what} actions on unrestricted resources across "
                    f"{len(services)} service(s) ({', '.join(services[:6])}).",
                    {
                        "count": len(actions),
                        "services": services,
                        "actions": shown,
                        "statements": evidence(stmts, label),
                    },
                    mitigated,
                )
            )
    wildcards = sorted(
        {
            p
            for s in grants.allows
            if not s.not_action
            for p in s.actions
            if p.endswith(":*") and p != "*:*" and _still_writes(grants, p)
        }
    )
    if wildcards:
        stmts = [s for s in grants.allows if any(p in wildcards for p in s.actions)]
        specs.append(
            Spec(
                "policy_service_wildcard",
                label,
                "",
                f"Grants every action of {len(wildcards)} service(s): {', '.join(wildcards)}.",
                {"wildcards": wildcards, "statements": evidence(stmts, label)},
                all(s.conditions for s in stmts),
            )
        )
    for check_id, service in (("policy_full_kms_access", "kms"), ("policy_full_cloudtrail_access", "cloudtrail")):
        # What Prowler's kms:*/cloudtrail:* checks mean: `service:*` on all resources.
        stmts = [s for s in grants.allows if not s.not_action and f"{service}:*" in s.actions and on_everything(s)]
        if stmts:
            specs.append(
                Spec(
                    check_id,
                    label,
                    "",
                    f"Grants {service}:* on all resources.",
                    {"statements": evidence(stmts, label)},
                    all(s.conditions for s in stmts),
                )
            )
    market = grants.grant("aws-marketplace:subscribe")
    if market:
        specs.append(
            Spec(
                "policy_marketplace_subscribe",
                label,
                "",
                "Allows aws-marketplace:Subscribe on all resources.",
                {"statements": evidence(market.statements, label)},
                market.conditioned,
            )
        )
    return specs


def not_action_specs(grants: Grants, label: str) -> list[Spec]:
    """An Allow with NotAction on every resource grants every action of every service but the listed ones:
    reported by what it grants (Prowler and Cloudsplaining treat NotAction + Allow + '*' as overly permissive)."""
    stmts = [s for s in grants.allows if s.not_action and broad(s) and (s.not_resource or on_everything(s))]
    if not stmts:
        return []
    excluded = sorted({ds.display(p) if ":" in p and "*" not in p else p for s in stmts for p in s.actions})
    # Leaving IAM (or any permissions-management action) in reach is as good as administrator.
    admin_like = any(matches(s, "iam:putuserpolicy") or matches(s, "iam:attachrolepolicy") for s in stmts)
    return [
        Spec(
            "policy_service_wildcard",
            label,
            "notaction",
            f"Allows every action of every service except {', '.join(excluded[:8])}"
            + (f" (+{len(excluded) - 8} more)" if len(excluded) > 8 else "")
            + " (an Allow with NotAction on every resource)"
            + ("; IAM policy writes stay allowed, so it is as good as administrator." if admin_like else "."),
            {
                "not_action": excluded,
                "grants": "every action except the listed ones",
                "admin_like": admin_like,
                "statements": evidence(stmts, label),
            },
            all(bool(s.conditions) for s in stmts),
            "critical" if admin_like else "high",
            "Policy allows every action except a few (NotAction with Allow)",
        )
    ]
