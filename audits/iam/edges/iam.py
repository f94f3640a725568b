"""IAM's own methods: credentials of other users, trust rewrites, policies on oneself, one's groups and policies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from audits.iam.account import ADMIN_POLICY_ARN, Principal, default_document, dicts_of, is_aws_managed
from audits.iam.authz import Proof, concrete, inline_source
from audits.iam.edges import AWS_BOUNDARIES, IAM_VULNERABLE, PMAPPER, RHINO, Edge, Method, req

# Gaining a user's rights through its credentials, or a role's by rewriting its trust.
CREATE_ACCESS_KEY = Method(
    "CreateAccessKey", "create an access key for another user and sign in as it", req("iam:createaccesskey"), docs=RHINO
)
CREATE_LOGIN_PROFILE = Method(
    "CreateLoginProfile", "set a console password for a user that has none", req("iam:createloginprofile"), docs=RHINO
)
UPDATE_LOGIN_PROFILE = Method(
    "UpdateLoginProfile", "change the user's console password", req("iam:updateloginprofile"), docs=RHINO
)
DELETE_ACCESS_KEY = "iam:deleteaccesskey"  # asked too when the user already holds two keys (as PMapper does)
USER_TAKEOVER = (CREATE_ACCESS_KEY, CREATE_LOGIN_PROFILE, UPDATE_LOGIN_PROFILE)
TRUST_REWRITE = Method(
    "UpdateRolePolicyToAssumeIt",
    "rewrite a role's trust policy to trust oneself, then assume it",
    req("iam:updateassumerolepolicy"),
    docs=RHINO,
)


def _self(name: str, how: str, *requirements: str | tuple[str, ...], docs: str = RHINO) -> Method:
    return Method(name, how, req(*requirements), kind="self", docs=docs)


# Changes to oneself (and, for the policy writes, to another principal one can become).
PUT_USER_POLICY = _self("PutUserPolicy", "write an inline admin policy on oneself", "iam:putuserpolicy")
ATTACH_USER_POLICY = _self("AttachUserPolicy", "attach AdministratorAccess to oneself", "iam:attachuserpolicy")
PUT_ROLE_POLICY = _self("PutRolePolicy", "write an inline admin policy on oneself", "iam:putrolepolicy")
ATTACH_ROLE_POLICY = _self("AttachRolePolicy", "attach AdministratorAccess to oneself", "iam:attachrolepolicy")
PUT_GROUP_POLICY = _self("PutGroupPolicy", "write an inline admin policy on one's group", "iam:putgrouppolicy")
ATTACH_GROUP_POLICY = _self("AttachGroupPolicy", "attach AdministratorAccess to one's group", "iam:attachgrouppolicy")
CREATE_POLICY_VERSION = _self(
    "CreateNewPolicyVersion", "write a new default version of a customer-managed policy", "iam:createpolicyversion"
)
SET_DEFAULT_VERSION = _self(
    "SetExistingDefaultPolicyVersion",
    "make an older version of a customer-managed policy the default again",
    "iam:setdefaultpolicyversion",
)
DELETE_BOUNDARY = _self(
    "DeletePermissionsBoundary",
    "remove the permissions boundary that limits oneself",
    ("iam:deleteuserpermissionsboundary", "iam:deleterolepermissionsboundary"),
    docs=AWS_BOUNDARIES,
)
PUT_BOUNDARY = _self(
    "PutPermissionsBoundary",
    "replace one's permissions boundary with AdministratorAccess",
    ("iam:putuserpermissionsboundary", "iam:putrolepermissionsboundary"),
    docs=AWS_BOUNDARIES,
)
ADD_USER_TO_GROUP = _self("AddUserToGroup", "add oneself to a more privileged group", "iam:addusertogroup")
CREATE_ROLE = _self(
    "CreateRoleThenAttachAndAssume",
    "create a role trusting oneself, make it admin and assume it",
    "iam:createrole",
    ("iam:attachrolepolicy", "iam:putrolepolicy"),
    docs=PMAPPER,
)
CREATE_USER = _self(
    "CreateUserThenAttachAndCreateAccessKey",
    "create a user, make it admin and create its access key",
    "iam:createuser",
    ("iam:attachuserpolicy", "iam:putuserpolicy"),
    "iam:createaccesskey",
    docs=IAM_VULNERABLE,
)
METHODS = (
    *USER_TAKEOVER,
    TRUST_REWRITE,
    PUT_USER_POLICY,
    ATTACH_USER_POLICY,
    PUT_ROLE_POLICY,
    ATTACH_ROLE_POLICY,
    PUT_GROUP_POLICY,
    ATTACH_GROUP_POLICY,
    CREATE_POLICY_VERSION,
    SET_DEFAULT_VERSION,
    DELETE_BOUNDARY,
    PUT_BOUNDARY,
    ADD_USER_TO_GROUP,
    CREATE_ROLE,
    CREATE_USER,
)
ADMIN = {"iam:policyarn": ADMIN_POLICY_ARN}
# The policy writes on a user, role or group, each with the request keys that make the new grant administrator.
POLICY_WRITES = {
    "user": ((PUT_USER_POLICY, None), (ATTACH_USER_POLICY, ADMIN)),
    "role": ((PUT_ROLE_POLICY, None), (ATTACH_ROLE_POLICY, ADMIN)),
    "group": ((PUT_GROUP_POLICY, None), (ATTACH_GROUP_POLICY, ADMIN)),
}


def candidates(g, target: Principal) -> Iterable[Principal]:
    if target.type == "user":
        for method in USER_TAKEOVER:
            yield from g.candidates(method.requires[0][0], target.arn)
    else:
        yield from g.candidates(TRUST_REWRITE.requires[0][0], target.arn)


def edge(g, source: Principal, target: Principal) -> Edge | None:
    subject = g.subject(source)
    if target.type == "role":
        name, how, action = TRUST_REWRITE.name, TRUST_REWRITE.how, TRUST_REWRITE.requires[0][0]
        decision = g.authz.can_act_on(subject, action, target.arn)
        return Edge(source.arn, target.arn, name, how, Proof((decision,)), target.arn, (action,)) if decision else None
    profile = g.login_profile(target)
    for method in USER_TAKEOVER:
        name, how, action = method.name, method.how, method.requires[0][0]
        if (action == "iam:createloginprofile" and profile is True) or (
            action == "iam:updateloginprofile" and profile is False
        ):
            continue  # a user has at most one login profile: create needs none, update needs one
        decision = g.authz.can_act_on(subject, action, target.arn)
        if not decision:
            continue
        if action == "iam:createaccesskey" and g.access_keys(target) == 2:
            # A user holds at most two keys: a third is refused (LimitExceeded) until one is deleted.
            deleted = g.authz.can_act_on(subject, DELETE_ACCESS_KEY, target.arn)
            if deleted:
                how = "delete one of the user's two access keys, create another and sign in as it"
                proof = Proof((decision, deleted))
                return Edge(source.arn, target.arn, name, how, proof, target.arn, (action, DELETE_ACCESS_KEY))
            continue
        return Edge(source.arn, target.arn, name, how, Proof((decision,)), target.arn, (action,))
    return None


# --- making oneself administrator --------------------------------------------------------------------------------

MAX_SELF_HOPS = 4  # self-changes in one chain (join a group, drop the boundary, ... then grant oneself admin)
MAX_SELF_STATES = 48  # states explored per principal: the chain search stays cheap whatever the account
PROBE_POLICY = "aegis-escalation"


@dataclass(frozen=True)
class SelfState:
    """A principal after changes it made to itself: the groups it is in, whether its boundary is gone, which
    stored versions of held policies it made the default, and whether it copied its boundary's allowances into
    an inline policy of its own (so that everything the boundary allows is granted)."""

    groups: tuple[Principal, ...]
    boundary_dropped: bool = False
    versions: tuple[tuple[str, str], ...] = ()  # (policy ARN, version id)
    granted_boundary: bool = False

    @property
    def key(self) -> tuple:
        return (tuple(sorted(g.arn for g in self.groups)), self.boundary_dropped, self.versions, self.granted_boundary)


def initial_state(g, p: Principal) -> SelfState:
    return SelfState(tuple(g.account.member_groups(p)) if p.type == "user" else ())


def state_subject(g, p: Principal, state: SelfState | None):
    """The evaluator's subject for p in this state; the initial state is the principal as it is."""
    if state is None or state == initial_state(g, p):
        return g.subject(p)
    cache = _state_cache(g)
    key = (p.arn, state.key)
    found = cache.get(key)
    if found is None:
        versions = dict(state.versions)
        statements: list = []
        for holder in [p, *state.groups] if p.type == "user" else [p]:
            for name, doc in holder.inline:
                statements.extend(g.authz.compile(doc, inline_source(holder, name)))
            for arn in holder.managed:
                statements.extend(g.authz.managed(arn, _version_document(g, arn, versions.get(arn))))
        boundary = None if state.boundary_dropped else g.authz.boundary(p)
        if state.granted_boundary and boundary is not None:
            statements.extend(boundary)
        # Kept in the cache for the audit: the authz caches name identities by id(), which must not be reused.
        found = cache[key] = g.authz.subject(p, identity=tuple(statements), boundary=boundary)
    return found


