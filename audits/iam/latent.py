"""Latent escalation: methods a principal holds that no resource of the account completes today.

A method is latent only where the grant's Resource pattern would also cover a resource created later (a wildcard,
a NotResource): a hypothetical target matching it is asked to the evaluator (can the principal pass a new role that
trusts the service? rewrite a new role's trust? create a key for a new user?). A grant scoped to named resources,
or one a Deny, boundary or condition takes away, is never latent.
"""

from __future__ import annotations

from dataclasses import dataclass

from audits.iam.account import Principal, is_aws_managed
from audits.iam.authz import Proof, concrete, matches
from audits.iam.edges import iam

PASS = "iam:passrole"
# IAM's own methods on a principal that could be created later: the method, the kind of target, what completes it.
TAKEOVERS = (
    (iam.TRUST_REWRITE, "role", "any role{cover} with more rights than this {kind}"),
    (iam.CREATE_ACCESS_KEY, "user", "any user{cover} with more rights than this {kind}"),
    (
        iam.CREATE_LOGIN_PROFILE,
        "user",
        "any user{cover} with more rights than this {kind} and no console password",
    ),
    (iam.CREATE_POLICY_VERSION, "policy", "any customer-managed policy{cover} attached to a principal"),
    (
        iam.SET_DEFAULT_VERSION,
        "policy",
        "any customer-managed policy{cover} held by a principal, with a stored version granting more rights",
    ),
    (iam.ADD_USER_TO_GROUP, "group", "any group{cover} whose policies grant more rights than this {kind} has"),
)


ACTIONS = frozenset({PASS, *(m.requires[0][0] for m, _, _ in TAKEOVERS)})


@dataclass(frozen=True)
class Latent:
    method: str
    how: str
    actions: tuple[str, ...]
    completes: str  # what would complete the method, in words
    pattern: str  # the Resource pattern that covers resources created later
    proof: Proof


def latent_methods(g, p: Principal) -> list[Latent]:
    """Found once per policy set and audit: principals holding the same policies (none reading a principal key)
    share the answer, and one that could allow none of the methods' actions is answered by a set lookup."""
    subject = g.subject(p)
    if not g.authz.may(subject, ACTIONS):
        return []
    cache = g.__dict__.setdefault("latent_cache", {})
    dependent = cache.get(("dependent", id(subject.identity)))
    if dependent is None:
        dependent = cache[("dependent", id(subject.identity))] = any(s.subject_dependent for s in subject.identity)
    key = (id(subject.identity), id(subject.boundary), p.arn if dependent else p.type)
    found = cache.get(key)
    if found is None:
        found = cache[key] = _latent_methods(g, p)
        cache[("kept", key)] = subject  # keeps the ids in the key alive while cached
    return found


def _latent_methods(g, p: Principal) -> list[Latent]:
    from audits.iam.edges.catalog import FAMILIES

    subject = g.subject(p)
    out: list[Latent] = []
    pass_patterns = _open_patterns(g, subject, PASS)
    if pass_patterns:
        methods = [m for f in FAMILIES for m in getattr(f, "PASS_METHODS", ())]
        # One set lookup says which methods' first actions its policies could allow at all.
        held = g.authz.interesting(subject, frozenset(a for m in methods for a in m.requires[0]))
        covered: dict[str, tuple | None] = {}  # service -> (pattern, decision) for a new role trusting it
        for method in methods:
            if held.isdisjoint(method.requires[0]):
                continue
            run = g.requirements(p, method.requires)
            if run is None:
                continue
            if method.service not in covered:
                to_service = {"iam:passedtoservice": method.service}
                covered[method.service] = _covered(g, subject, PASS, "role", pass_patterns, to_service)
            found = covered[method.service]
            if found is None:
                continue
            pattern, decision = found
            completes = f"any role{_cover(pattern)} that trusts {method.service} and has more rights than this {p.type}"
            out.append(
                Latent(method.name, method.how, (PASS, *run[1]), completes, pattern, Proof((decision,)) + run[0])
            )
    for method, kind, completes in TAKEOVERS:
        action, name, how = method.requires[0][0], method.name, method.how
        if kind == "group" and p.type != "user":
            continue
        patterns = _open_patterns(g, subject, action)
        found = _covered(g, subject, action, kind, patterns) if patterns else None
        if found is not None:
            pattern, decision = found
            text = completes.format(cover=_cover(pattern), kind=p.type)
            out.append(Latent(name, how, (action,), text, pattern, Proof((decision,))))
    return out


def _open_patterns(g, subject, action: str) -> list[tuple[str, bool]]:
    """Allowed Resource patterns that would match resources created later (wildcards, NotResource)."""
    return [
        (pattern, negated)
        for pattern, negated in g.authz.patterns(subject, action)
        if negated or (("*" in pattern or "?" in pattern) and "${" not in pattern)
    ]


def _covered(g, subject, action: str, kind: str, patterns, extra: dict[str, str] | None = None):
    """The first pattern under which a new resource of `kind` would be allowed: (pattern, decision) or None."""
    fresh = f"arn:aws:iam::{g.account_id or '000000000000'}:{kind}/aegis-new-{kind}"
    for pattern, negated in patterns:
        if negated:
            arn = fresh
        elif f":{kind}/" in pattern:
            arn = concrete(pattern)
        elif matches(pattern, fresh):
            arn = fresh
        else:
            continue
        if is_aws_managed(arn):
            continue  # IAM refuses to change AWS-managed policies (UnmodifiableEntity)
        decision = g.authz.can_act_on(subject, action, arn, extra)
        if decision is not None:
            return ("*" if negated else pattern), decision
    return None


def _cover(pattern: str) -> str:
    return "" if pattern == "*" else f" matching {pattern}"
