"""Paths across the accounts of an organization, hop by hop, and from outside the organization into it.

Each account's own audit finds who becomes administrator inside it. This joins the accounts: a role in account A
whose trust names account B (or a principal of B) is an edge from every principal of B that the evaluator lets
assume it, both sides asked (B's identity policies, boundaries and SCPs; A's trust policy with its conditions,
cross-account rules applied); a bucket, key or secret of account C whose policy lets a principal of D read it is
a data edge. An administrator of an account (or a principal that escalates to one) controls every principal of
it, so its account's outgoing edges are its own too, as PMapper's cross-account edges treat it.

Accounts are read one at a time, twice (the survey of trusts, resources and in-account paths, then the edges
from each account), so an organization of large accounts never sits in memory at once. Plain Python: the caller
gives `load(account_id) -> AccountSnapshot`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from audits.iam import arns, external_access, trust
from audits.iam import organization as org_tree
from audits.iam.account import Account
from audits.iam.authz import Authz
from audits.iam.checks import make_finding
from audits.iam.conditions import Context
from audits.iam.evaluator import Decision, Evaluator, Subject
from audits.iam.finding_types import Finding, StatementRef
from audits.iam.graph import Graph

ASSUME = "sts:assumerole"
# What reading the data means per resource type (external_access lists the wider set of sensitive actions).
DATA_ACTIONS = {
    "s3:bucket": ("s3:GetObject",),
    "secretsmanager:secret": ("secretsmanager:GetSecretValue",),
    "kms:key": ("kms:Decrypt",),
    "sqs:queue": ("sqs:ReceiveMessage",),
}
OUTSIDE = "outside the organization"
MAX_FINDINGS_PER_PRINCIPAL = 20


@dataclass(frozen=True)
class Hop:
    source: str  # a principal ARN, or "account X (outside the organization)"
    target: str  # a principal or resource ARN
    account: str  # the target's account
    method: str
    how: str
    conditions: tuple[dict, ...] = ()
    statements: tuple[StatementRef, ...] = ()

    @classmethod
    def decided(cls, source: str, target: str, account: str, method: str, how: str, decision: Decision) -> Hop:
        """A hop the evaluator allowed, with the conditions left open and the statements that allow it."""
        conditions = tuple(c.to_dict() for c in decision.conditions)
        return cls(source, target, account, method, how, conditions, tuple(decision.allowing[:3]))

    def to_dict(self) -> dict:
        return {
            "from": self.source,
            "to": self.target,
            "account": self.account,
            "method": self.method,
            "how": self.how,
            "conditions": list(self.conditions),
            "statements": list(self.statements[:3]),
        }


@dataclass
class _Survey:
    """What one account contributes to the join, kept after its snapshot is dropped."""

    account: str
    admin_paths: dict[str, tuple[Hop, ...]] = field(default_factory=dict)  # principal -> hops to admin (() = is)
    # role -> (trust document, the other accounts it names, "*" for anyone)
    trusts: dict[str, tuple[dict, frozenset[str]]] = field(default_factory=dict)
    resources: list[dict] = field(default_factory=list)
    outgoing: list[Hop] = field(default_factory=list)  # the account's edges into the others (pass 2)


def analyse_organization(
    account_ids: Iterable[str],
    load: Callable[[str], object | None],
    organization: dict | None,
    now: datetime,
) -> list[Finding]:
    """Findings (make_finding dicts) on the principals that gain another account's administrator or data, and on
    the roles through which an account outside the organization does."""
    ids = list(dict.fromkeys(account_ids))
    members = {a["id"] for a in org_tree.accounts(organization)} if organization else set()
    members |= set(ids)
    surveys = {s.account: s for a in ids if (s := _survey(a, load, organization, now)) is not None}
    edges: dict[str, list[Hop]] = {}  # source principal -> cross-account hops from it
    for account, survey in surveys.items():
        for hop in _edges_from(account, load, organization, now, surveys):
            edges.setdefault(hop.source, []).append(hop)
            survey.outgoing.append(hop)
    entries = list(_entries_from_outside(surveys, members, organization, now))
    findings: list[Finding] = []
    # Every principal with an edge out, and every administrator (or escalator) of an account with one: it can act
    # as any principal there.
    sources = set(edges)
    sources |= {p for survey in surveys.values() if survey.outgoing for p in survey.admin_paths}
    for start in sorted(sources):
        findings.extend(_principal_findings(start, edges, surveys))
    for entry in entries:
        findings.extend(_outside_findings(entry, edges, surveys))
    return findings


# --- pass 1: per account, what others may reach -----------------------------------------------------------------


def _survey(account_id: str, load, organization, now) -> _Survey | None:
    snapshot = load(account_id)
    if snapshot is None:
        return None
    account = Account(snapshot)
    authz = Authz(account, account_id, now, organization)
    graph = Graph(account, authz)
    out = _Survey(account_id)
    for arn, esc in graph.escalations.items():
        out.admin_paths[arn] = tuple(
            Hop(
                e.source,
                e.target,
                account_id,
                e.method,
                e.how,
                tuple(c.to_dict() for c in e.conditions),
                tuple(e.proof.statements[:3]),
            )
            for e in esc.path
        )
    for role in account.roles:
        if role.service_linked:
            continue
        named = trust.trusted(role.entry)
        accounts = frozenset(
            "*" if t.kind == "any" else t.account or arns.account_of(t.value) for t in named if t.kind in ("aws", "any")
        ) - {account_id, ""}
        if accounts:
            out.trusts[role.arn] = (role.entry["AssumeRolePolicyDocument"], accounts)
    for resource in getattr(snapshot, "resources", None) or ():
        if isinstance(resource, dict) and resource.get("policy") and resource.get("type") in DATA_ACTIONS:
            out.resources.append(resource)
    return out


# --- pass 2: per account, its principals' edges into the others -------------------------------------------------


def _edges_from(account_id: str, load, organization, now, surveys: dict[str, _Survey]) -> Iterable[Hop]:
    roles = [
        (arn, other.account, doc)
        for other in surveys.values()
        if other.account != account_id
        for arn, (doc, accounts) in other.trusts.items()
        if account_id in accounts or "*" in accounts
    ]
    resources = [
        (r, other.account) for other in surveys.values() if other.account != account_id for r in other.resources
    ]
    if not roles and not resources:
        return
    snapshot = load(account_id)
    if snapshot is None:
        return
    account = Account(snapshot)
    authz = Authz(account, account_id, now, organization)
    evaluator = authz.evaluator
    principals = [p for p in (*account.users, *account.roles) if not p.service_linked]
    rcps: dict[str, tuple] = {}
    subjects: dict[tuple[str, str], Subject] = {}
    # A principal of a member account calls with its organization's id (aws:PrincipalOrgID): authz.context adds it.

    def subject_into(p, target_account: str) -> Subject:
        """The principal as the target account sees it: its RCPs (on STS, S3, KMS, SQS, Secrets Manager) apply."""
        key = (p.arn, target_account)
        found = subjects.get(key)
        if found is None:
            if target_account not in rcps:
                rcps[target_account] = external_access._levels(evaluator, organization, target_account, org_tree.RCP)
            found = subjects[key] = dataclasses.replace(authz.subject(p), rcps=rcps[target_account])
        return found

    for arn, target_account, doc in roles:
        statements = evaluator.compile(doc, f"trust policy of {arn}", kind="trust")
        for p in principals:
            # No identity statement could allow sts:AssumeRole at all: nothing to ask (cross-account needs one).
            if not authz.patterns(authz.subject(p), ASSUME):
                continue
            subject = subject_into(p, target_account)
            decision = evaluator.evaluate(subject, ASSUME, arn, authz.context(subject), statements, target_account)
            if decision.possible:
                how = f"assume role {arn.rsplit('/', 1)[-1]} in account {target_account}"
                yield Hop.decided(p.arn, arn, target_account, "AssumeRole", how, decision)
    for resource, owner in resources:
        statements = evaluator.compile(resource["policy"], f"{resource['type']} {resource['name']}", kind="resource")
        for action in DATA_ACTIONS[resource["type"]]:
            targets = external_access._targets(resource, action, resource["policy"])
            for p in principals:
                if not authz.patterns(authz.subject(p), action.lower()):
                    continue
                subject = subject_into(p, owner)
                for target in targets:
                    decision = evaluator.evaluate(subject, action, target, authz.context(subject), statements, owner)
                    if decision.possible:
                        how = f"{action} on {resource['type'].split(':')[1]} {resource['name']} in account {owner}"
                        yield Hop.decided(p.arn, resource["arn"], owner, "ReadData", how, decision)
                        break


def _entries_from_outside(surveys, members: set[str], organization, now) -> Iterable[Hop]:
    """Hops from an account outside the organization (or anyone) into a role whose trust lets it in."""
    evaluator = Evaluator(now=now)
    org_id = (organization or {}).get("id") or ""
    for survey in surveys.values():
        rcps = external_access._levels(evaluator, organization, survey.account, org_tree.RCP)
        for arn, (doc, accounts) in survey.trusts.items():
            outsiders = sorted(a for a in accounts if a != "*" and a not in members) + (
                ["*"] if "*" in accounts else []
            )
            statements = evaluator.compile(doc, f"trust policy of {arn}", kind="trust")
            for outsider in outsiders:
                who = external_access.OUTSIDE_ACCOUNT if outsider == "*" else outsider
                subject = Subject(
                    arn=f"arn:aws:iam::{who}:role/outsider",
                    account=who,
                    type="role",
                    identity=external_access._ALLOW_ALL,
                    rcps=rcps,
                )
                keys: dict = {"aws:principalorgid": [external_access.OUTSIDE_ORG]} if org_id else {}
                context = Context.for_subject(subject, now, **keys)
                decision = evaluator.evaluate(subject, ASSUME, arn, context, statements, survey.account)
                if decision.possible:
                    label = "any AWS account" if outsider == "*" else f"account {outsider}"
                    how = f"assume role {arn.rsplit('/', 1)[-1]} in account {survey.account}"
                    yield Hop.decided(f"{label} ({OUTSIDE})", arn, survey.account, "AssumeRole", how, decision)


# --- the search -----------------------------------------------------------------------------------------------------


def _reach(start: str, first: list[Hop], edges: dict[str, list[Hop]], surveys: dict[str, _Survey]) -> dict:
    """Breadth first from `start` (or from its first hops): for every account and resource reached, the shortest
    path. Reaching a principal that is (or becomes) administrator of its account gives every principal's edges of
    that account."""
    home = arns.account_of(start)
    found_admin: dict[str, tuple[Hop, ...]] = {}
    found_data: dict[str, tuple[Hop, ...]] = {}
    controlled: set[str] = set()
    seen: set[str] = set()
    queue: deque[tuple[str, tuple[Hop, ...]]] = deque((hop.target, (hop,)) for hop in first)
    if not first:
        queue.append((start, ()))
    while queue:
        node, path = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        account = arns.account_of(node)
        survey = surveys.get(account)
        if survey is None:
            continue
        inside = survey.admin_paths.get(node)
        outgoing = list(edges.get(node, ()))
        if inside is not None and account not in controlled:
            controlled.add(account)
            full = path + inside
            if account != home:
                found_admin.setdefault(account, full)
            # An administrator of the account acts as any of its principals: their edges are its own.
            outgoing.extend(h for h in survey.outgoing if h.source != node)
            path = full
        for hop in outgoing:
            step = hop if hop.source == node else _via_admin(node, hop)
            if hop.method == "ReadData":
                if hop.account != home:
                    found_data.setdefault(hop.target, (*path, step))
                continue
            if hop.target not in seen:
                queue.append((hop.target, (*path, step)))
    return {"admin": found_admin, "data": found_data}


def _via_admin(node: str, hop: Hop) -> Hop:
    """A hop taken as an administrator of the source's account (through `node`)."""
    return dataclasses.replace(
        hop,
        how=f"{hop.how} (as {hop.source.rsplit('/', 1)[-1]}, which an administrator of account "
        f"{arns.account_of(hop.source)} controls)",
    )