def _state_cache(g) -> dict:
    cache = getattr(g, "self_states", None)
    if cache is None:
        cache = g.self_states = {}
    return cache


def _version_document(g, arn: str, version_id: str | None) -> object:
    if version_id is None:
        return None
    policy = g.account.policies.get(arn) or {}
    return next(
        (v.get("Document") for v in dicts_of(policy.get("PolicyVersionList")) if v.get("VersionId") == version_id), None
    )


def _unbounded(g, p: Principal, subject) -> Proof:
    """Would p be admin if it granted itself AdministratorAccess (its boundary, if any, still applies)?"""
    cache = _state_cache(g)
    key = ("unbounded", id(subject))
    found = cache.get(key)
    if found is None:
        granted = g.authz.subject(p, identity=subject.identity + g.authz.admin_statements, boundary=subject.boundary)
        cache[("kept", id(subject))] = (subject, granted)  # keeps both ids alive while cached
        found = cache[key] = g.authz.admin(granted)
    return found


def self_edges(g, p: Principal, state: SelfState | None = None) -> list[Edge]:
    """Ways p makes itself administrator from `state` (as it is, by default) in one step: each is
    admin-equivalent only if the boundary would let the new grant work."""
    out: list[Edge] = []
    state = state or initial_state(g, p)
    subject = state_subject(g, p, state)
    unbounded = g.admin_if_granted(p) if state == initial_state(g, p) else _unbounded(g, p, subject)
    kind = "user" if p.type == "user" else "role"
    if unbounded.possible:
        for method, extra in POLICY_WRITES[kind]:
            action = method.requires[0][0]
            decision = g.authz.can_act_on(subject, action, p.arn, extra)
            if decision:
                out.append(
                    Edge(p.arn, p.arn, method.name, method.how, Proof((decision,)) + unbounded, p.arn, (action,))
                )
        for group in state.groups:
            for method, extra in POLICY_WRITES["group"]:
                action = method.requires[0][0]
                decision = g.authz.can_act_on(subject, action, group.arn, extra)
                if decision:
                    how = f"{method.how} {group.name}"
                    out.append(
                        Edge(p.arn, p.arn, method.name, how, Proof((decision,)) + unbounded, group.arn, (action,))
                    )
        version = CREATE_POLICY_VERSION.requires[0][0]
        for policy_arn in _own_policies(g, p, state):
            decision = g.authz.can_act_on(subject, version, policy_arn)
            if decision:
                out.append(
                    Edge(
                        p.arn,
                        p.arn,
                        CREATE_POLICY_VERSION.name,
                        f"write a new default version of {policy_arn.rsplit('/', 1)[-1]}, which it holds",
                        Proof((decision,)) + unbounded,
                        policy_arn,
                        (version,),
                    )
                )
        out.extend(_create_and_use(g, p, subject, unbounded))
    # A change to itself that makes it administrator at once (join an admin group, drop the boundary, ...).
    for move, after in self_moves(g, p, state):
        proof = g.authz.admin(state_subject(g, p, after))
        if proof.possible:
            out.append(replace(move, proof=move.proof + proof))
            break
    return out


