"""Who can become whom: role assumption (sts:AssumeRole and trust policies) and iam:PassRole to services.

Built once per audit. One backwards search from the target roles (administrators, and roles that can escalate)
finds every principal's nearest way there, so the cost stays linear in the account.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from audits.iam import escalation, trust
from audits.iam.account import Account, Principal
from audits.iam.checks import Spec
from audits.iam.policy import arn_matches, statement_evidence


class _AssumeGrant(NamedTuple):
    resource: str
    not_resource: bool
    conditioned: bool

    def matches(self, arn: str) -> bool:
        return arn_matches(self.resource, arn) != self.not_resource


def _may_name_role(pattern: str) -> bool:
    """Whether a Resource pattern could match some IAM role ARN, judged by its text before any wildcard."""
    literal = re.split(r"[*?]", pattern, maxsplit=1)[0]
    if "arn:aws:iam::".startswith(literal):
        return True
    parts = literal.split(":", 5)
    if parts[:3] != ["arn", "aws", "iam"]:
        return False
    return len(parts) < 6 or parts[5].startswith("role/") or "role/".startswith(parts[5])


class Paths:
    def __init__(self, account: Account, account_id: str, admins: set[str]) -> None:
        self.account = account
        self.account_id = account_id
        self.admins = admins
        self.targets = self._escalation_targets()
        self._assume_graph()
        self.admin_hops = self._hops(sorted(a for a, kind in self.targets.items() if kind == "admin"))
        self.escalate_hops = self._hops(sorted(a for a, kind in self.targets.items() if kind != "admin"))
        self.admin_roles_by_service: dict[str, list[Principal]] = {}
        for r in self.account.roles:
            if r.arn in self.admins and not r.service_linked:
                for t in trust.trusted(r.entry):
                    if t.kind == "service":
                        self.admin_roles_by_service.setdefault(t.value, []).append(r)

    def _escalation_targets(self) -> dict[str, str]:
        """Roles worth reaching: administrators, and roles that can escalate by themselves."""
        out = {}
        for role in self.account.roles:
            if role.arn in self.admins:
                out[role.arn] = "admin"
            elif not role.service_linked and escalation.methods(self.account.permissions(role)):
                out[role.arn] = "can escalate"
        return out

    def _assume_graph(self) -> None:
        """Who may assume which role, indexed for the backwards search in escalation.nearest.

        A same-account trust naming a principal's ARN needs no identity permission; a trust of the whole account
        (or of '*') needs sts:AssumeRole allowed on the role. Principals are grouped by the statements that
        allow and deny them sts:AssumeRole, so ten thousand roles with one policy are matched once, not each.
        """
        roles_by_name = {r.name: r for r in self.account.roles}
        self._explicit: dict[str, list[tuple[str, bool]]] = {}  # role -> [(trusted principal, conditioned)]
        self._account_trust: dict[str, bool] = {}  # role -> conditioned, for account-root or '*' trusts
        for role in self.account.roles:
            if role.service_linked:
                continue
            for t in trust.trusted(role.entry):
                if t.kind == "aws" and (t.value.endswith(":root") or t.value.isdigit()):
                    if t.account == self.account_id or not self.account_id:
                        self._account_trust[role.arn] = self._account_trust.get(role.arn, True) and bool(
                            t.condition_keys)
                elif t.kind == "aws":
                    source = self._principal_arn(t.value, roles_by_name)
                    if source in self.account.by_arn:
                        self._explicit.setdefault(role.arn, []).append((source, bool(t.condition_keys)))
                elif t.kind == "any":
                    self._account_trust[role.arn] = self._account_trust.get(role.arn, True) and bool(t.condition_keys)
        self._groups: dict[tuple, list[str]] = {}
        for p in (*self.account.users, *self.account.roles):
            perms = self.account.permissions(p)
            grants = tuple(_AssumeGrant(r, s.not_resource, bool(s.condition))
                           for s in perms.resource_grants("sts:assumerole") for r in s.resources
                           if s.not_resource or _may_name_role(r))
            if grants:
                denies = tuple(sorted({r for d in perms.denies if d.matches("sts:assumerole") and not d.condition
                                       for r in d.resources}))
                self._groups.setdefault((tuple(sorted(set(grants))), denies), []).append(p.arn)
        # Groups that name roles exactly are found by ARN; only wildcard groups are tried against every role.
        self._exact: dict[str, list[tuple]] = {}
        self._wildcard: list[tuple] = []
        for key in self._groups:
            grants = key[0]
            if all(not g.not_resource and "*" not in g.resource and "?" not in g.resource for g in grants):
                for g in grants:
                    self._exact.setdefault(g.resource, []).append(key)
            else:
                self._wildcard.append(key)

    def _predecessors(self, role_arn: str, expanded: set[tuple]) -> list[tuple[str, bool]]:
        out = []
        for source, conditioned in self._explicit.get(role_arn, ()):
            if not self.account.permissions(self.account.by_arn[source]).denied_on("sts:assumerole", role_arn):
                out.append((source, conditioned))
        if role_arn in self._account_trust:
            for key in (*self._exact.get(role_arn, ()), *self._wildcard):
                if key in expanded:
                    continue
                grants, denies = key
                members = self._groups[key]
                matching = [g for g in grants if g.matches(role_arn)]
                if matching and not any(arn_matches(d, role_arn) for d in denies):
                    # BFS reaches every member at this same distance: the group never needs matching again.
                    expanded.add(key)
                    conditioned = self._account_trust[role_arn] or all(g.conditioned for g in matching)
                    out.extend((m, conditioned) for m in members if m != role_arn)
        return out

    def _hops(self, targets: list[str]) -> dict[str, escalation.Hop]:
        expanded: set[tuple] = set()
        return escalation.nearest(targets, lambda arn: self._predecessors(arn, expanded))

    @staticmethod
    def _principal_arn(value: str, roles_by_name: dict[str, Principal]) -> str:
        """An assumed-role session ARN stands for its role."""
        if ":assumed-role/" in value:
            role = roles_by_name.get(value.split(":assumed-role/", 1)[1].split("/", 1)[0])
            if role is not None:
                return role.arn
        return value

    def specs(self, p: Principal) -> list[Spec]:
        """The nearest administrator reachable by assuming roles (else the nearest escalating role), and an
        administrator role that iam:PassRole lets the principal hand to a service it can make run code."""
        specs = []
        for hops, kind, severity in ((self.admin_hops, "admin", "critical"),
                                     (self.escalate_hops, "can escalate", "high")):
            first = hops.get(p.arn)
            if first is None:
                continue
            shown = escalation.path_from(p.arn, hops)
            chain = [p.ref] + [self.account.by_arn[arn].ref for arn in shown]
            names = [f"{h['type']} {h['name']}" for h in chain]
            if shown[-1] != first.goal:  # a long chain: show its start and its end
                skipped = first.remaining - len(shown) - 1
                names += [f"... {skipped} more hop(s)", f"role {self.account.by_arn[first.goal].name}"]
                chain.append(self.account.by_arn[first.goal].ref)
            text = " -> ".join(names) + f" ({kind})"
            specs.append(Spec("assume_role_escalation", "", kind, f"Can become a more privileged role: {text}.",
                              {"path": text, "hops": chain, "length": first.remaining, "target": first.goal,
                               "target_kind": kind}, first.conditioned, severity))
            break
        passed = self._pass_role_path(p)
        if passed:
            specs.append(passed)
        return specs

    def _pass_role_path(self, p: Principal) -> Spec | None:
        if not self.admin_roles_by_service:
            return None
        perms = self.account.permissions(p)
        passing = perms.resource_grants("iam:passrole")
        if not passing:
            return None
        for hit in escalation.methods(perms):
            for service in hit.method.passes_to:
                for role in self.admin_roles_by_service.get(service, ()):
                    grants = [s for s in passing if s.resource_matches(role.arn)]
                    if not grants or perms.denied_on("iam:passrole", role.arn):
                        continue
                    text = (f"{p.type} {p.name} -> passes role {role.name} to {service} via {hit.method.name} "
                            "(admin)")
                    evidence = {"path": text, "hops": [p.ref, role.ref], "target": role.arn, "target_kind": "admin",
                                "method": escalation.method_evidence(hit),
                                "passrole_statements": statement_evidence(grants)}
                    conditioned = hit.conditioned or all(s.condition for s in grants)
                    return Spec("assume_role_escalation", "", "passrole",
                                f"Can act as an administrator role: {text}.", evidence, conditioned, "critical")
        return None

