"""IAM's own methods: credentials of other users, trust rewrites, policies on oneself, one's groups and policies."""

from __future__ import annotations

from collections.abc import Iterable

from audits.iam.account import ADMIN_POLICY_ARN, Principal, default_document, dicts_of, is_aws_managed
from audits.iam.authz import Proof, concrete
from audits.iam.edges import Edge

# method name, how, action: gaining a user's rights through its credentials
USER_TAKEOVER = (
    ("CreateAccessKey", "create an access key for the user and sign in as it", "iam:createaccesskey"),
    ("CreateLoginProfile", "set a console password for a user that has none", "iam:createloginprofile"),
    ("UpdateLoginProfile", "change the user's console password", "iam:updateloginprofile"),
)
TRUST_REWRITE = (
    "UpdateRolePolicyToAssumeIt",
    "rewrite the role's trust policy to trust oneself, then assume it",
    "iam:updateassumerolepolicy",
)
ADMIN = {"iam:policyarn": ADMIN_POLICY_ARN}


def candidates(g, target: Principal) -> Iterable[Principal]:
    if target.type == "user":
        for _, _, action in USER_TAKEOVER:
            yield from g.candidates(action, target.arn)
    else:
        yield from g.candidates(TRUST_REWRITE[2], target.arn)


def edge(g, source: Principal, target: Principal) -> Edge | None:
    subject = g.subject(source)
    if target.type == "role":
        name, how, action = TRUST_REWRITE
        decision = g.authz.can_act_on(subject, action, target.arn)
        return Edge(source.arn, target.arn, name, how, Proof((decision,)), target.arn, (action,)) if decision else None
    profile = g.login_profile(target)
    for name, how, action in USER_TAKEOVER:
        if (action == "iam:createloginprofile" and profile is True) or (
            action == "iam:updateloginprofile" and profile is False
        ):
            continue  # a user has at most one login profile: create needs none, update needs one
        decision = g.authz.can_act_on(subject, action, target.arn)
        if decision:
            return Edge(source.arn, target.arn, name, how, Proof((decision,)), target.arn, (action,))
    return None


# --- making oneself administrator --------------------------------------------------------------------------------


def self_edges(g, p: Principal) -> list[Edge]:
    """Self-escalation: each is admin-equivalent only if the boundary would let the new grant work."""
    out: list[Edge] = []
    subject = g.subject(p)
    unbounded = g.admin_if_granted(p)
    kind = "user" if p.type == "user" else "role"
    if unbounded.possible:
        for name, how, action, extra in (
            (f"Put{kind.title()}Policy", "write an inline admin policy on oneself", f"iam:put{kind}policy", None),
            (f"Attach{kind.title()}Policy", "attach AdministratorAccess to oneself", f"iam:attach{kind}policy", ADMIN),
        ):
            decision = g.authz.can_act_on(subject, action, p.arn, extra)
            if decision:
                out.append(Edge(p.arn, p.arn, name, how, Proof((decision,)) + unbounded, p.arn, (action,)))
        for group in g.account.member_groups(p) if p.type == "user" else ():
            for name, how, action, extra in (
                (
                    "PutGroupPolicy",
                    f"write an inline admin policy on one's group {group.name}",
                    "iam:putgrouppolicy",
                    None,
                ),
                (
                    "AttachGroupPolicy",
                    f"attach AdministratorAccess to one's group {group.name}",
                    "iam:attachgrouppolicy",
                    ADMIN,
                ),
            ):
                decision = g.authz.can_act_on(subject, action, group.arn, extra)
                if decision:
                    out.append(Edge(p.arn, p.arn, name, how, Proof((decision,)) + unbounded, group.arn, (action,)))
        for policy_arn in _own_policies(g, p):
            decision = g.authz.can_act_on(subject, "iam:createpolicyversion", policy_arn)
            if decision:
                out.append(
                    Edge(
                        p.arn,
                        p.arn,
                        "CreateNewPolicyVersion",
                        f"write a new default version of {policy_arn.rsplit('/', 1)[-1]}, which it holds",
                        Proof((decision,)) + unbounded,
                        policy_arn,
                        ("iam:createpolicyversion",),
                    )
                )
        out.extend(_create_and_use(g, p, subject, unbounded))
    out.extend(_old_versions(g, p, subject))
    out.extend(_boundary_removal(g, p, subject))
    out.extend(_join_groups(g, p, subject))
    return out


def _own_policies(g, p: Principal) -> list[str]:
    holders = [p, *g.account.member_groups(p)] if p.type == "user" else [p]
    return list(dict.fromkeys(a for h in holders for a in h.managed if not is_aws_managed(a)))