def self_chain(g, p: Principal) -> tuple[Edge, ...] | None:
    """Self-changes followed to a fixpoint: when no single change makes p administrator, apply each change it
    can make to itself, re-evaluate it from its new state and go on (breadth first, so the shortest chain wins)
    until it is administrator or nothing new is reachable. The chain, hop by hop, or None."""
    start = initial_state(g, p)
    seen = {start.key}
    frontier: list[tuple[SelfState, tuple[Edge, ...]]] = [(start, ())]
    for _ in range(MAX_SELF_HOPS - 1):
        following: list[tuple[SelfState, tuple[Edge, ...]]] = []
        for state, path in frontier:
            for move, after in self_moves(g, p, state):
                if after.key in seen:
                    continue
                seen.add(after.key)
                chain = (*path, move)
                ends = self_edges(g, p, after)
                if ends:
                    return (*chain, min(ends, key=lambda e: e.proof.verdict != "allowed"))
                following.append((after, chain))
                if len(seen) >= MAX_SELF_STATES:
                    return None
        if not following:
            return None
        frontier = following
    return None


def self_moves(g, p: Principal, state: SelfState) -> list[tuple[Edge, SelfState]]:
    """The changes p can make to itself from `state`, whether or not they make it administrator at once."""
    subject = state_subject(g, p, state)
    return [
        *_boundary_moves(g, p, subject, state),
        *_join_moves(g, p, subject, state),
        *_version_moves(g, p, subject, state),
    ]


