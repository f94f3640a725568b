"""The principal graph: users and roles as nodes, "can gain the rights of" edges, and every principal's way to admin.

Admin-equivalent nodes are the administrators (the evaluator allows every action on every resource, PMapper's
definition), the principals that can make themselves administrator (a policy on oneself or one's group, a new
version of a held policy, dropping one's boundary, joining an admin group, a new role or user one controls), and
those that can raise the rights of a principal they can also become. A change to oneself that does not make one
administrator at once (joining a group that grants iam:*, dropping a boundary over an identity policy of iam:*) is
applied and the principal re-evaluated from its new state, to a fixpoint (edges.iam.self_chain), so the chain is
reported hop by hop. One search backwards from those nodes finds each principal's nearest way there (level by level,
in ARN order, so the route does not depend on the order candidates come in), asking the service families
(audits.iam.edges.*) only about candidates found through the index of allowed Resource patterns by action. A graph
built after a change (Previous) patches that index and reuses what the previous search found about unchanged
principals and targets.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from audits.iam import trust
from audits.iam.account import Account, Principal, is_aws_managed
from audits.iam.authz import Authz, Proof, matches
from audits.iam.edges import Edge, iam, sts
from audits.iam.edges.catalog import FAMILIES, INDEXED, METHODS
from audits.iam.evaluator import Subject
from audits.iam.layered import Layer

# Changes to oneself (the first action of each "self" method) and the writes that raise another principal's rights.
SELF_ACTIONS = tuple(dict.fromkeys(a for m in METHODS if m.kind == "self" for a in m.requires[0]))
MODIFY_ACTIONS = (
    tuple(m.requires[0][0] for kind in ("role", "user") for m, _ in iam.POLICY_WRITES[kind])
    + iam.CREATE_POLICY_VERSION.requires[0]
)
SELF_SET, MODIFY_SET = frozenset(SELF_ACTIONS), frozenset(MODIFY_ACTIONS)
# A target the previous graph expanded is asked again only about the changed principals and those placed before it
# then and not yet now; past this many, it is expanded from the index like a new one.
AGAIN_LIMIT = 64


@dataclass
class _Holders:
    exact: dict[str, list[Principal]] = field(default_factory=dict)
    wild: dict[str, list[Principal]] = field(default_factory=dict)
    negated: list[Principal] = field(default_factory=list)
    everyone: list[Principal] = field(default_factory=list)


@dataclass(frozen=True)
class _Trust:
    named: tuple[str, ...]  # principal ARNs of this account the trust names
    account_wide: bool  # trusts the account's root, its id, or any principal


@dataclass(frozen=True)
class Previous:
    """The graph before a change (audits.iam.incremental): what it found about principals the change left alone
    is taken from it rather than searched again."""

    graph: Graph
    dirty: frozenset[str]  # ARNs of principals whose policies, trust or existence changed (either side)
    self_same: bool  # no group's or managed policy's content changed: a change to oneself reaches what it did
    shrinks: bool = False  # the change only took rights away (audits.iam.incremental): none of anyone's grew


@dataclass(frozen=True)
class Escalation:
    principal: str
    path: tuple[Edge, ...]  # hop by hop; empty for an administrator
    proof: Proof  # every decision along the way
    target: str  # the administrator (or admin-equivalent principal) at the end

    @property
    def admin(self) -> bool:
        return not self.path

    @property
    def method(self) -> str:
        return " -> ".join(dict.fromkeys(e.method for e in self.path)) or "administrator"

    @property
    def hops(self) -> int:
        return len(self.path)


def _slot(pattern: str, negated: bool) -> tuple[str, str]:
    """Where the index files a holder of this Resource pattern: ("negated" | "wild" | "exact", key)."""
    if negated:
        return "negated", ""
    if "*" in pattern or "?" in pattern or "${" in pattern:
        return "wild", pattern.split("${", 1)[0] + "*" if "${" in pattern else pattern
    return "exact", pattern


def unique(principals: Iterable[Principal]) -> list[Principal]:
    return list({p.arn: p for p in principals}.values())


class Graph:
    def __init__(
        self,
        account: Account,
        authz: Authz,
        credential_rows: dict[str, dict] | None = None,
        previous: Previous | None = None,
    ) -> None:
        self.account = account
        self.previous = previous
        self.authz = authz
        self.account_id = authz.account_id
        self.rows = credential_rows or {}
        base = previous.graph if previous is not None else None
        self.users = list(account.users)
        self.roles: list[Principal]
        self.nodes: dict[str, Principal]
        self._rank: dict[str, int]
        self.policy_holders: dict[str, list[Principal]]
        # The index lists principals in node order, whatever the grouping below: a graph patched from the one
        # before a change (previous) then lists them exactly as one built from scratch.
        if base is not None and previous is not None and account.base is base.account:
            # The account was patched in place (same principals in the same places): so is what follows from it.
            self.roles, self.nodes, self._rank = list(base.roles), dict(base.nodes), base._rank
            for _, now in account.replaced:
                if now.arn in self.nodes:
                    self.nodes[now.arn] = now
                    if now.type == "role":
                        self.roles[base._rank[now.arn] - len(self.users)] = now
            self.policy_holders = account.holders_after(
                base.policy_holders,
                previous.dirty,
                keep=lambda arn: not is_aws_managed(arn),
                listed=lambda p: not p.service_linked,
            )
        else:
            self.roles = [r for r in account.roles if not r.service_linked]
            self.nodes = {p.arn: p for p in (*self.users, *self.roles)}
            self._rank = {arn: i for i, arn in enumerate(self.nodes)}
            self.policy_holders = {}
            for p in self.nodes.values():
                for arn in account.holdings(p):
                    if not is_aws_managed(arn):
                        self.policy_holders.setdefault(arn, []).append(p)
        self._holders: dict[str, _Holders] = defaultdict(_Holders)
        self._indexed: set[str] = set()
        self._holder_sets: dict[tuple, set[str]] = {}
        # Principals whose policies are the same objects (and read no principal key) share pattern answers.
        # A graph patched from the previous one never indexes from scratch, and reads principals one by one.
        self._alike: dict[tuple, list[Principal]] = {}
        for p in self.nodes.values() if previous is None else ():
            subject = self.subject(p)
            dependent = any(s.subject_dependent for s in subject.identity)
            key = (id(subject.identity), id(subject.boundary), p.arn if dependent else p.type)
            self._alike.setdefault(key, []).append(p)
        self._trust: dict[str, tuple] = {}
        self._trust_index: dict[str, _Trust] = {}
        self._services: dict[str, frozenset[str]] = {}
        self._requirements: dict[tuple, tuple[Proof, tuple[str, ...]] | None] = {}
        self._candidate_cache: dict[tuple[str, str], set[str]] = {}
        self._pending: dict[tuple, _Holders] = {}
        self._able: dict[tuple, set[str]] = {}
        self._unescalated: dict[tuple, list[Principal]] = {}
        self._all_candidates: dict[tuple, list[Principal]] = {}
        self.pass_refused: set[tuple[str, str]] = set()  # (principal, service) it may pass no role to
        self.pass_open: set[tuple[str, str]] = set()  # (principal, service) asked and not refused whatever the role
        self.admin_proofs: dict[str, Proof] = {}
        self.escalations: dict[str, Escalation] = {}
        self.self_states: dict = {}  # hypothetical states of principals changing themselves (edges.iam.self_chain)
        self._admin_if_granted: dict[str, Proof] = {}
        # Each principal's own way to admin (None: none), found before the search; kept for the next graph.
        self._self_routes: dict[str, Escalation | None] = {}
        self._modify_routes: dict[str, Escalation | None] = {}
        self._dirty_holder: bool | None = None
        # The search, for the next graph: who each target placed, the clock when it was expanded, and when each
        # principal was placed (0: a first route); principals placed before but not yet now (previous only).
        self._claims: dict[str, list[tuple[Principal, Edge]]] = {}
        self._opened: dict[str, int] = {}
        self._stamp: dict[str, int] = {}
        self._lost: set[str] = set()
        self._dirty_nodes: list[str] = []
        self.reusable = True  # its search is recorded for a graph built from it (_build_shrunk keeps no record)
        self._views: dict[str, Graph] = {}
        self._source_families: dict[str, tuple] = {}
        self._services_of: dict[tuple[str, str], frozenset[str] | None] = {}
        if previous is not None:
            self._take_over(previous)
        self._build()

    # --- what the families ask --------------------------------------------------------------------------------

    def subject(self, p: Principal):
        return self.authz.subject(p)

    def admin_if_granted(self, p: Principal) -> Proof:
        # Asked per target by every principal that could rewrite a policy the target holds: once per target.
        found = self._admin_if_granted.get(p.arn)
        if found is None:
            found = self._admin_if_granted[p.arn] = self.authz.admin_if_granted(p)
        return found

    def _credential_row(self, user: Principal) -> dict | None:
        return self.rows.get(user.arn) or self.rows.get(user.name)

    def login_profile(self, user: Principal) -> bool | None:
        row = self._credential_row(user)
        if row is None or row.get("password_enabled") not in ("true", "false"):
            return None
        return row["password_enabled"] == "true"

    def access_keys(self, user: Principal) -> int | None:
        """The user's access keys by the credential report (inactive ones count toward AWS's limit of two)."""
        row = self._credential_row(user)
        if row is None:
            return None
        return sum(row.get(f"access_key_{n}_last_rotated") not in (None, "", "N/A") for n in (1, 2))

    def trust_statements(self, role: Principal) -> tuple:
        found = self._trust.get(role.arn)
        if found is None:
            found = self._trust[role.arn] = self.authz.compile(
                role.entry.get("AssumeRolePolicyDocument"), f"role/{role.name}:trust", "trust"
            )
        return found

    def trust_index(self, role: Principal) -> _Trust:
        found = self._trust_index.get(role.arn)
        if found is None:
            named, wide = [], False
            for t in trust.trusted(role.entry):
                if t.kind == "any":
                    wide = True
                elif t.kind == "aws":
                    if t.value.endswith(":root") or t.value.isdigit():
                        wide = wide or t.account == self.account_id
                    else:
                        named.append(self._principal_arn(t.value))
            found = self._trust_index[role.arn] = _Trust(tuple(named), wide)
        return found

    def _principal_arn(self, value: str) -> str:
        """An assumed-role session ARN stands for its role."""
        if ":assumed-role/" in value:
            name = value.split(":assumed-role/", 1)[1].split("/", 1)[0]
            for r in self.roles:
                if r.name == name:
                    return r.arn
        return value

    def services_trusted(self, role: Principal) -> frozenset[str]:
        """The services the trust lets assume the role for this account: one it names but whose conditions
        cannot hold here (aws:SourceAccount of another account) or that a Deny refuses cannot run the role."""
        found = self._services.get(role.arn)
        if found is None:
            named = {t.value.lower() for t in trust.trusted(role.entry) if t.kind == "service"}
            keys = {"aws:principalisawsservice": "true"}
            if self.account_id:
                keys["aws:sourceaccount"] = self.account_id
            found = self._services[role.arn] = frozenset(
                service
                for service in named
                if self.authz.decide(
                    Subject(arn=service, type="service"),
                    "sts:assumerole",
                    role.arn,
                    keys,
                    resource_policy=self.trust_statements(role),
                ).possible
            )
        return found

    def has_instance_profile(self, role: Principal) -> bool:
        profiles = role.entry.get("InstanceProfileList")
        return True if profiles is None else bool(profiles)  # absent from the export: cannot tell, assume so

    def holders(self, action: str) -> _Holders:
        if action not in self._indexed:
            if self.previous is not None:
                self._patch(action)
            else:
                self._index(frozenset({action} | INDEXED))
        return self._holders[action]

    def _index(self, actions: frozenset[str]) -> None:
        """Who holds which Resource patterns for these actions: one pass over the distinct policy sets, asking
        only about the actions each set could allow at all."""
        actions = actions - self._indexed
        self._indexed |= actions
        for members in self._alike.values():
            subject = self.subject(members[0])
            for action in self.authz.interesting(subject, actions):
                patterns = self.authz.patterns(subject, action)
                if not patterns:
                    continue
                found = self._holders[action]
                found.everyone.extend(members)
                for pattern, negated in patterns:
                    kind, key = _slot(pattern, negated)
                    if kind == "negated":
                        found.negated.extend(members)
                    else:
                        getattr(found, kind).setdefault(key, []).extend(members)
        for action in actions:
            if action in self._holders:
                self._order(self._holders[action])

    def _order(self, h: _Holders, lists: Iterable[list[Principal]] | None = None) -> None:
        """Principals in node order, patterns by their first holder: the same index however it was built."""
        rank = self._rank
        for ps in lists if lists is not None else (*h.exact.values(), *h.wild.values(), h.negated, h.everyone):
            ps.sort(key=lambda p: rank[p.arn])
        h.wild = dict(sorted(h.wild.items(), key=lambda item: (rank[item[1][0].arn], item[0])))

    def _slots(self, p: Principal, action: str) -> list[tuple[str, str]]:
        """The index entries of p for this action (one per pattern, and one in "everyone")."""
        subject = self.subject(p)
        if not self.authz.interesting(subject, frozenset({action})):
            return []
        patterns = self.authz.patterns(subject, action)
        return [("everyone", ""), *(_slot(pattern, negated) for pattern, negated in patterns)] if patterns else []

    def _patch(self, action: str) -> None:
        """The previous graph's index for this action, less the entries of the principals the change touched,
        plus their entries now: equal to _index's, list by list (both in node order)."""
        assert self.previous is not None
        base, dirty = self.previous.graph, self.previous.dirty
        old = base.holders(action)
        self._indexed.add(action)
        h = self._holders[action] = _Holders(dict(old.exact), dict(old.wild), old.negated, old.everyone)
        entries = [(slot, p) for a in dirty if (p := self.nodes.get(a)) for slot in self._slots(p, action)]
        slots = {slot for a in dirty if (p := base.nodes.get(a)) for slot in base._slots(p, action)}
        slots.update(slot for slot, _ in entries)
        if not slots:
            return
        lists: dict[tuple[str, str], list[Principal]] = {}
        for kind, key in slots:
            found = getattr(h, kind) if kind in ("negated", "everyone") else getattr(h, kind).get(key, ())
            lists[(kind, key)] = [p for p in found if p.arn not in dirty]
        for slot, p in entries:
            lists[slot].append(p)
        for (kind, key), ps in lists.items():
            if kind in ("negated", "everyone"):
                setattr(h, kind, ps)
            elif ps:
                getattr(h, kind)[key] = ps
            else:
                getattr(h, kind).pop(key, None)
        self._order(h, lists.values())

    def candidates(self, action: str, arn: str, among: set[str] | None = None) -> list[Principal]:
        """Principals with an allowing statement whose Resource could match `arn` (the evaluator decides);
        `among`: only these ARNs (e.g. those that also hold the service's create action)."""
        h = self.holders(action)
        out: dict[str, Principal] = {}
        groups = [h.exact.get(arn, ()), h.negated, *(ps for pattern, ps in h.wild.items() if matches(pattern, arn))]
        for ps in groups:
            for p in ps:
                if (among is None or p.arn in among) and p.arn not in self.escalations:
                    out[p.arn] = p
        return list(out.values())

    def pending_candidates(self, action: str, arn: str, key: tuple, among: set[str]) -> list[Principal]:
        """candidates() for a search that asks about many targets with the same `among` (named by key).

        The holders are cut down to `among` once, and each call drops those that have escalated meanwhile, so
        asking about every target costs what is left to find, not targets x holders."""
        h = self._pending.get((action, key))
        if h is None:
            full = self.holders(action)
            h = self._pending[(action, key)] = _Holders(
                exact={a: kept for a, ps in full.exact.items() if (kept := [p for p in ps if p.arn in among])},
                wild={pat: kept for pat, ps in full.wild.items() if (kept := [p for p in ps if p.arn in among])},
                negated=[p for p in full.negated if p.arn in among],
            )
        escalated = self.escalations
        out = {p.arn: p for p in h.exact.get(arn, ()) if p.arn not in escalated}
        h.negated[:] = [p for p in h.negated if p.arn not in escalated]
        out.update((p.arn, p) for p in h.negated)
        for pattern, ps in h.wild.items():
            if matches(pattern, arn):
                ps[:] = [p for p in ps if p.arn not in escalated]
                out.update((p.arn, p) for p in ps)
        return list(out.values())

    def unescalated(self, key: tuple, principals: Callable[[], list[Principal]]) -> list[Principal]:
        """principals() (found once per key) less those that have escalated since, who are dropped for good."""
        found = self._unescalated.get(key)
        if found is None:
            found = self._unescalated[key] = principals()
        found[:] = [p for p in found if p.arn not in self.escalations]
        return list(found)

    def able(self, key: tuple, among: Iterable[str], requirements: tuple[tuple[tuple[str, ...], ...], ...]) -> set[str]:
        """The ARNs of `among` that meet one of the requirement lists on resources of their choosing (cached)."""
        found = self._able.get(key)
        if found is None:
            prev = self.previous
            if prev is not None and key in prev.graph._able:
                # `among` comes from the index, which differs from the previous one only by changed principals.
                dirty = prev.dirty
                kept = {arn for arn in prev.graph._able[key] if arn not in dirty}
                among = [arn for arn in dirty if arn in among]
            else:
                kept = set()
            found = self._able[key] = kept | {
                arn for arn in among if any(self.requirements(self.nodes[arn], r) is not None for r in requirements)
            }
        return found

    def all_candidates(self, action: str, arn: str) -> list[Principal]:
        h = self.holders(action)
        wild = tuple(pattern for pattern in h.wild if matches(pattern, arn))
        # Roles whose ARNs match the same patterns (every role under "*" and ".../role/*") share one list.
        key = (action, arn if arn in h.exact else None, wild)
        found = self._all_candidates.get(key)
        if found is None:
            groups = [h.exact.get(arn, ()), h.negated, *(h.wild[pattern] for pattern in wild)]
            found = self._all_candidates[key] = unique(p for ps in groups for p in ps)
        return found

    def holder_arns(self, actions: Iterable[str]) -> set[str]:
        key = tuple(actions)
        found = self._holder_sets.get(key)
        if found is None:
            found = self._holder_sets[key] = {p.arn for a in key for p in self.holders(a).everyone}
        return found

    def holders_of(self, actions: Iterable[str]) -> list[Principal]:
        return unique(p for a in actions for p in self.holders(a).everyone)

    def targets(self, p: Principal, action: str, pool: list[Principal]) -> list[Principal]:
        patterns = self.authz.patterns(self.subject(p), action)
        if not patterns:
            return []
        if any(neg or pattern == "*" for pattern, neg in patterns):
            return pool
        return [t for t in pool if any(matches(pattern, t.arn) for pattern, _ in patterns)]

    def requirements(self, p: Principal, requires: tuple[tuple[str, ...], ...]) -> tuple[Proof, tuple[str, ...]] | None:
        """Every requirement met on a resource of p's choosing (an alternative per tuple), or None."""
        subject = self.subject(p)
        if not self.authz.may(subject, frozenset(requires[0])):
            return None
        key = (p.arn, requires)
        if key in self._requirements:
            return self._requirements[key]
        decisions, chosen = [], []
        for alternatives in requires:
            options = [
                (a, d)
                for a in alternatives
                if self.authz.patterns(subject, a) and (d := self.authz.can_create(subject, a)) is not None
            ]
            if not options:
                self._requirements[key] = None
                return None
            action, decision = min(options, key=lambda o: o[1].verdict != "allowed")
            decisions.append(decision)
            chosen.append(action)
        found = self._requirements[key] = (Proof(tuple(decisions)), tuple(chosen))
        return found

    # --- the search ---------------------------------------------------------------------------------------------

    def _build(self) -> None:
        """Breadth first from the admin-equivalent nodes, one level at a time in ARN order: a principal's route
        goes through the first target of the nearest level that it can reach (the first family that proves it),
        whatever order the index offered candidates in, so a graph built from the previous one can reuse what
        each target found there."""
        prev = self.previous
        if prev is not None and prev.shrinks and prev.graph.reusable:
            self._build_shrunk(prev)
            return
        routes = self._first_routes() if self.previous is None else self._first_routes_again()
        self.escalations = {arn: routes[arn] for arn in sorted(routes)}
        self._stamp = dict.fromkeys(self.escalations, 0)
        if self.previous is not None:
            base = self.previous.graph
            self._lost = {a for a in base.escalations if a in self.nodes and a not in self.escalations}
            self._lost -= self.previous.dirty
            self._dirty_nodes = sorted(a for a in self.previous.dirty if a in self.nodes)
        # A route equal to the previous graph's (the same edge onto the same route) is that route, not a copy.
        before = self.previous.graph.escalations if self.previous is not None else {}
        clock = 0
        level = list(self.escalations)
        while level:
            found = []
            for target_arn in level:
                target = self.nodes[target_arn]
                after = self.escalations[target_arn]
                same_tail = before.get(target_arn) is after
                self._opened[target_arn] = clock
                claims = self._claims[target_arn] = []
                for source, e in self._expand(target):
                    clock += 1
                    self._stamp[source.arn] = clock
                    self._lost.discard(source.arn)
                    claims.append((source, e))
                    old = before.get(source.arn) if same_tail else None
                    if old is not None and old.path and old.path[0] is e:
                        self.escalations[source.arn] = old
                    else:
                        self.escalations[source.arn] = Escalation(
                            source.arn, (e, *after.path), e.proof + after.proof, after.target
                        )
                    found.append(source.arn)
            level = sorted(found)

    def _build_shrunk(self, prev: Previous) -> None:
        """The search after a change that only took rights away (Previous.shrinks): a route that passes through no
        changed principal is still the route a fresh search finds (every edge on it holds, levels only grow, and an
        edge to a target opened earlier did not exist before either), so only the principals whose route passed
        through a changed one are placed again, level by level in the same order as _build, each asked only at the
        targets it could reach then: those opened from its former claimant on. The graph's record of the search
        is not kept, so it is not the previous graph of another (reusable)."""
        base = prev.graph
        self.reusable = False
        routes = self._first_routes_again()
        changed = set(prev.dirty)
        changed.update(arn for arn, route in routes.items() if base.escalations.get(arn) is not route)
        changed.update(arn for arn, stamp in base._stamp.items() if stamp == 0 and arn not in routes)
        again = {
            arn
            for arn, route in base.escalations.items()
            if arn in changed or route.target in changed or any(e.target in changed for e in route.path)
        }
        escalations = {arn: route for arn, route in base.escalations.items() if arn not in again}
        levels: dict[int, list[str]] = defaultdict(list)
        level_of: dict[str, int] = {}

        def level(arn: str) -> int:
            found = level_of.get(arn)
            if found is None:
                route = base.escalations[arn]
                found = level_of[arn] = 0 if base._stamp[arn] == 0 else level(route.path[0].target) + 1
            return found

        for arn in escalations:
            levels[level(arn)].append(arn)
        for arn in sorted(again & routes.keys()):
            escalations[arn] = routes[arn]
            levels[0].append(arn)
        # Rights only went: one who did not escalate before cannot now.
        waiting = sorted(a for a in again if a not in escalations and a in self.nodes)
        # Where each was placed before: its stamp, and the target that placed it (none at level 0).
        placed_by = {a: base.escalations[a].path[0].target if base._stamp[a] else None for a in waiting}
        depth = 0
        while waiting and levels and depth <= max(levels):
            placed = []
            for target_arn in sorted(levels.get(depth, ())):
                target, after = self.nodes[target_arn], escalations[target_arn]
                opened = base._opened.get(target_arn) if target_arn not in again else None
                for arn in waiting:
                    if arn in escalations or arn == target_arn:
                        continue
                    if opened is not None and opened < base._stamp[arn] and target_arn != placed_by[arn]:
                        continue  # it was asked there before, with more rights, and had no edge
                    e = self._edge_alone(self.nodes[arn], target)
                    if e is not None:
                        escalations[arn] = Escalation(arn, (e, *after.path), e.proof + after.proof, after.target)
                        placed.append(arn)
            waiting = [a for a in waiting if a not in escalations]
            if placed:
                levels[depth + 1].extend(placed)
            depth += 1
        self.escalations = escalations

    def _edge_alone(self, source: Principal, target: Principal) -> Edge | None:
        """The first family's edge from source to target, asking only about source."""
        for family in self._families_of(source):
            services = self._services_run(source, family)
            if services is not None and (target.type != "role" or services.isdisjoint(self.services_trusted(target))):
                continue  # it runs no code as a role this one trusts to
            if any(c.arn == source.arn for c in family.candidates(self._alone(source), target)):
                e = family.edge(self, source, target)
                if e is not None:
                    return e
        return None

    def _expand(self, target: Principal) -> Iterator[tuple[Principal, Edge]]:
        """The principals not yet placed that can become the target, each with the first family's edge (taken
        as they come: the caller places each before the next is asked)."""
        prev = self.previous
        if prev is not None and target.arn not in prev.dirty and target.arn in prev.graph._opened:
            again = self._expand_again(target, prev)
            if again is not None:
                yield from again
                return
        for family in FAMILIES:
            for source in unique(family.candidates(self, target)):
                if source.arn in self.escalations or source.arn == target.arn:
                    continue
                e = family.edge(self, source, target)
                if e is not None:
                    yield source, e

    def _expand_again(self, target: Principal, prev: Previous) -> Iterator[tuple[Principal, Edge]] | None:
        """_expand for an unchanged target the previous graph expanded: its edges from unchanged principals are
        the same, so of those it asks only about the ones that were already placed when the previous graph
        expanded it (the rest it found then, or they cannot become it); changed principals are asked afresh.
        None when too many were placed then and are not yet now (expanding from the index is cheaper)."""
        base, dirty = prev.graph, prev.dirty
        opened = base._opened[target.arn]
        fresh = sorted(a for a in self._lost if base._stamp[a] <= opened)
        if len(fresh) + len(self._dirty_nodes) > AGAIN_LIMIT:
            return None
        fresh += self._dirty_nodes

        def found() -> Iterator[tuple[Principal, Edge]]:
            for source, e in base._claims[target.arn]:
                if source.arn not in dirty and source.arn not in self.escalations:
                    yield source, e
            for arn in fresh:
                if arn in self.escalations or arn == target.arn:
                    continue
                edge = self._edge_alone(self.nodes[arn], target)
                if edge is not None:
                    yield self.nodes[arn], edge

        return found()

    def _services_run(self, p: Principal, family) -> frozenset[str] | None:
        """For a family of PassRole and takeover methods (audits.iam.edges.passrole.family): the services whose
        methods p meets every requirement of; a role trusting none of them is no target of p's by that family.
        None for the other families."""
        key = (p.arn, family.__name__)
        if key not in self._services_of:
            methods = (*getattr(family, "PASS_METHODS", ()), *getattr(family, "TAKEOVERS", ()))
            self._services_of[key] = (
                frozenset(m.service for m in methods if self.requirements(p, m.requires) is not None)
                if methods and family.candidates.__module__ == "audits.iam.edges.passrole"
                else None
            )
        return self._services_of[key]

    def _families_of(self, p: Principal) -> tuple:
        """The families that could give p an edge to some target: p's policies allow an action of every
        requirement of one of their methods (an edge needs them all). AssumeRole is always asked: a trust that
        names p admits it whatever its own policies say."""
        found = self._source_families.get(p.arn)
        if found is None:
            subject = self.subject(p)

            def holds(requirements: tuple[tuple[str, ...], ...]) -> bool:
                return all(any(self.authz.patterns(subject, a) for a in alternatives) for alternatives in requirements)

            found = self._source_families[p.arn] = tuple(
                f for f in FAMILIES if f is sts or any(holds(m.all_requirements) for m in f.METHODS)
            )
        return found

    def _alone(self, p: Principal) -> Graph:
        """This graph with p alone in the index and nobody placed: whether the families offer p for a target
        depends only on p's own entries and the target, so it is asked here without reading every holder."""
        view = self._views.get(p.arn)
        if view is None:
            view = self._views[p.arn] = copy.copy(self)
            view.previous = None
            view._alike = {(): [p]}
            view.escalations = {}
            view._holders, view._indexed, view._holder_sets = defaultdict(_Holders), set(), {}
            view._pending, view._able, view._unescalated, view._all_candidates = {}, {}, {}, {}
            view._candidate_cache, view._views = {}, {}
        return view

    def _first_routes(self) -> dict[str, Escalation]:
        """Administrators, and those who can make themselves administrator or raise a principal they can become."""
        routes: dict[str, Escalation] = {}
        for p in self.nodes.values():
            proof = self.authz.admin(self.subject(p))
            if proof.possible:
                self.admin_proofs[p.arn] = proof
                routes[p.arn] = Escalation(p.arn, (), proof, p.arn)
        for members in self._alike.values():
            subject = self.subject(members[0])
            may_self = self.authz.may(subject, SELF_SET)
            may_modify = self.authz.may(subject, MODIFY_SET)
            if not may_self and not may_modify:
                continue
            for p in members:
                if p.arn in routes:
                    continue
                route = (self._own_route(p) if may_self else None) or (self._raising_route(p) if may_modify else None)
                if route is not None:
                    routes[p.arn] = route
        return routes

    def _first_routes_again(self) -> dict[str, Escalation]:
        """_first_routes, reading from the previous graph whether an unchanged principal is administrator and
        which of its own ways it has (they read only its own policies)."""
        assert self.previous is not None
        base, dirty = self.previous.graph, self.previous.dirty
        routes: dict[str, Escalation] = {}
        # An unchanged principal that was not administrator and had neither way of its own to ask has none now:
        # only the changed ones and those with a way to ask again are visited (in node order, as a fresh build).
        asked_before = base._self_routes.keys() | base._modify_routes.keys() | base.admin_proofs.keys()
        rank = self._rank
        visit = sorted({a for a in (*dirty, *asked_before) if a in self.nodes}, key=rank.__getitem__)
        for p in (self.nodes[a] for a in visit):
            clean = p.arn not in dirty
            proof = base.admin_proofs.get(p.arn) if clean else self.authz.admin(self.subject(p))
            if proof is not None and proof.possible:
                self.admin_proofs[p.arn] = proof
                kept = base.escalations.get(p.arn) if clean else None
                if kept is None or kept.proof is not proof:
                    kept = Escalation(p.arn, (), proof, p.arn)
                routes[p.arn] = kept
                continue
            may_self = p.arn in base._self_routes if clean else self.authz.may(self.subject(p), SELF_SET)
            route = self._own_route(p) if may_self else None
            if route is not None:
                routes[p.arn] = route
                continue
            # Its own way was found before, so whether it may raise others was never asked.
            asked = clean and base._self_routes.get(p.arn) is None
            if p.arn in base._modify_routes if asked else self.authz.may(self.subject(p), MODIFY_SET):
                route = self._raising_route(p)
                if route is not None:
                    routes[p.arn] = route
        return routes

    def _own_route(self, p: Principal) -> Escalation | None:
        """_self_route, kept from the previous graph when neither p nor any group or managed policy changed (a
        change to oneself reads only those)."""
        prev = self.previous
        if prev is not None and prev.self_same and p.arn not in prev.dirty and p.arn in prev.graph._self_routes:
            found = prev.graph._self_routes[p.arn]
        else:
            found = self._self_route(p)
        self._self_routes[p.arn] = found
        return found

    def _raising_route(self, p: Principal) -> Escalation | None:
        """_modify_route, kept from the previous graph when p is unchanged and could raise no changed principal:
        it reads only p and the targets p may write to (their rights, trust and whether p can become them).

        When p could raise a changed principal, only those are asked again: every unchanged target placed before
        the previous answer's target in modify_edges' order failed then and fails now (each check reads p and that
        target alone), and the previous answer still holds, so the first success among the changed targets and
        the previous one is what a fresh search would return."""
        prev = self.previous
        before = prev.graph._modify_routes.get(p.arn) if prev is not None else None
        if prev is None or p.arn in prev.dirty or p.arn not in prev.graph._modify_routes:
            found = self._modify_route(p)
        elif prev.shrinks and (before is None or before.target not in prev.dirty):
            # Rights only went: a target that could not be raised still cannot (no one's rights grew), and the
            # previous answer reads p and an unchanged target, so it holds; only a changed target asks again.
            found = before
        elif not self._meets(p):
            found = prev.graph._modify_routes[p.arn]
        else:
            if len(prev.dirty) > AGAIN_LIMIT or (before is not None and before.target in prev.dirty):
                found = self._modify_route(p)
            else:
                found = self._modify_route(p, within=prev.dirty | ({before.target} if before else set()))
        self._modify_routes[p.arn] = found
        return found

    def _meets(self, p: Principal) -> bool:
        """Could p's policy writes (modify_edges) name a principal the change touched?"""
        assert self.previous is not None
        base, dirty = self.previous.graph, self.previous.dirty
        if len(dirty) > AGAIN_LIMIT:
            return True  # a change to many (a group's members, a policy's holders): search again
        subject = self.subject(p)
        for action in MODIFY_ACTIONS:
            patterns = self.authz.patterns(subject, action)
            if not patterns:
                continue
            if action == "iam:createpolicyversion":
                if self._dirty_holder is None:
                    # Does a changed principal hold a customer-managed policy, before or now?
                    self._dirty_holder = any(
                        not is_aws_managed(arn)
                        for graph in (self, base)
                        for t in dirty
                        if t in graph.nodes
                        for arn in graph.account.holdings(graph.nodes[t])
                    )
                if self._dirty_holder:
                    return True
            elif any(negated or matches(pattern, arn) for pattern, negated in patterns for arn in dirty):
                return True
        return False

    def _take_over(self, previous: Previous) -> None:
        """Caches of the previous graph that read one principal (or role) only, less those of changed ones."""
        base, dirty = previous.graph, previous.dirty
        self._requirements = Layer(base._requirements, lambda key: key[0] in dirty)
        self._admin_if_granted = Layer(base._admin_if_granted, dirty.__contains__)
        self._trust = Layer(base._trust, dirty.__contains__)
        self._services = Layer(base._services, dirty.__contains__)
        same_names = self.account.base is base.account or [r.name for r in self.roles] == [r.name for r in base.roles]
        if same_names:  # session ARNs resolve by role name
            self._trust_index = Layer(base._trust_index, dirty.__contains__)
        self.pass_refused = {key for key in base.pass_refused if key[0] not in dirty}
        self.pass_open = {key for key in base.pass_open if key[0] not in dirty}

    def _self_route(self, p: Principal) -> Escalation | None:
        edges = iam.self_edges(self, p)
        if edges:
            best = min(edges, key=lambda e: e.proof.verdict != "allowed")
            return Escalation(p.arn, (best,), best.proof, p.arn)
        # No single change makes it administrator: follow its changes to itself to a fixpoint, hop by hop.
        chain = iam.self_chain(self, p)
        if chain is None:
            return None
        proof = chain[0].proof
        for e in chain[1:]:
            proof = proof + e.proof
        return Escalation(p.arn, chain, proof, p.arn)

    def _modify_route(self, p: Principal, within: Iterable[str] | None = None) -> Escalation | None:
        """within: only these targets are asked about (_raising_route knows the others fail)."""
        asked = None if within is None else frozenset(within)

        def reachable(target: Principal) -> bool:
            if asked is not None and target.arn not in asked:
                return False
            return any(p.arn in self._candidate_arns(family, target) for family in FAMILIES)

        for change in iam.modify_edges(self, p, reachable, asked):
            target = self.nodes.get(change.target)
            if target is None:
                continue
            raised = self.admin_if_granted(target)
            if not raised.possible:
                continue
            for family in FAMILIES:
                if p.arn not in self._candidate_arns(family, target):
                    continue
                gain = family.edge(self, p, target)
                if gain is not None:
                    return Escalation(p.arn, (change, gain), change.proof + raised + gain.proof, target.arn)
        return None

    def _candidate_arns(self, family, target: Principal) -> set[str]:
        key = (family.__name__, target.arn)
        found = self._candidate_cache.get(key)
        if found is None:
            found = self._candidate_cache[key] = {c.arn for c in family.candidates(self, target)}
        return found

    def escalation(self, arn: str) -> Escalation | None:
        return self.escalations.get(arn)