def _chain(start: str, path: tuple[Hop, ...]) -> str:
    parts = [_short(start)]
    for hop in path:
        parts.append(f"-[{hop.method}]-> {_short(hop.target)}")
    return " ".join(parts)


def _short(arn: str) -> str:
    if not arn.startswith("arn:"):
        return arn
    parts = arn.split(":")
    return f"{parts[5]} ({parts[4] or 'S3'})" if len(parts) > 5 else arn


def _evidence(path: tuple[Hop, ...], target_account: str, kind: str) -> dict:
    conditions = [c for h in path for c in h.conditions]
    return {
        "path": [h.to_dict() for h in path],
        "hops": len(path),
        "accounts": list(dict.fromkeys(h.account for h in path)),
        "target_account": target_account,
        "target_kind": kind,
        "method": " -> ".join(dict.fromkeys(h.method for h in path)),
        "statements": [s for h in path for s in h.statements][:10],
        "conditions": conditions[:10],
    }


def finding_account(principal_arn: str, evidence: dict) -> str:
    """The account a cross-account finding sits on, its principal's (always a member's): where a reviewer's
    accepted risk of it is kept, so later organization audits of the same owner leave it out."""
    return arns.account_of(principal_arn) or str(evidence.get("target_account") or "")


def _principal_ref(arn: str) -> dict:
    kind = "role" if ":role/" in arn else "user" if ":user/" in arn else "principal"
    return {"type": kind, "name": arn.rsplit("/", 1)[-1], "arn": arn}