def _own_policies(g, p: Principal, state: SelfState | None = None) -> list[str]:
    groups = state.groups if state is not None else tuple(g.account.member_groups(p)) if p.type == "user" else ()
    holders = [p, *groups] if p.type == "user" else [p]
    return list(dict.fromkeys(a for h in holders for a in h.managed if not is_aws_managed(a)))


def _version_moves(g, p: Principal, subject, state: SelfState) -> list[tuple[Edge, SelfState]]:
    """SetDefaultPolicyVersion: another stored version of a held customer-managed policy becomes the default."""
    if not g.authz.patterns(subject, "iam:setdefaultpolicyversion"):
        return []
    out = []
    chosen = dict(state.versions)
    for policy_arn in _own_policies(g, p, state):
        policy = g.account.policies.get(policy_arn) or {}
        versions = dicts_of(policy.get("PolicyVersionList"))
        default = default_document(policy)
        current = chosen.get(policy_arn) or next(
            (v.get("VersionId") for v in versions if v.get("Document") is default), None
        )
        others = [v for v in versions if v.get("VersionId") != current]
        if not others:
            continue
        decision = g.authz.can_act_on(subject, "iam:setdefaultpolicyversion", policy_arn)
        if not decision:
            continue
        for version in others:
            version_id = str(version.get("VersionId"))
            after = replace(state, versions=tuple(sorted({**chosen, policy_arn: version_id}.items())))
            edge = Edge(
                p.arn,
                p.arn,
                SET_DEFAULT_VERSION.name,
                f"make version {version_id} of {policy_arn.rsplit('/', 1)[-1]} the default again",
                Proof((decision,)),
                policy_arn,
                ("iam:setdefaultpolicyversion",),
            )
            out.append((edge, after))
    return out


