"""The snapshot seen as principals: who holds which policies (what they allow is the evaluator's to say)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from audits.iam import arns

ADMIN_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
# The one AWS-managed policy we can stand in for when an export leaves it out: its content is fixed by AWS.
_KNOWN_AWS_DOCS = {ADMIN_POLICY_ARN: {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}


@dataclass
class Principal:
    type: str  # user | role | group | policy | account
    name: str
    arn: str
    entry: dict = field(default_factory=dict, repr=False)
    inline: list[tuple[str, dict | None]] = field(default_factory=list, repr=False)
    managed: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    boundary: str | None = None

    @property
    def ref(self) -> dict:
        return {"type": self.type, "name": self.name, "arn": self.arn}

    @cached_property
    def service_linked(self) -> bool:  # asked of every role by every graph; an entry is never changed in place
        return self.type == "role" and str(self.entry.get("Path", "")).startswith("/aws-service-role/")


def dicts_of(value: object) -> list[dict]:
    """The dict items of a list field (or a lone dict); anything else is no items."""
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def is_aws_managed(arn: str) -> bool:
    return ":aws:policy/" in arn


def default_document(policy: dict) -> dict | None:
    versions = dicts_of(policy.get("PolicyVersionList"))
    default_id = policy.get("DefaultVersionId")
    for v in versions:
        if v.get("IsDefaultVersion") or (default_id and v.get("VersionId") == default_id):
            return v.get("Document")
    return versions[0].get("Document") if versions else None


class Account:
    def __init__(self, snapshot, known: dict[int, Principal] | None = None) -> None:
        """known: principals to reuse, by id() of their entry (audits.iam.incremental: entries a change left as
        they were)."""
        self.snapshot = snapshot
        self.policies: dict[str, dict] = {p["Arn"]: p for p in snapshot.policies if isinstance(p.get("Arn"), str)}
        reuse = (known or {}).get
        self.users = [reuse(id(u)) or self._principal("user", u, "UserName", "UserPolicyList") for u in snapshot.users]
        self.roles = [reuse(id(r)) or self._principal("role", r, "RoleName", "RolePolicyList") for r in snapshot.roles]
        self.groups = [
            reuse(id(g)) or self._principal("group", g, "GroupName", "GroupPolicyList") for g in snapshot.groups
        ]
        self.groups_by_name = {g.name: g for g in self.groups}
        self.by_arn = {p.arn: p for p in (*self.users, *self.roles, *self.groups)}
        self.missing_policies: set[str] = set()
        self.attachments: dict[str, list[Principal]] = {}
        self._unknown_boundaries: list[tuple[Principal, str]] = []
        for p in (*self.users, *self.roles, *self.groups):
            for arn in p.managed:
                self.attachments.setdefault(arn, []).append(p)
                if not self.knows(arn):
                    self.missing_policies.add(arn)
            self._drop_unknown_boundary(p)
        self._doc_keys: dict[int, str] = {}  # by id(): documents live as long as the snapshot
        self._keys: dict[tuple[str, str], tuple] = {}
        self.base: Account | None = None  # the account patched() built this one from
        self._role_arns_matching: dict[str, list[str]] = {}
        self._role_arns_matching_set: dict[str, frozenset[str]] = {}
        self.replaced: list[tuple[Principal, Principal]] = []  # (before, now): set by patched()

    def _drop_unknown_boundary(self, p: Principal) -> None:
        if p.boundary and not self.knows(p.boundary):
            # An unknown boundary is ignored rather than read as "allows nothing": an audit should over-report.
            self.missing_policies.add(p.boundary)
            self._unknown_boundaries.append((p, p.boundary))
            p.boundary = None

    @classmethod
    def patched(cls, base: Account, snapshot, touched: Iterable[str] | None = None) -> Account | None:
        """The account of `snapshot`, a what-if of base.snapshot (audits.iam.whatif) that replaced entries in place
        and deleted no managed policy: base's principals and indexes, with those of the replaced entries read again,
        so the cost is the change's rather than the account's. None when entries were added or removed, renamed (or
        made service-linked or not), a managed policy deleted, or one created under an ARN some principal already
        named (it held an unknown policy, which now counts): build the account anew then. `touched`: the ARNs the
        what-if wrote (it copies on write and names what it copied), so only those places are looked at."""
        policies = {p["Arn"]: p for p in snapshot.policies if isinstance(p.get("Arn"), str)}
        if not base.policies.keys() <= policies.keys() or (policies.keys() - base.policies.keys()) & (
            base.missing_policies | {arn for _, arn in base._unknown_boundaries}
        ):
            return None
        kinds = (
            (base.users, snapshot.users, "user", "UserName", "UserPolicyList"),
            (base.roles, snapshot.roles, "role", "RoleName", "RolePolicyList"),
            (base.groups, snapshot.groups, "group", "GroupName", "GroupPolicyList"),
        )
        if any(len(before) != len(entries) for before, entries, *_ in kinds):
            return None
        account = cls.__new__(cls)
        account.snapshot, account.policies = snapshot, policies
        replaced: list[tuple[Principal, Principal]] = []
        lists = []
        places = None if touched is None else sorted({base.rank[a] for a in touched if a in base.rank})
        offset = 0
        for before, entries, kind, name_key, inline_key in kinds:
            principals = list(before)
            where: Iterable[int]
            if places is None:
                where = range(len(before))
            else:
                where = [i - offset for i in places if offset <= i < offset + len(before)]
            offset += len(before)
            for i in [i for i in where if before[i].entry is not entries[i]]:
                now = cls._principal(kind, entries[i], name_key, inline_key)
                if now.arn != before[i].arn or now.service_linked != before[i].service_linked:
                    return None  # renamed, or moved in or out of the service-linked roles: not the same place
                replaced.append((before[i], now))
                principals[i] = now
            lists.append(principals)
        account.users, account.roles, account.groups = lists
        account.groups_by_name = {g.name: g for g in account.groups}
        account.by_arn = {**base.by_arn, **{now.arn: now for _, now in replaced}}
        account.base, account.replaced = base, replaced
        gone = {id(old) for old, _ in replaced}
        account.missing_policies = set()
        account._unknown_boundaries = [(p, arn) for p, arn in base._unknown_boundaries if id(p) not in gone]
        account.missing_policies.update(arn for _, arn in account._unknown_boundaries)
        for _, now in replaced:
            account._drop_unknown_boundary(now)
        rank = base.rank
        account.attachments = patch_lists(
            base.attachments,
            [(old, now, old.managed, now.managed) for old, now in replaced],
            rank,
            lambda p: p.managed,
        )
        account.missing_policies.update(arn for arn in account.attachments if not account.knows(arn))
        account._doc_keys, account._keys = {}, {}
        account._role_arns_matching = base._role_arns_matching  # the same roles by the same ARNs
        account._role_arns_matching_set = base._role_arns_matching_set
        account.__dict__["rank"] = rank  # same places, same ARNs
        return account

    @cached_property
    def rank(self) -> dict[str, int]:
        """Each user's, role's and group's place in the account, by ARN: the order every holder list keeps."""
        return {p.arn: i for i, p in enumerate((*self.users, *self.roles, *self.groups))}

    def role_arns_matching(self, pattern: str) -> list[str]:
        """The ARNs of the roles a Resource pattern covers, sorted (asked by every fix that limits PassRole)."""
        found = self._role_arns_matching.get(pattern)
        if found is None:
            every = pattern == "*"
            found = self._role_arns_matching[pattern] = sorted(
                r.arn for r in self.roles if every or arns.matches(pattern, r.arn)
            )
        return found

    def role_arns_matching_set(self, pattern: str) -> frozenset[str]:
        found = self._role_arns_matching_set.get(pattern)
        if found is None:
            found = self._role_arns_matching_set[pattern] = frozenset(self.role_arns_matching(pattern))
        return found

    def holdings(self, p: Principal) -> list[str]:
        """The managed policies p holds, directly or through its groups, each once."""
        holders = [p, *self.member_groups(p)] if p.type == "user" else [p]
        return list(dict.fromkeys(a for h in holders for a in h.managed))

    def holders_after(
        self,
        before: dict[str, list[Principal]],
        arns: Iterable[str],
        keep: Callable[[str], bool] = lambda arn: True,
        listed: Callable[[Principal], bool] = lambda p: True,
    ) -> dict[str, list[Principal]]:
        """A policy -> holders index (users and roles, by holdings()) of the base account, `before`, made this
        account's: only the principals named by `arns` (whose holdings may have changed) are placed again.
        `listed`: which principals the index lists at all."""
        assert self.base is not None
        changes = []
        for arn in arns:
            old, now = self.base.by_arn.get(arn), self.by_arn.get(arn)
            old = old if old is not None and old.type != "group" and listed(old) else None
            now = now if now is not None and now.type != "group" and listed(now) else None
            if old is not None or now is not None:
                changes.append((old, now, self.base.holdings(old) if old else [], self.holdings(now) if now else []))
        return patch_lists(before, changes, self.rank, self.holdings, keep)

    @staticmethod
    def _principal(kind: str, entry: dict, name_key: str, inline_key: str) -> Principal:
        # A field of the wrong type (an uploaded file may hold anything the loader lets through) counts as absent.
        boundary = dicts_of(entry.get("PermissionsBoundary"))
        return Principal(
            type=kind,
            name=str(entry[name_key]),
            arn=str(entry["Arn"]),
            entry=entry,
            inline=[
                (text(i.get("PolicyName")) or "inline", i.get("PolicyDocument"))
                for i in dicts_of(entry.get(inline_key))
            ],
            managed=[
                m["PolicyArn"]
                for m in dicts_of(entry.get("AttachedManagedPolicies"))
                if isinstance(m.get("PolicyArn"), str) and m["PolicyArn"]
            ],
            groups=[g for g in entry.get("GroupList") or () if isinstance(g, str)]
            if isinstance(entry.get("GroupList"), list)
            else [],
            boundary=text(boundary[0].get("PermissionsBoundaryArn")) or None if boundary else None,
        )

    def knows(self, arn: str) -> bool:
        return arn in self.policies or arn in _KNOWN_AWS_DOCS

    def managed_policy_principal(self, arn: str) -> Principal:
        policy = self.policies.get(arn, {})
        return Principal("policy", text(policy.get("PolicyName")) or arn.rsplit("/", 1)[-1], arn, entry=policy)

    def policy_document(self, arn: str) -> dict | None:
        """The default version's document of a managed policy (None when the snapshot does not have it)."""
        policy = self.policies.get(arn)
        return default_document(policy) if policy else _KNOWN_AWS_DOCS.get(arn)

    def member_groups(self, principal: Principal) -> list[Principal]:
        return [self.groups_by_name[g] for g in principal.groups if g in self.groups_by_name]

    def permission_key(self, principal: Principal) -> tuple:
        """Principals with equal keys hold identical permissions, so their analysis is shared."""
        found = self._keys.get((principal.type, principal.arn))
        if found is None:
            found = self._keys[(principal.type, principal.arn)] = self._permission_key(principal)
        return found

    def _permission_key(self, principal: Principal) -> tuple:
        holders = [principal, *self.member_groups(principal)] if principal.type == "user" else [principal]
        parts: list[str] = []
        for holder in holders:
            parts.extend(f"i:{name}:{self.doc_key(doc)}" for name, doc in holder.inline)
            parts.extend(f"m:{arn}" for arn in holder.managed)
        return (principal.type, tuple(parts), principal.boundary or "")

    def doc_key(self, doc: object) -> str:
        """A key equal for equal documents. The repr of a parsed JSON document: equal reprs are equal documents,
        and it costs a quarter of sorted JSON; two equal documents whose keys came in another order only miss
        sharing their analysis."""
        if not isinstance(doc, dict):
            return ""
        found = self._doc_keys.get(id(doc))
        if found is None:
            found = self._doc_keys[id(doc)] = repr(doc)
        return found


