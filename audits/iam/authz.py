"""The account's principals as evaluator subjects, and the questions the graph asks about them.

One Authz per audit. Subjects share their compiled identity tuples (principals holding the same policies hold the
same tuple object), so the evaluator's memo and our pattern index pay for each policy set once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from audits.iam import arns
from audits.iam import organization as org_tree
from audits.iam.account import ADMIN_POLICY_ARN, Account, Principal, default_document
from audits.iam.actions import expand_all
from audits.iam.conditions import Context
from audits.iam.evaluator import (
    ALLOWED,
    CONDITIONAL,
    DENIED,
    Decision,
    Evaluator,
    Subject,
    allowed_resource_patterns,
    compile_policy,
)
from audits.iam.finding_types import StatementRef

ADMIN_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def default_key_policy(account_id: str) -> dict:
    """The default key policy's statement that lets the account's IAM policies grant use of the key (AWS KMS
    Developer Guide, https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    statement = {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


@dataclass(frozen=True)
class Proof:
    """A conjunction of evaluator decisions: possible when all are, conditional on all their open conditions."""

    decisions: tuple[Decision | _Denied, ...]

    @property
    def verdict(self) -> str:
        if any(d.verdict == DENIED for d in self.decisions):
            return DENIED
        return CONDITIONAL if any(d.verdict == CONDITIONAL for d in self.decisions) else ALLOWED

    @property
    def possible(self) -> bool:
        return self.verdict != DENIED

    @property
    def conditions(self) -> tuple:
        return tuple(dict.fromkeys(c for d in self.decisions for c in d.conditions))

    @property
    def statements(self) -> list[StatementRef]:
        return unique_refs(r for d in self.decisions for r in d.allowing)

    def __add__(self, other: Proof) -> Proof:
        return Proof(self.decisions + other.decisions)


def unique_refs(refs: Iterable[StatementRef]) -> list[StatementRef]:
    out: list[StatementRef] = []
    seen: set[tuple[str | None, int | None]] = set()
    for ref in refs:
        key = (ref.get("policy"), ref.get("index"))
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out


def inline_source(p: Principal, name: str) -> str:
    """The label the evaluator carries for an inline policy. A user's or role's own inline policy is labelled
    "inline/<name>" inside the engine, so principals with equal policies share compiled statements and decisions;
    display_refs names the holder ("role/R:inline/<name>") when evidence is written."""
    return f"group/{p.name}:inline/{name}" if p.type == "group" else f"inline/{name}"


def display_refs(p: Principal | None, refs: Iterable[StatementRef]) -> list[StatementRef]:
    out: list[StatementRef] = []
    for ref in refs:
        policy = str(ref.get("policy", ""))
        if p is not None and policy.startswith("inline/"):
            ref = {**ref, "policy": f"{p.type}/{p.name}:{policy}"}
        out.append(ref)
    return out


def concrete(pattern: str) -> str:
    """An ARN a wildcard pattern matches, for actions whose resource the caller names (a new function, a stack)."""
    return pattern.replace("*", "aegis").replace("?", "a")


def is_service_linked(p: Principal) -> bool:
    return p.type == "role" and "/aws-service-role/" in p.arn


class Authz:
    def __init__(self, account: Account, account_id: str, now: datetime, organization: dict | None = None) -> None:
        self.account = account
        self.account_id = account_id
        self.now = now
        self.evaluator = Evaluator(now)
        self.memo = self.evaluator.compiled
        # The SCP levels (root, each OU, the account) every principal of a member account is limited by; none for
        # the management account, whose principals SCPs never limit (audits.iam.organization.control_levels).
        self.scps: tuple = tuple(
            tuple(s for label, doc in level for s in self.evaluator.compile(doc, label, kind="scp"))
            for level in org_tree.control_levels(organization, account_id, org_tree.SCP)
        )
        # The RCP levels on this account's resources (none in the management account); the evaluator applies them
        # to the services RCPs govern (evaluator.RCP_SERVICES).
        self.rcps: tuple = tuple(
            tuple(s for label, doc in level for s in self.evaluator.compile(doc, label, kind="rcp"))
            for level in org_tree.control_levels(organization, account_id, org_tree.RCP)
        )
        # Every principal of an account in the organization calls with its id as aws:PrincipalOrgID: a request
        # key of the account, the same for each principal (so decisions stay shared between principals).
        in_organization = organization is not None and bool(org_tree.path_to(organization, account_id))
        org_id = str((organization or {}).get("id") or "")
        self.request_keys: dict[str, str] = {"aws:principalorgid": org_id} if in_organization and org_id else {}
        self._compiled: dict[tuple, tuple] = {}
        self._by_content: dict[tuple, tuple] = {}
        self._keys: dict[str, tuple] = {}
        self._identity: dict[tuple, tuple] = {}
        # id(identity) -> every action its Allow statements name, expanded (None: "*" or NotAction, ask the evaluator)
        self._allows: dict[int, frozenset[str] | None] = {}
        self._action_sets: dict[frozenset, frozenset[str]] = {}  # Allows' Action lists -> the actions they name
        self._boundary: dict[str, tuple] = {}
        self._managed: dict[str, tuple] = {}  # policy ARN -> its default version's statements
        self._subjects: dict[str, Subject] = {}
        self._patterns: dict[tuple, list[tuple[str, bool]]] = {}
        self._contexts: dict[tuple, Context] = {}  # by the request's own keys
        self._admin: dict[tuple, Proof] = {}
        self._star: dict[int, bool] = {}
        self._alone: dict[int, Subject] = {}  # id(statements) -> a subject holding only them (kept alive here)
        self.admin_statements = compile_policy(ADMIN_DOC, ADMIN_POLICY_ARN, kind="identity", memo=self.memo)
        # The admin probe's key has the default key policy: "admin" means every key that lets IAM policies work.
        self.probe_key_policy = compile_policy(
            default_key_policy(account_id or "000000000000"), "default key policy", kind="resource", memo=self.memo
        )

    # --- subjects -----------------------------------------------------------------------------------------------

    def compile(self, doc: object, source: str, kind: str = "identity") -> tuple:
        # Documents live as long as the snapshot, so their id() names them without serialising each one again.
        key = (id(doc), source, kind)
        found = self._compiled.get(key)
        if found is None:
            # Equal documents (by the content key the account already computed once per document) share
            # statements, so principals with equal policies share identity tuples and decisions.
            content = (self.account.doc_key(doc), source, kind)
            found = self._by_content.get(content)
            if found is None:
                found = self._by_content[content] = compile_policy(
                    doc if isinstance(doc, dict) else None, source, kind=kind, parts=self.evaluator.parts
                )
            self._compiled[key] = found
        return found

    def managed(self, arn: str, doc: object = None) -> tuple:
        if doc is None:
            # The default version, asked for every holder of the policy: looked up once.
            found = self._managed.get(arn)
            if found is None:
                policy = self.account.policies.get(arn)
                doc = default_document(policy) if policy else (ADMIN_DOC if arn == ADMIN_POLICY_ARN else None)
                found = self._managed[arn] = self.compile(doc, arn)
            return found
        return self.compile(doc, arn)

    def holder_statements(self, holder: Principal) -> tuple:
        out: list = []
        for name, doc in holder.inline:
            out.extend(self.compile(doc, inline_source(holder, name)))
        for arn in holder.managed:
            out.extend(self.managed(arn))
        return tuple(out)

    def identity(self, p: Principal) -> tuple:
        key = self._keys.get(p.arn)
        if key is None:
            key = self._keys[p.arn] = self.account.permission_key(p)
        found = self._identity.get(key)
        if found is None:
            found = self.holder_statements(p)
            if p.type == "user":
                for group in self.account.member_groups(p):
                    found += self.holder_statements(group)
            self._identity[key] = found
            # Wildcards expanded against the dataset once, so "could any Allow match this action?" is a set
            # lookup; only then does the evaluator scan the statements.
            self._note_allows(found)
        return found

    def _note_allows(self, statements: tuple) -> None:
        allows = [s for s in statements if s.effect == "Allow"]
        star = any(s.not_action or "*" in s.actions or "*:*" in s.actions for s in allows)
        self._star[id(statements)] = star
        if star:
            self._allows[id(statements)] = None
            return
        # Identities differ by resources and conditions far more than by actions: one union per set of Action lists.
        key = frozenset(s.actions for s in allows)
        found = self._action_sets.get(key)
        if found is None:
            found = self._action_sets[key] = frozenset().union(*(expand_all(actions) for actions in key))
        self._allows[id(statements)] = found

    def boundary(self, p: Principal) -> tuple | None:
        if not p.boundary:
            return None
        found = self._boundary.get(p.boundary)
        if found is None:
            found = self._boundary[p.boundary] = self.compile(
                default_document(self.account.policies[p.boundary])
                if p.boundary in self.account.policies
                else ADMIN_DOC,
                p.boundary,
                "boundary",
            )
        return found

    def alone(self, statements: tuple) -> Subject:
        """A principal of this account holding only these statements (one policy "on its own"): no boundary, no
        SCP. Cached by the statements tuple, so the pattern index and the evaluator's memo pay once per policy."""
        key = id(statements)
        found = self._alone.get(key)
        if found is None or found.identity is not statements:
            account = self.account_id or "000000000000"
            found = self._alone[key] = Subject(
                arn=f"arn:aws:iam::{account}:role/aegis-policy-alone",
                account=account,
                type="role",
                name="aegis-policy-alone",
                identity=statements,
            )
            self._note_allows(statements)
        return found

    def subject(
        self, p: Principal, *, identity: tuple | None = None, boundary: tuple | Literal["same"] | None = "same"
    ) -> Subject:
        """The principal as the evaluator sees it; identity/boundary overrides ask "what if" questions."""
        if identity is None and boundary == "same":
            found = self._subjects.get(p.arn)
            if found is not None:
                return found
        tags = (
            {
                str(t.get("Key")): str(t.get("Value", ""))
                for t in p.entry.get("Tags") or ()
                if isinstance(t, dict) and "Key" in t
            }
            if isinstance(p.entry.get("Tags"), list)
            else {}
        )
        userid = p.entry.get("UserId") or p.entry.get("RoleId") or ""
        subject = Subject(
            arn=p.arn,
            # The principal's own account, from its ARN: in a snapshot mixing accounts' principals a user of
            # account B is not in account A, and a request from it to A's resources crosses accounts.
            account=arns.account_of(p.arn) or self.account_id,
            type=p.type,
            name=p.name,
            tags=tags,
            userid=str(userid) if isinstance(userid, str) else "",
            identity=self.identity(p) if identity is None else identity,
            boundary=self.boundary(p) if boundary == "same" else boundary,
            # Service-linked roles are outside SCPs and RCPs (AWS Organizations, "Tasks and entities not
            # restricted by SCPs" and the RCP counterpart).
            scps=() if is_service_linked(p) else self.scps,
            rcps=() if is_service_linked(p) else self.rcps,
        )
        if identity is None and boundary == "same":
            self._subjects[p.arn] = subject
        return subject

    # --- questions ----------------------------------------------------------------------------------------------

    def context(self, subject: Subject, extra: dict[str, str] | None = None) -> Context:
        """The request's own keys (the audit's time, iam:PassedToService, ...). The principal's keys are not
        copied in: the evaluator derives them from the subject when a statement reads one, so one context
        serves every principal asking the same question."""
        key = tuple(sorted((extra or {}).items()))
        found = self._contexts.get(key)
        if found is None:
            found = self._contexts[key] = Context({**self.request_keys, **(extra or {})}, self.now)
        return found

    def decide(
        self,
        subject: Subject,
        action: str,
        resource: str,
        extra: dict[str, str] | None = None,
        resource_policy: tuple | None = None,
    ) -> Decision:
        return self.evaluator.evaluate(
            subject,
            action,
            resource,
            self.context(subject, extra),
            resource_policy,
            # The resource's account from its ARN where it names one (a role of account B is B's resource); an S3
            # bucket's ARN names none, so it is the snapshot's account.
            (arns.account_of(resource) or self.account_id) if resource_policy is not None else None,
        )

    def patterns(self, subject: Subject, action: str) -> list[tuple[str, bool]]:
        """Resource patterns of identity statements that could allow the action (cached per policy set)."""
        key = (id(subject.identity), id(subject.boundary), action)
        found = self._patterns.get(key)
        if found is None:
            allows = self._allows.get(id(subject.identity))
            found = [] if allows is not None and action not in allows else _patterns(subject, action)
            self._patterns[key] = found
        return found

    def can_create(self, subject: Subject, action: str, extra: dict[str, str] | None = None) -> Decision | None:
        """Can the subject do `action` on some resource of its choosing (a new function, instance, stack)?

        Tries "*" and then one concrete ARN per allowing pattern; the first possible decision wins."""
        tried: set[str] = set()
        best: Decision | None = None
        service = action.partition(":")[0]
        # "*" asks about every resource (a Deny on any one counts); a made-up ARN of the service stands for a new
        # resource the principal names, outside any Deny aimed at existing ones.
        fresh = f"arn:aws:{service}:us-east-1:{self.account_id or '000000000000'}:aegis-new/aegis-new"
        for pattern, negated in [("*", False), *self.patterns(subject, action), (fresh, False)]:
            resource = "*" if (negated or pattern == "*") else concrete(pattern)
            if resource in tried:
                continue
            tried.add(resource)
            decision = self.decide(subject, action, resource, extra)
            if decision.verdict == ALLOWED:
                return decision
            if decision.verdict == CONDITIONAL and best is None:
                best = decision
        return best

    def may(self, subject: Subject, actions: frozenset[str]) -> bool:
        """Could any Allow of the subject's policies match one of these actions? (set lookups, no evaluation)"""
        allows = self._known_allows(subject)
        return True if allows is None else not allows.isdisjoint(actions)

    def interesting(self, subject: Subject, actions: frozenset[str]) -> frozenset[str]:
        allows = self._known_allows(subject)
        return actions if allows is None else allows & actions

    def _known_allows(self, subject: Subject) -> frozenset[str] | None:
        # identity_known and the lookup in one step: the graph asks this of every policy set for every action.
        key = id(subject.identity)
        try:
            return self._allows[key]
        except KeyError:
            self._allows[key] = None  # a "what if" identity: ask the evaluator
            return None

    def identity_known(self, subject: Subject) -> None:
        if id(subject.identity) not in self._allows:
            self._allows[id(subject.identity)] = None  # a "what if" identity: ask the evaluator

    def never_allowed(self, subject: Subject, action: str, extra: dict[str, str] | None = None) -> bool:
        """No identity or boundary Allow for the action holds with these request keys, whatever the resource."""
        return self.evaluator.never_allowed(subject, action, self.context(subject, extra))

    def denied_everywhere(self, subject: Subject, action: str) -> bool:
        """An unconditional Deny on Resource "*" takes the action away on every resource: no need to ask each."""
        probe = self.decide(subject, action, f"arn:aws:iam::{self.account_id or '000000000000'}:role/aegis-probe")
        return probe.verdict == DENIED and any(_covers_everything(ref) for ref in probe.denying)

    def can_act_on(
        self, subject: Subject, action: str, resource: str, extra: dict[str, str] | None = None
    ) -> Decision | None:
        """The decision for one concrete resource, or None when denied (cheap when no statement could allow)."""
        if not self.patterns(subject, action):
            return None
        decision = self.decide(subject, action, resource, extra)
        return decision if decision.possible else None

    def admin(self, subject: Subject) -> Proof:
        """PMapper's admin: every action on every resource. Probed with "*" and sentinel actions on concrete
        resources, so a Deny scoped to users, roles or buckets (or a boundary) takes it away."""
        key = (subject.arn, id(subject.identity), id(subject.boundary))
        found = self._admin.get(key)
        if found is None:
            found = self._admin[key] = self._admin_proof(subject)
        return found

    def _admin_proof(self, subject: Subject) -> Proof:
        star = self._star.get(id(subject.identity))
        if star is None:
            star = self._star[id(subject.identity)] = any(_grants_everything(s) for s in subject.identity)
        if not star:
            return Proof((_DENIED,))
        a = self.account_id or "000000000000"
        probes = (
            ("iam:putuserpolicy", f"arn:aws:iam::{a}:user/aegis-probe"),
            ("iam:attachrolepolicy", f"arn:aws:iam::{a}:role/aegis-probe"),
            ("iam:createpolicyversion", f"arn:aws:iam::{a}:policy/aegis-probe"),
            ("iam:passrole", f"arn:aws:iam::{a}:role/aegis-probe"),
            ("sts:assumerole", f"arn:aws:iam::{a}:role/aegis-probe"),
            ("iam:createuser", f"arn:aws:iam::{a}:user/aegis-probe"),
            ("s3:getobject", "arn:aws:s3:::aegis-probe/object"),
            ("ec2:runinstances", f"arn:aws:ec2:us-east-1:{a}:instance/i-0aegis"),
            ("kms:decrypt", f"arn:aws:kms:us-east-1:{a}:key/aegis-probe"),
            ("secretsmanager:getsecretvalue", f"arn:aws:secretsmanager:us-east-1:{a}:secret:aegis-probe"),
            ("organizations:leaveorganization", "*"),
            ("ec2:describeinstances", "*"),
        )
        decisions = []
        for action, resource in probes:
            key_policy = self.probe_key_policy if action.startswith("kms:") else None
            decision = self.decide(subject, action, resource, resource_policy=key_policy)
            if not decision.possible:
                return Proof((decision,))
            decisions.append(decision)
        return Proof(tuple(decisions))

    def admin_if_granted(self, p: Principal) -> Proof:
        """Would the principal be admin if it gave itself AdministratorAccess (its boundary still applies)?"""
        return self.admin(self.subject(p, identity=self.identity(p) + self.admin_statements))


def _patterns(subject: Subject, action: str) -> list[tuple[str, bool]]:
    """allowed_resource_patterns without its per-call context: the evaluator's own function is asked only when a
    Resource uses a policy variable, which needs the principal's keys."""
    out: dict[tuple[str, bool], None] = {}
    for stmt in subject.identity:
        if stmt.effect != "Allow" or not stmt.matches_action(action):
            continue
        if not stmt.resources:
            out[("*", stmt.not_resource)] = None
        for r in stmt.resources:
            if r.template is not None:
                return allowed_resource_patterns(subject, action)
            out[(r.text, stmt.not_resource)] = None
    return list(out)


def _covers_everything(ref: StatementRef) -> bool:
    found = ref.get("statement")
    statement: dict = found if isinstance(found, dict) else {}
    resources = statement.get("Resource")
    resources = resources if isinstance(resources, list) else [resources]
    return "Condition" not in statement and "NotResource" not in statement and "*" in resources


def _grants_everything(statement) -> bool:
    raw = statement.raw if isinstance(getattr(statement, "raw", None), dict) else {}
    if statement.effect != "Allow":
        return False
    if "NotAction" in raw and "Action" not in raw:
        return True  # "everything but ...": the probes decide
    actions = raw.get("Action")
    actions = actions if isinstance(actions, list) else [actions]
    return any(str(a).strip() in ("*", "*:*") for a in actions)


class _Denied:
    verdict = DENIED
    conditions: tuple = ()
    allowing: tuple[StatementRef, ...] = ()
    denying: tuple[StatementRef, ...] = ()
    possible = False
    allowed = False


_DENIED = _Denied()


def matches(pattern: str, arn: str) -> bool:
    return arns.matches(pattern, arn)
