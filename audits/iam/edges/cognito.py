"""Amazon Cognito identity pools: a role whose trust admits Cognito's federated principal becomes an identity pool's
role in the hands of whoever may pass it to Cognito and set the pool's roles; the pool's identities (its
unauthenticated ones, if it allows them: anyone) then get the role's credentials (pathfinding.cloud
cognitoidentity-001). PassRole is asked with iam:PassedToService cognito-identity.amazonaws.com on the role, and
SetIdentityPoolRoles on each pool the trust's `cognito-identity.amazonaws.com:aud` condition names (on any pool of
the account when it names none)."""

from __future__ import annotations

from collections.abc import Iterable

from audits.iam import trust
from audits.iam.account import Principal
from audits.iam.authz import Proof, concrete
from audits.iam.edges import Edge, Method, req

SERVICE = "cognito-identity.amazonaws.com"
SET_ROLES = "cognito-identity:setidentitypoolroles"
PASS = "iam:passrole"
AUD = "cognito-identity.amazonaws.com:aud"
WEB_IDENTITY = frozenset({"sts:assumerolewithwebidentity", "sts:*", "sts:assumerolewith*", "*"})
# Candidates are the holders of SetIdentityPoolRoles (the first requirement) that may also pass roles.
POOL_ROLES = Method(
    "PassRoleToCognitoIdentityPool",
    "set the role as an identity pool's role and take its credentials",
    req(SET_ROLES, PASS),
    docs="https://pathfinding.cloud/",
)
METHODS = (POOL_ROLES,)
NOTE = (
    "approximation: the snapshot has no inventory of identity pools; a pool the trust admits is assumed to hand "
    "out the role's credentials once it is set as the pool's role"
)


def pools(g, target: Principal) -> list[str]:
    """ARNs of the identity pools whose identities the trust lets assume the role ([] when it admits none)."""
    out: dict[str, None] = {}
    account = g.authz.account_id or "000000000000"
    for t in trust.trusted(target.entry):
        if t.kind != "federated" or t.value.lower() != SERVICE:
            continue
        if not WEB_IDENTITY & {str(a).lower() for a in trust.as_list(t.statement.get("Action"))}:
            continue
        ids = trust.condition_values(t.statement, AUD)
        for pool_id in ids or ["*"]:
            region = pool_id.split(":", 1)[0] if ":" in pool_id else "*"
            out[concrete(f"arn:aws:cognito-identity:{region}:{account}:identitypool/{pool_id}")] = None
    return list(out)


def candidates(g, target: Principal) -> Iterable[Principal]:
    if target.type != "role" or not pools(g, target):
        return ()
    return g.unescalated(
        ("cognito",), lambda: [p for p in g.holders_of((SET_ROLES,)) if p.arn in g.holder_arns((PASS,))]
    )


def edge(g, source: Principal, target: Principal) -> Edge | None:
    if target.type != "role":
        return None
    found = pools(g, target)
    if not found:
        return None
    subject = g.subject(source)
    passed = g.authz.can_act_on(subject, PASS, target.arn, {"iam:passedtoservice": SERVICE})
    if passed is None:
        return None
    for pool in found:
        setting = g.authz.can_act_on(subject, SET_ROLES, pool)
        if setting is not None:
            return Edge(
                source.arn,
                target.arn,
                POOL_ROLES.name,
                POOL_ROLES.how,
                Proof((passed, setting)),
                target.arn,
                (PASS, SET_ROLES),
                NOTE,
            )
    return None