def stored_admin_version(g, p: Principal, policy_arn: str) -> str | None:
    """A stored, non-default version of a policy p holds that would make p an administrator as the default."""
    policy = g.account.policies.get(policy_arn) or {}
    default = default_document(policy)
    start = initial_state(g, p)
    for version in dicts_of(policy.get("PolicyVersionList")):
        if version.get("Document") is default or not isinstance(version.get("VersionId"), str):
            continue
        after = replace(start, versions=((policy_arn, version["VersionId"]),))
        if g.authz.admin(state_subject(g, p, after)).possible:
            return version["VersionId"]
    return None


def _boundary_moves(g, p: Principal, subject, state: SelfState) -> list[tuple[Edge, SelfState]]:
    if subject.boundary is None:
        return []
    kind = "user" if p.type == "user" else "role"
    out = []
    for method, extra in ((DELETE_BOUNDARY, None), (PUT_BOUNDARY, {"iam:permissionsboundary": ADMIN_POLICY_ARN})):
        name, how = method.name, method.how
        action = next(a for a in method.requires[0] if f":delete{kind}" in a or f":put{kind}" in a)
        decision = g.authz.can_act_on(subject, action, p.arn, extra)
        if decision:
            out.append(
                (
                    Edge(p.arn, p.arn, name, how, Proof((decision,)), p.arn, (action,)),
                    replace(state, boundary_dropped=True, granted_boundary=False),
                )
            )
            break  # either leaves no boundary: one state
    if not state.granted_boundary:
        # An inline policy granting what the boundary allows makes every boundary allowance effective (what the
        # boundary lets it do next may be to drop the boundary itself).
        write = POLICY_WRITES[kind][0][0]
        action = write.requires[0][0]
        decision = g.authz.can_act_on(subject, action, p.arn)
        if decision:
            out.append(
                (
                    Edge(
                        p.arn,
                        p.arn,
                        write.name,
                        "write an inline policy granting oneself what its permissions boundary allows",
                        Proof((decision,)),
                        p.arn,
                        (action,),
                    ),
                    replace(state, granted_boundary=True),
                )
            )
    return out


def _join_moves(g, p: Principal, subject, state: SelfState) -> list[tuple[Edge, SelfState]]:
    if p.type != "user" or not g.authz.patterns(subject, "iam:addusertogroup"):
        return []
    out = []
    member = {group.arn for group in state.groups}
    for group in g.account.groups:
        if group.arn in member or not _worth_joining(g, group):
            continue
        decision = g.authz.can_act_on(subject, "iam:addusertogroup", group.arn)
        if decision:
            edge = Edge(
                p.arn,
                p.arn,
                ADD_USER_TO_GROUP.name,
                f"add oneself to the group {group.name}",
                Proof((decision,)),
                group.arn,
                ("iam:addusertogroup",),
            )
            out.append((edge, replace(state, groups=(*state.groups, group))))
    return out


def _worth_joining(g, group: Principal) -> bool:
    """A group is worth joining when its policies allow every action or one of the self-changing ones."""
    cache = _state_cache(g)
    key = ("group", group.arn)
    found = cache.get(key)
    if found is None:
        statements = g.authz.holder_statements(group)
        found = cache[key] = any(
            s.effect == "Allow" and any(s.matches_action(a) for a in SELF_CHANGES) for s in statements
        )
    return found


SELF_CHANGES = (
    "iam:putuserpolicy",
    "iam:attachuserpolicy",
    "iam:putgrouppolicy",
    "iam:attachgrouppolicy",
    "iam:createpolicyversion",
    "iam:setdefaultpolicyversion",
    "iam:deleteuserpermissionsboundary",
    "iam:putuserpermissionsboundary",
    "iam:addusertogroup",
    "iam:createrole",
    "iam:createuser",
)


