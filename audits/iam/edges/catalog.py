"""The escalation methods the engine knows: every family module's declarations, gathered (never restated).

A method is declared once, in the edge module that proves it (name, actions, how, docs link); the graph's index of
holders, the policy-level method notes and the method tables all read this catalog.
"""

from __future__ import annotations

from audits.iam.edges import (
    Method,
    cloudformation,
    codebuild,
    cognito,
    ec2,
    ecs,
    glue,
    iam,
    lambda_,
    others,
    sagemaker,
    sts,
)

# The service families, in the order the graph asks them for a target's predecessors.
FAMILIES = (sts, iam, ec2, lambda_, cloudformation, glue, sagemaker, codebuild, ecs, others, cognito)
METHODS: tuple[Method, ...] = tuple(m for family in FAMILIES for m in family.METHODS)
BY_NAME: dict[str, Method] = {m.name: m for m in METHODS}
# Every action some method needs (PassRole included).
ACTIONS = frozenset(a for m in METHODS for a in m.actions)
# Actions whose holders the graph looks up when it asks who can reach a target: PassRole for every PassMethod, and
# the first requirement of the methods that act on the target (assuming it, taking it or what runs as it over).
INDEXED = frozenset({"iam:passrole"} | {a for m in METHODS if m.kind in ("assume", "takeover") for a in m.requires[0]})
