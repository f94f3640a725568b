"""sts:AssumeRole: the trust policy (a resource policy) and, unless it names the principal itself, the identity side.

The evaluator applies AWS's rule: a same-account trust that names the principal's ARN grants by itself; a trust of
the account (its root) only delegates to IAM, so the principal's own policies must allow sts:AssumeRole too.
"""

from __future__ import annotations

from collections.abc import Iterable

from audits.iam.account import Principal
from audits.iam.authz import Proof
from audits.iam.edges import PMAPPER, Edge, Method, req

ACTION = "sts:assumerole"
ASSUME_ROLE = Method("AssumeRole", "assume a role whose trust admits one", req(ACTION), kind="assume", docs=PMAPPER)
METHODS = (ASSUME_ROLE,)


def candidates(g, target: Principal, *, everyone: bool = False) -> Iterable[Principal]:
    """everyone: also principals the graph already placed (the trust check wants all who can assume)."""
    if target.type != "role":
        return ()
    trusts = g.trust_index(target)
    out = [g.nodes[a] for a in trusts.named if a in g.nodes]
    if trusts.account_wide:
        out.extend(g.all_candidates(ACTION, target.arn) if everyone else g.candidates(ACTION, target.arn))
    return out


def edge(g, source: Principal, target: Principal) -> Edge | None:
    if target.type != "role":
        return None
    trust = g.trust_statements(target)
    if not trust:
        return None
    decision = g.authz.decide(g.subject(source), ACTION, target.arn, resource_policy=trust)
    if not decision.possible:
        return None
    how = f"assume role {target.name}"
    return Edge(source.arn, target.arn, ASSUME_ROLE.name, how, Proof((decision,)), target.arn, (ACTION,))
