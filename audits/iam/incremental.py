"""The analysis after a change set, built from the analysis before it: what the change cannot affect is reused.

    after(before, outcome) -> Analysis     (outcome: audits.iam.whatif.apply_ops's answer on before.snapshot)

The what-if copies on write (every entry it does not change is the same object in both snapshots) and names the
users, roles, groups and policies it touched. From that:
- principals of untouched entries are the same Principal objects, and their permission keys are kept;
- compiled statements are reused (the compile caches key on a document's identity or content, never on whose it
  is), and so are the evaluator's decisions (keyed on statement identities, which stay alive with `before`);
- subjects, identity tuples and admin proofs of principals the change cannot reach are kept; those of the
  affected principals (a touched user or role, the members of a touched group, the holders of a touched policy,
  directly, through a group or as a boundary) are recomputed;
- the principal graph (audits.iam.graph.Previous) patches the index of allowed Resource patterns with the
  affected principals' entries, keeps each unaffected principal's own way to admin when nothing it reads changed,
  and searches again from there, so its answers are those of a fresh analysis.

The caches are layered, not copied: the after analysis reads what `before` knew unless the key is hidden (it
names an affected principal or a changed policy), and writes only its own layer, so `before` stays valid and any
number of "after" analyses can be built from it. An after analysis keeps `before` alive: the caches keyed by
object identity stay valid only while those objects live.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from audits.iam.account import Account, Principal, dicts_of
from audits.iam.analysis import Analysis
from audits.iam.authz import Authz
from audits.iam.graph import Graph, Previous
from audits.iam.layered import Layer

# Authz dicts valid for any snapshot of the account: settings, and caches keyed by a document's content.
_AUTHZ_SHARED = frozenset({"request_keys", "memo", "_by_content"})


class Reuse:
    """What Analysis(snapshot, reuse=...) takes from the analysis before the change (see the module's doc)."""

    def __init__(self, before: Analysis, touched: Iterable[str]) -> None:
        self.before = before
        self.touched = set(touched)
        self.affected: set[str] = set()  # ARNs of users, roles and groups whose permissions may have changed
        self.policies: set[str] = set()  # managed policy ARNs whose document, existence or versions changed

    def account(self, snapshot: Any) -> Account:
        base = self.before.account
        policies = {p["Arn"]: p for p in snapshot.policies if isinstance(p.get("Arn"), str)}
        # A policy counts as changed when what it grants may have: created, deleted, or its versions rewritten;
        # not when only its AttachmentCount moved (attaching and detaching write that too).
        self.policies = {
            a
            for a in self.touched
            if ":policy/" in a
            and a in policies
            and a in base.policies
            and _grants(policies[a]) != _grants(base.policies[a])
        } | (policies.keys() ^ base.policies.keys())
        patched = Account.patched(base, snapshot, self.touched)
        if patched is not None:
            return self._layered(patched, base, {now.arn for _, now in patched.replaced})
        known: dict[int, Principal] = {}
        for p in (*base.users, *base.roles, *base.groups):
            raw = p.entry.get("PermissionsBoundary")
            raw_boundary = raw.get("PermissionsBoundaryArn") if isinstance(raw, dict) else None
            if p.arn not in self.touched and raw_boundary not in self.policies:
                known[id(p.entry)] = p
        account = Account(snapshot, known=known)
        return self._layered(account, base, {p.arn for p in account.by_arn.values() if id(p.entry) not in known})

    def _layered(self, account: Account, base: Account, read_again: set[str]) -> Account:
        """Marks the affected principals (read again, touched, members of a touched group, holders of a changed
        policy) and layers the account's caches over base's, hiding theirs."""
        self.affected = read_again | (self.touched & account.by_arn.keys())
        touched_groups = {g.name for g in account.groups if g.arn in self.touched}
        # A policy created by the change is held only by entries the change wrote, which are read again already.
        changed = self.policies & base.policies.keys()
        if touched_groups or changed:
            for p in (*account.users, *account.roles, *account.groups):
                if (touched_groups and any(g in touched_groups for g in p.groups)) or (
                    changed and self._holds(account, p, changed)
                ):
                    self.affected.add(p.arn)
        affected = self.affected
        account._keys = Layer(base._keys, lambda key: key[1] in affected)
        account._doc_keys = Layer(base._doc_keys)
        return account

    @staticmethod
    def _holds(account: Account, p: Principal, changed: set[str]) -> bool:
        """p holds one of these policies, directly, through a group or as its boundary."""
        holders = [p, *account.member_groups(p)] if p.type == "user" else [p]
        return any(arn in changed for h in holders for arn in h.managed) or p.boundary in changed

    def authz(self, account: Account) -> Authz:
        base = self.before.authz
        authz = Authz.__new__(Authz)
        # A cache this module does not know starts empty (slower, never stale); content-keyed ones are shared.
        authz.__dict__.update(
            {k: {} if isinstance(v, dict) and k not in _AUTHZ_SHARED else v for k, v in base.__dict__.items()}
        )
        authz.account = account
        affected, changed = self.affected, self.policies

        def stale_identity(key: tuple) -> bool:
            # A permission key names managed policies by ARN, not content: a changed policy changes no key.
            return any(part.startswith("m:") and part[2:] in changed for part in key[1])

        authz._compiled = Layer(base._compiled)
        authz._keys = Layer(base._keys, lambda arn: arn in affected)
        authz._identity = Layer(base._identity, stale_identity)
        authz._allows = Layer(base._allows)
        authz._star = Layer(base._star)
        authz._boundary = Layer(base._boundary, lambda arn: arn in changed)
        authz._subjects = Layer(base._subjects, lambda arn: arn in affected)
        authz._patterns = Layer(base._patterns)
        authz._contexts = Layer(base._contexts)
        authz._admin = Layer(base._admin, lambda key: key[0] in affected)
        authz._alone = Layer(base._alone)
        return authz

    def graph(self, account: Account, authz: Authz, rows: dict[str, dict]) -> Graph:
        base = self.before.graph
        if account.base is self.before.account:
            # Patched in place: the nodes read again are the replaced ones (a role keeps its path, so its node).
            nodes = base.nodes
            dirty = {a for a in self.affected if a in nodes} | {
                now.arn for _, now in account.replaced if now.arn in nodes
            }
        else:
            nodes = {p.arn: p for p in (*account.users, *account.roles) if not p.service_linked}
            dirty = {a for a in self.affected if a in nodes}
            dirty |= {a for a, p in base.nodes.items() if nodes.get(a) is not p}  # gone, or read again
            dirty |= nodes.keys() - base.nodes.keys()
        groups_same = [id(g.entry) for g in account.groups] == [id(g.entry) for g in self.before.account.groups]
        # A new policy that allows nothing (a fence) gives no one a new way to change themselves.
        fences = {a for a in self.policies - self.before.account.policies.keys() if _allows_nothing(account, a)}
        previous = Previous(
            base,
            frozenset(dirty),
            self_same=groups_same and not (self.policies - fences),
            shrinks=self._shrinks(account),
        )
        if not base.reusable:
            return Graph(account, authz, rows)  # built without a record of its search: nothing to build on
        return Graph(account, authz, rows, previous)

    def _shrinks(self, account: Account) -> bool:
        """The change only took rights away (what the fixes do): every entry it wrote lost Allow statements,
        gained Deny statements, left groups or dropped policies that deny nothing, or took on policies that allow
        nothing; no existing managed policy changed and every new one allows nothing. Anything else (a trust, a
        boundary, a tag, a new entry) is not known to shrink."""
        base = self.before.account
        if account.base is not base or self.policies & base.policies.keys():
            return False
        if not all(_allows_nothing(account, a) for a in account.policies.keys() - base.policies.keys()):
            return False
        return all(_takes_away(old.entry, now.entry, base, account) for old, now in account.replaced)


def _allows_nothing(account: Account, arn: str) -> bool:
    """No version of this managed policy holds an Allow statement."""
    versions = dicts_of((account.policies.get(arn) or {}).get("PolicyVersionList"))
    documents = [v.get("Document") for v in versions]
    return bool(documents) and all(
        isinstance(d, dict) and not any(s.get("Effect") == "Allow" for s in dicts_of(d.get("Statement")))
        for d in documents
    )


_INLINE = ("UserPolicyList", "RolePolicyList", "GroupPolicyList")


def _takes_away(old: dict, now: dict, base: Account, account: Account) -> bool:
    """Between these two entries of one principal, rights can only have gone (see Reuse._shrinks)."""
    for key in old.keys() | now.keys():
        before, after = old.get(key), now.get(key)
        if before == after:
            continue
        if key in _INLINE:
            if not _inline_takes_away(before, after):
                return False
        elif key == "AttachedManagedPolicies":
            held = {m.get("PolicyArn") for m in dicts_of(before)}
            holds = {m.get("PolicyArn") for m in dicts_of(after)}
            if not all(_denies_nothing(base.policy_document(str(a))) for a in held - holds):
                return False
            if not all(_allows_nothing(account, str(a)) for a in holds - held):
                return False
        elif key == "GroupList":
            left = set(before or ()) - set(after or ())
            if not set(after or ()) <= set(before or ()) or not all(_group_denies_nothing(base, g) for g in left):
                return False
        else:
            return False
    return True


def _inline_takes_away(before: object, after: object) -> bool:
    """Inline policies by name: statements added are Denies, statements gone are Allows, nothing else moved."""
    old = {str(i.get("PolicyName")): i.get("PolicyDocument") for i in dicts_of(before)}
    new = {str(i.get("PolicyName")): i.get("PolicyDocument") for i in dicts_of(after)}
    for name in old.keys() | new.keys():
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if not isinstance(a or {}, dict) or not isinstance(b or {}, dict):
            return False
        a, b = a or {}, b or {}
        others = ({k: v for k, v in d.items() if k != "Statement"} for d in (a, b))
        if a and b and next(others) != next(others):
            return False  # a Version or another element changed how the statements read
        was, now = dicts_of(a.get("Statement")), dicts_of(b.get("Statement"))
        if any(s.get("Effect") != "Deny" for s in now if s not in was):
            return False
        if any(s.get("Effect") != "Allow" for s in was if s not in now):
            return False
    return True


def _denies_nothing(document: object) -> bool:
    """Every statement allows: taking the document away can only take rights away."""
    return isinstance(document, dict) and all(s.get("Effect") == "Allow" for s in dicts_of(document.get("Statement")))


def _group_denies_nothing(account: Account, name: str) -> bool:
    group = account.groups_by_name.get(name)
    if group is None:
        return True  # a group the export does not have gave nothing
    documents = [doc for _, doc in group.inline] + [account.policy_document(a) for a in group.managed]
    return all(_denies_nothing(d) for d in documents)


def _grants(policy: dict) -> tuple:
    """What of a managed policy's entry decides what it grants: its versions and which one is the default."""
    return policy.get("DefaultVersionId"), policy.get("PolicyVersionList")


def after(before: Analysis, outcome: Any) -> Analysis:
    """The analysis of outcome.snapshot (the what-if applied to before.snapshot), reusing `before`; a fresh one
    when the ops were applied to another snapshot (nothing of `before` is known to hold there)."""
    if getattr(outcome, "base", None) is not before.snapshot:
        return Analysis(outcome.snapshot)
    analysis = Analysis(outcome.snapshot, reuse=Reuse(before, outcome.touched))
    analysis.base = before  # keeps alive the objects whose identities key the reused caches
    return analysis