def _create_and_use(g, p: Principal, subject, unbounded: Proof) -> list[Edge]:
    """A new role that trusts oneself by name (no sts:AssumeRole permission needed), or a new user with a key."""
    out = []
    for method in (CREATE_ROLE, CREATE_USER):
        name, how, create = method.name, method.how, method.requires[0][0]
        # Attaching AdministratorAccess is asked with its ARN as iam:PolicyArn; an inline policy needs no key.
        grants = tuple((a, ADMIN if ":attach" in a else None) for a in method.requires[1])
        use = method.requires[2][0] if len(method.requires) > 2 else None
        for pattern, negated in g.authz.patterns(subject, create):
            arn = (
                concrete(pattern)
                if not negated and pattern.startswith("arn:")
                else (f"arn:aws:iam::{g.account_id}:{create.removeprefix('iam:create')}/aegis-new")
            )
            made = g.authz.can_act_on(subject, create, arn)
            if not made:
                continue
            grant = next(
                ((action, d) for action, extra in grants if (d := g.authz.can_act_on(subject, action, arn, extra))),
                None,
            )
            used = g.authz.can_act_on(subject, use, arn) if use else None
            if grant and (use is None or used):
                decisions = (made, grant[1]) + ((used,) if used else ())
                out.append(
                    Edge(p.arn, p.arn, name, how, Proof(decisions), arn, (create, grant[0]) + ((use,) if use else ()))
                )
                break
    return out


# --- raising someone else's rights (pays when one can also become them) -------------------------------------------


def modify_edges(g, p: Principal, reachable, only: frozenset[str] | None = None) -> Iterator[Edge]:
    """reachable(target) -> bool: a cheap pre-check that p could become the target (asked before any decision).
    only: the targets to look at, when the caller knows the others fail (each in the order it would come).
    Edges come one at a time, in the same order every time: a caller taking the first that pays asks no more."""
    subject = g.subject(p)
    for kind, everyone in (("role", g.roles), ("user", g.users)):
        pool = everyone if only is None else _in_order(g, [g.nodes[a] for a in only if a in g.nodes], kind)
        for method, extra in POLICY_WRITES[kind]:
            name, action = method.name, method.requires[0][0]
            if not g.authz.patterns(subject, action) or g.authz.denied_everywhere(subject, action):
                continue
            for target in g.targets(p, action, pool):
                if target.arn == p.arn or not reachable(target):
                    continue
                decision = g.authz.can_act_on(subject, action, target.arn, extra)
                if decision:
                    yield Edge(
                        p.arn,
                        target.arn,
                        name,
                        f"give {kind} {target.name} administrator rights",
                        Proof((decision,)),
                        target.arn,
                        (action,),
                    )
    if g.authz.patterns(subject, "iam:createpolicyversion") and not g.authz.denied_everywhere(
        subject, "iam:createpolicyversion"
    ):
        for policy_arn, holders in g.policy_holders.items():
            holders = [t for t in holders if t.arn != p.arn and (only is None or t.arn in only) and reachable(t)]
            if not holders:
                continue
            decision = g.authz.can_act_on(subject, "iam:createpolicyversion", policy_arn)
            if not decision:
                continue
            for target in holders:
                yield Edge(
                    p.arn,
                    target.arn,
                    CREATE_POLICY_VERSION.name,
                    f"write a new default version of {policy_arn.rsplit('/', 1)[-1]}, held by "
                    f"{target.type} {target.name}",
                    Proof((decision,)),
                    policy_arn,
                    ("iam:createpolicyversion",),
                )


def _in_order(g, principals: list[Principal], kind: str) -> list[Principal]:
    """These principals of one kind in the graph's node order (the order of g.roles and g.users)."""
    return sorted((t for t in principals if t.type == kind), key=lambda t: g._rank[t.arn])
