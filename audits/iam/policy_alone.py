"""What one policy allows on its own, asked of the evaluator: a principal holding only that policy's statements.

The policy-level notes (a policy that grants administrator access, or the actions of named escalation methods)
read these answers; whether the grant is effective for a holder is the graph's question, not this module's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from audits.iam import actions as ds
from audits.iam.authz import Authz, Proof
from audits.iam.edges import Method
from audits.iam.edges.catalog import ACTIONS, METHODS
from audits.iam.evaluator import ALLOWED, CONDITIONAL, Decision
from audits.iam.finding_types import StatementRef

# Each method with its requirements as sets, for the cheap "could the policy allow them at all?" test, and the
# methods by an action of their first requirement (a policy naming none of a method's first actions skips it).
_REQUIREMENTS = tuple((m, tuple(frozenset(r) for r in m.all_requirements)) for m in METHODS)
_BY_FIRST: dict[str, tuple[int, ...]] = {}
for _i, (_m, _reqs) in enumerate(_REQUIREMENTS):
    for _a in _reqs[0]:
        _BY_FIRST[_a] = (*_BY_FIRST.get(_a, ()), _i)


@dataclass(frozen=True)
class MethodHit:
    method: Method
    grants: tuple[tuple[str, Decision], ...]  # one (action, decision) per requirement

    @property
    def conditioned(self) -> bool:
        return any(d.verdict == CONDITIONAL for _, d in self.grants)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.grants)


def grants_everything(statement) -> bool:
    """An Allow of every action ("*" or "*:*") as written."""
    return statement.effect == "Allow" and not statement.not_action and bool({"*", "*:*"} & set(statement.actions))


class PolicyAlone:
    """Answers about single policies, memoised per compiled statements tuple (equal policies share one)."""

    def __init__(self, authz: Authz) -> None:
        self.authz = authz
        self._admin: dict[int, Proof] = {}
        self._is_admin: dict[int, bool] = {}  # asked of every policy of every principal: the verdict, once
        self._methods: dict[int, list[MethodHit]] = {}

    def admin(self, statements: tuple) -> Proof:
        """Would a holder of only this policy be an administrator (every action on every resource)?"""
        found = self._admin.get(id(statements))
        if found is None:
            found = self._admin[id(statements)] = self.authz.admin(self.authz.alone(statements))
        return found

    def is_admin(self, statements: tuple) -> bool:
        """Administrator without any condition (a conditional '*' is reported on its holders, not as admin)."""
        found = self._is_admin.get(id(statements))
        if found is None:
            found = self._is_admin[id(statements)] = self.admin(statements).verdict == ALLOWED
        return found

    def methods(self, statements: tuple) -> list[MethodHit]:
        """The declared escalation methods whose every requirement this policy alone allows, each on a resource
        of the holder's choosing (the graph decides whether a target makes any of them an escalation)."""
        found = self._methods.get(id(statements))
        if found is None:
            found = self._methods[id(statements)] = self._find(statements)
        return found

    def _find(self, statements: tuple) -> list[MethodHit]:
        subject = self.authz.alone(statements)
        held = self.authz.interesting(subject, ACTIONS)
        if not held:
            return []
        granted: dict[str, Decision | None] = {}

        def grant(action: str) -> Decision | None:
            if action not in granted:
                granted[action] = self._grant(subject, action) if action in held else None
            return granted[action]

        hits = []
        for method, requirements in (_REQUIREMENTS[i] for i in sorted({i for a in held for i in _BY_FIRST.get(a, ())})):
            if any(held.isdisjoint(r) for r in requirements):
                continue  # some requirement no Allow of the policy names: no need to ask the evaluator
            chosen = []
            for requirement in method.all_requirements:
                options = [(a, d) for a in requirement if (d := grant(a)) is not None]
                if not options:
                    break
                # Prefer an unconditioned grant when several actions satisfy the requirement.
                chosen.append(min(options, key=lambda o: o[1].verdict != ALLOWED))
            else:
                hits.append(MethodHit(method, tuple(chosen)))
        return hits

    def _grant(self, subject, action: str) -> Decision | None:
        """Allowed on a resource of the holder's choosing; or, when every Allow of it hangs on a condition that
        cannot hold now, a grant on that condition: conditions never silently drop a grant from what a policy
        says (its holders then read "cancelled: hangs on a condition that cannot hold")."""
        decision = self.authz.can_create(subject, action)
        if decision is not None or not self.authz.never_allowed(subject, action):
            return decision
        refs = tuple(s.ref for s in subject.identity if s.effect == "Allow" and s.matches_action(action))
        if not refs or self.authz.denied_everywhere(subject, action):
            return None
        return Decision(CONDITIONAL, (), refs, (), "allowed only under a condition that cannot hold now")


def labelled(refs: Iterable[StatementRef], label: str) -> list[StatementRef]:
    """Statement references named by the policy's label (its ARN, or an inline policy's name), as findings cite."""
    return [{**ref, "policy": label} for ref in refs]


def method_evidence(hit: MethodHit, label: str) -> dict:
    refs = {(r.get("index"), r.get("sid")): r for _, d in hit.grants for r in d.allowing}
    return {
        "method": hit.method.name,
        "how": hit.method.how,
        "docs": hit.method.docs,
        "actions": [ds.display(a) for a in hit.actions],
        "statements": labelled(list(refs.values())[:5], label),
    }
