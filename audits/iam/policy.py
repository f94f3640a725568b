"""Policy semantics: statements compiled once, and what a set of policies lets a principal do.

A grant counts when an Allow statement matches the action (Action/NotAction, wildcards expanded against the
dataset) on unrestricted resources (Resource "*", a whole-type wildcard, NotResource), or when the action
supports no resource-level permissions at all. An unconditioned Deny on all resources removes it, across every
policy of the principal; a permissions boundary must allow it too. Conditions never silently drop a grant: a grant
only available under a condition is reported as conditioned (the checks rate it one severity lower).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from audits.iam import actions as ds
from audits.iam import arns
from audits.iam.statement_parts import placed

# Sentinel actions an administrator must hold: if a Deny or a boundary removes any of them, "*" is not full admin.
ADMIN_SENTINELS = frozenset(
    {
        "iam:attachrolepolicy",
        "iam:putuserpolicy",
        "iam:createpolicyversion",
        "iam:passrole",
        "sts:assumerole",
        "s3:getobject",
        "ec2:runinstances",
        "kms:decrypt",
        "organizations:leaveorganization",
    }
)

_TYPE_WILDCARD = re.compile(r"^[A-Za-z0-9_-]+[/:]\*$")


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


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


@dataclass(frozen=True, eq=False)
class Statement:
    policy: str  # the policy's name (inline) or ARN (managed)
    sid: str
    effect: str  # "Allow" | "Deny"
    patterns: tuple[str, ...]  # the Action (or NotAction) element as written, lowercased
    actions: frozenset[str]  # the expanded Action, or the expanded NotAction when not_action
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: dict
    raw: dict
    broad: bool  # NotResource, or a Resource that is "*" or a whole resource type
    evidence: dict  # shared by every finding citing this statement (findings are read, never edited)
    # hits() answers by candidate set, shared with every copy of an equal statement (see compile_policy's parts)
    _hits: dict = field(default_factory=dict, repr=False, compare=False)

    def matches(self, action: str) -> bool:
        return (action in self.actions) != self.not_action

    @property
    def all_actions(self) -> bool:
        return not self.not_action and ("*" in self.patterns or "*:*" in self.patterns)

    def resource_matches(self, arn: str) -> bool:
        hit = any(arn_matches(r, arn) for r in self.resources)
        return hit != self.not_resource

    def hits(self, candidates: frozenset[str]) -> frozenset[str]:
        found = self._hits.get(candidates)
        if found is None:
            found = candidates - self.actions if self.not_action else candidates & self.actions
            if len(self._hits) < 256:  # the checks ask a few dozen fixed sets; one-action sets come and go
                self._hits[candidates] = found
        return found


def arn_matches(pattern: str, arn: str) -> bool:
    """The engine's one ARN matcher (segment rule and all), so the checks and the evaluator agree."""
    return arns.matches(pattern, arn)


def content_key(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)


def compile_policy(
    doc: dict | None,
    label: str,
    content: str | None = None,
    memo: dict[tuple[str, str], tuple[Statement, ...]] | None = None,
    parts: dict[str, Statement | None] | None = None,
) -> tuple[Statement, ...]:
    """With a memo (one per audit), each (content, label) compiles once: ten thousand roles sharing an inline
    policy pay for it once, and equal policies share Statement objects, which later caches key on. With `parts`
    (one per audit), equal statements of different documents share their expanded actions."""
    if not isinstance(doc, dict):
        return ()
    key = (content if content is not None else content_key(doc), label) if memo is not None else None
    found = memo.get(key) if memo is not None else None
    if found is None:
        found = tuple(
            s for i, raw in enumerate(as_list(doc.get("Statement"))) if (s := _statement(raw, label, i, parts))
        )
        if memo is not None:
            memo[key] = found
    return found


def _statement(raw: Any, label: str, index: int, parts: dict[str, Statement | None] | None = None) -> Statement | None:
    if not isinstance(raw, dict):
        return None
    if parts is None:
        return _compile_statement(raw, label, index)
    sid = str(raw.get("Sid", "") or f"#{index}")
    # repr as in the evaluator: equal reprs of parsed JSON are equal statements
    return placed(
        parts,
        repr(raw),
        lambda: _compile_statement(raw, label, index),
        policy=label,
        sid=sid,
        raw=raw,
        evidence={"policy": label, "sid": sid, "statement": raw},
    )


def _compile_statement(raw: dict, label: str, index: int) -> Statement | None:
    effect = str(raw.get("Effect", "")).capitalize()
    if effect not in ("Allow", "Deny"):
        return None
    not_action = "Action" not in raw and "NotAction" in raw
    patterns = tuple(str(a).strip().lower() for a in as_list(raw.get("NotAction" if not_action else "Action")))
    if not patterns:
        return None
    not_resource = "Resource" not in raw and "NotResource" in raw
    resources = tuple(str(r) for r in as_list(raw.get("NotResource" if not_resource else "Resource")))
    if not resources and not not_resource:
        resources = ("*",)  # trust and resource policies omit Resource; identity policies must not
    condition = raw.get("Condition") if isinstance(raw.get("Condition"), dict) else {}
    return Statement(
        policy=label,
        sid=str(raw.get("Sid", "") or f"#{index}"),
        effect=effect,
        patterns=patterns,
        actions=ds.expand_all(patterns),
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        condition=condition or {},
        raw=raw,
        broad=not_resource or any(is_broad_resource(r) for r in resources),
        evidence={"policy": label, "sid": str(raw.get("Sid", "") or f"#{index}"), "statement": raw},
    )