def patch_lists(
    lists: dict[str, list[Principal]],
    changes: list[tuple[Principal | None, Principal | None, list[str], list[str]]],
    rank: dict[str, int],
    keys_of: Callable[[Principal], list[str]],
    keep: Callable[[str], bool] = lambda key: True,
) -> dict[str, list[Principal]]:
    """Lists of principals by key (a policy's holders), in `rank` order, after some principals changed: each change
    is (before, now, the keys before was listed under, the keys now is listed under). The lists no change names are
    shared with `lists`; the others are new, and the keys come in the order a build from scratch walking the
    principals in `rank` order gives them (by their first principal, then that principal's keys_of() order):
    readers take the first policy that answers."""
    out = dict(lists)
    fresh: set[str] = set()
    for before, _, keys, _ in changes:
        for key in dict.fromkeys(keys):
            if key in out and keep(key):
                out[key] = [p for p in out[key] if p is not before]
                fresh.add(key)
    for _, now, _, keys in changes:
        if now is None:
            continue
        place = rank[now.arn]
        for key in keys:
            if not keep(key):
                continue
            found = out.get(key)
            found = list(found) if found is not None and key not in fresh else (found or [])
            fresh.add(key)
            found.insert(bisect.bisect_right(found, place, key=lambda p: rank[p.arn]), now)
            out[key] = found

    def first_seen(item: tuple[str, list[Principal]]) -> tuple[int, int]:
        key, ps = item
        return rank[ps[0].arn], keys_of(ps[0]).index(key)

    return dict(sorted(((key, ps) for key, ps in out.items() if ps), key=first_seen))