def _old_versions(g, p: Principal, subject) -> list[Edge]:
    """SetDefaultPolicyVersion pays only if another stored version of a held policy makes its holder admin."""
    out = []
    for policy_arn in _own_policies(g, p):
        policy = g.account.policies.get(policy_arn) or {}
        default = default_document(policy)
        others = [v for v in dicts_of(policy.get("PolicyVersionList")) if v.get("Document") is not default]
        if not others or not g.authz.patterns(subject, "iam:setdefaultpolicyversion"):
            continue
        decision = g.authz.can_act_on(subject, "iam:setdefaultpolicyversion", policy_arn)
        if not decision:
            continue
        current = g.authz.managed(policy_arn)
        for version in others:
            swapped = g.authz.compile(version.get("Document"), policy_arn)
            identity = tuple(s for s in subject.identity if s not in current) + swapped
            proof = g.authz.admin(g.authz.subject(p, identity=identity))
            if proof.possible:
                out.append(
                    Edge(
                        p.arn,
                        p.arn,
                        "SetExistingDefaultPolicyVersion",
                        f"make version {version.get('VersionId')} of {policy_arn.rsplit('/', 1)[-1]} the default again",
                        Proof((decision,)) + proof,
                        policy_arn,
                        ("iam:setdefaultpolicyversion",),
                    )
                )
                break
    return out


def _boundary_removal(g, p: Principal, subject) -> list[Edge]:
    if subject.boundary is None:
        return []
    free = g.authz.admin(g.authz.subject(p, boundary=None))
    if not free.possible:
        return []
    kind = "user" if p.type == "user" else "role"
    out = []
    for name, how, action, extra in (
        (
            "DeletePermissionsBoundary",
            "remove the permissions boundary that limits oneself",
            f"iam:delete{kind}permissionsboundary",
            None,
        ),
        (
            "PutPermissionsBoundary",
            "replace one's permissions boundary with AdministratorAccess",
            f"iam:put{kind}permissionsboundary",
            {"iam:permissionsboundary": ADMIN_POLICY_ARN},
        ),
    ):
        decision = g.authz.can_act_on(subject, action, p.arn, extra)
        if decision:
            out.append(Edge(p.arn, p.arn, name, how, Proof((decision,)) + free, p.arn, (action,)))
    return out


def _join_groups(g, p: Principal, subject) -> list[Edge]:
    if p.type != "user" or not g.authz.patterns(subject, "iam:addusertogroup"):
        return []
    out = []
    for group in g.account.groups:
        if group.name in p.groups:
            continue
        decision = g.authz.can_act_on(subject, "iam:addusertogroup", group.arn)
        if not decision:
            continue
        joined = g.authz.subject(p, identity=subject.identity + g.authz.holder_statements(group))
        proof = g.authz.admin(joined)
        if proof.possible:
            out.append(
                Edge(
                    p.arn,
                    p.arn,
                    "AddUserToGroup",
                    f"add oneself to the group {group.name}",
                    Proof((decision,)) + proof,
                    group.arn,
                    ("iam:addusertogroup",),
                )
            )
            break
    return out


def _create_and_use(g, p: Principal, subject, unbounded: Proof) -> list[Edge]:
    """A new role that trusts oneself by name (no sts:AssumeRole permission needed), or a new user with a key."""
    out = []
    for name, how, create, grants, use in (
        (
            "CreateRoleThenAttachAndAssume",
            "create a role trusting oneself, make it admin and assume it",
            "iam:createrole",
            (("iam:attachrolepolicy", ADMIN), ("iam:putrolepolicy", None)),
            None,
        ),
        (
            "CreateUserThenAttachAndCreateAccessKey",
            "create a user, make it admin and create its access key",
            "iam:createuser",
            (("iam:attachuserpolicy", ADMIN), ("iam:putuserpolicy", None)),
            "iam:createaccesskey",
        ),
    ):
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


def modify_edges(g, p: Principal, reachable) -> list[Edge]:
    """reachable(target) -> bool: a cheap pre-check that p could become the target (asked before any decision)."""
    subject = g.subject(p)
    out: list[Edge] = []
    for kind, pool in (("role", g.roles), ("user", g.users)):
        for name, action, extra in (
            (f"Put{kind.title()}Policy", f"iam:put{kind}policy", None),
            (f"Attach{kind.title()}Policy", f"iam:attach{kind}policy", ADMIN),
        ):
            if not g.authz.patterns(subject, action) or g.authz.denied_everywhere(subject, action):
                continue
            for target in g.targets(p, action, pool):
                if target.arn == p.arn or not reachable(target):
                    continue
                decision = g.authz.can_act_on(subject, action, target.arn, extra)
                if decision:
                    out.append(
                        Edge(
                            p.arn,
                            target.arn,
                            name,
                            f"give {kind} {target.name} administrator rights",
                            Proof((decision,)),
                            target.arn,
                            (action,),
                        )
                    )
    if g.authz.patterns(subject, "iam:createpolicyversion") and not g.authz.denied_everywhere(
        subject, "iam:createpolicyversion"
    ):
        for policy_arn, holders in g.policy_holders.items():
            holders = [t for t in holders if t.arn != p.arn and reachable(t)]
            if not holders:
                continue
            decision = g.authz.can_act_on(subject, "iam:createpolicyversion", policy_arn)
            if not decision:
                continue
            for target in holders:
                if True:
                    out.append(
                        Edge(
                            p.arn,
                            target.arn,
                            "CreateNewPolicyVersion",
                            f"write a new default version of {policy_arn.rsplit('/', 1)[-1]}, held by "
                            f"{target.type} {target.name}",
                            Proof((decision,)),
                            policy_arn,
                            ("iam:createpolicyversion",),
                        )
                    )
    return out