@dataclass(frozen=True)
class ActionGrant:
    statements: tuple[Statement, ...]
    conditioned: bool  # every granting statement carries a condition, or a conditional Deny may remove it


@dataclass
class Permissions:
    """What a bundle of policies allows, with Deny and permissions boundary applied."""

    allows: list[Statement]
    denies: list[Statement]
    boundary: tuple[Statement, ...] | None = None
    _memo: dict[str, ActionGrant | None] = field(default_factory=dict, repr=False)
    cache: dict[str, object] = field(default_factory=dict, repr=False)  # derived results other modules memoize

    @classmethod
    def of(cls, statements: list[Statement], boundary: tuple[Statement, ...] | None = None) -> Permissions:
        return cls(
            [s for s in statements if s.effect == "Allow"], [s for s in statements if s.effect == "Deny"], boundary
        )

    def grants(self, candidates: frozenset[str]) -> dict[str, ActionGrant]:
        """The candidate actions allowed on unrestricted resources, with the statements that allow each."""
        found: dict[str, list[Statement]] = {}
        resourceless = ds.resourceless_actions()
        for s in self.allows:
            hit = s.hits(candidates) if s.broad else s.hits(candidates) & resourceless
            for action in hit:
                found.setdefault(action, []).append(s)
        out = {}
        for action, stmts in found.items():
            grant = self._finish(action, stmts)
            if grant:
                out[action] = grant
        return out

    def grant(self, action: str) -> ActionGrant | None:
        if action not in self._memo:
            self._memo[action] = self.grants(frozenset({action})).get(action)
        return self._memo[action]

    def _finish(self, action: str, stmts: list[Statement]) -> ActionGrant | None:
        conditioned = all(s.condition for s in stmts)
        for d in self.denies:
            if d.matches(action):
                if d.condition:
                    conditioned = True  # a conditional Deny may well remove it: mitigating, not conclusive
                elif "*" in d.resources and not d.not_resource:
                    return None
        if self.boundary is not None and not _boundary_allows(self.boundary, action):
            return None
        return ActionGrant(tuple(stmts), conditioned)

    def level_grants(self, level: str, *, conditioned: bool = False) -> tuple[frozenset[str], list[Statement]]:
        """Actions of one access level allowed on unrestricted resources (for the broad categories); only
        unconditioned grants unless asked."""
        candidates = ds.actions_at_level(level)
        actions: set[str] = set()
        stmts = []
        resourceless = ds.resourceless_actions()
        for s in self.allows:
            if s.condition and not conditioned:
                continue
            hit = s.hits(candidates) if s.broad else s.hits(candidates) & resourceless
            if hit:
                actions |= hit
                stmts.append(s)
        for d in self.denies:
            if not d.condition and "*" in d.resources and not d.not_resource:
                actions = {a for a in actions if not d.matches(a)}
        if self.boundary is not None:
            actions = {a for a in actions if _boundary_allows(self.boundary, a)}
        return frozenset(actions), [s for s in stmts if any(s.matches(a) for a in actions)] if actions else []

    def read_only(self, tolerance: float = 0.02) -> bool:
        """All (but a sliver) of the allowed actions are at List or Read level.

        The sliver absorbs the dataset's odd classifications inside read-only patterns (quicksight:Describe*
        includes "Permissions management" actions that only describe permissions; iot:List* a Write one).
        """
        if any(s.not_action for s in self.allows):
            return False
        allowed: set[str] = set()
        for s in self.allows:
            allowed |= s.actions
        if not allowed:
            return True
        readable = ds.actions_at_level("L") | ds.actions_at_level("R")
        return len(allowed - readable) <= tolerance * len(allowed)

    def is_admin(self) -> bool:
        star = any(s.all_actions and s.broad and not s.condition for s in self.allows)
        if not star:
            return False
        return all((g := self.grant(a)) is not None and not g.conditioned for a in ADMIN_SENTINELS)

    def resource_grants(self, action: str) -> list[Statement]:
        """Allow statements for one action whatever their resources (e.g. sts:AssumeRole on named roles)."""
        if self.boundary is not None and not _boundary_allows(self.boundary, action):
            return []
        return [s for s in self.allows if s.matches(action)]

    def denied_on(self, action: str, arn: str) -> bool:
        return any(d.matches(action) and not d.condition and d.resource_matches(arn) for d in self.denies)


def _boundary_allows(boundary: tuple[Statement, ...], action: str) -> bool:
    allowed = any(s.effect == "Allow" and s.matches(action) for s in boundary)
    return allowed and not any(
        s.effect == "Deny" and s.matches(action) and not s.condition and "*" in s.resources for s in boundary
    )


def statement_evidence(stmts: tuple[Statement, ...] | list[Statement], limit: int = 5) -> list[dict]:
    """JSON-able evidence: which policy and statement grant, keeping the original statement text."""
    seen: set[int] = set()
    out = []
    for s in stmts:
        if id(s) in seen:
            continue
        seen.add(id(s))
        out.append(s.evidence)
        if len(out) >= limit:
            break
    return out