def _finding(check: str, principal: str, discriminator: str, detail: str, evidence: dict) -> Finding:
    return make_finding(
        check,
        _principal_ref(principal),
        discriminator=discriminator,
        detail=detail,
        evidence=evidence,
        conditioned=bool(evidence["conditions"]),
    )


def _principal_findings(start: str, edges: dict[str, list[Hop]], surveys: dict[str, _Survey]) -> list[Finding]:
    reached = _reach(start, [], edges, surveys)
    out = [
        _finding(
            "cross_account_admin_path",
            start,
            account,
            f"Can become administrator of account {account} in {len(path)} hop(s): {_chain(start, path)}.",
            _evidence(path, account, "admin"),
        )
        for account, path in sorted(reached["admin"].items())[:MAX_FINDINGS_PER_PRINCIPAL]
    ]
    out += [
        _finding(
            "cross_account_data_access",
            start,
            resource,
            f"Can read {resource} in account {path[-1].account}: {_chain(start, path)}.",
            {**_evidence(path, path[-1].account, "data"), "resource": resource},
        )
        for resource, path in sorted(reached["data"].items())[:MAX_FINDINGS_PER_PRINCIPAL]
    ]
    return out


def _outside_findings(entry: Hop, edges: dict[str, list[Hop]], surveys: dict[str, _Survey]) -> list[Finding]:
    """On the entry role: what an outsider reaches through it (its own account's admin counts here)."""
    reached = _reach(entry.source, [entry], edges, surveys)
    return [
        _finding(
            "external_admin_path",
            entry.target,
            f"{entry.source}|{account}",
            f"From {entry.source}, administrator of account {account} in {len(path)} hop(s): "
            f"{_chain(entry.source, path)}.",
            {**_evidence(path, account, "admin"), "entry": entry.source},
        )
        for account, path in sorted(reached["admin"].items())[:MAX_FINDINGS_PER_PRINCIPAL]
    ]
