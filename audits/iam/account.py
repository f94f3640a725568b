"""The snapshot seen as principals: who holds which policies (what they allow is the evaluator's to say)."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    @property
    def service_linked(self) -> bool:
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
        for p in (*self.users, *self.roles, *self.groups):
            for arn in p.managed:
                self.attachments.setdefault(arn, []).append(p)
                if not self.knows(arn):
                    self.missing_policies.add(arn)
            if p.boundary and not self.knows(p.boundary):
                # An unknown boundary is ignored rather than read as "allows nothing": an audit should over-report.
                self.missing_policies.add(p.boundary)
                p.boundary = None
        self._doc_keys: dict[int, str] = {}  # by id(): documents live as long as the snapshot
        self._keys: dict[tuple[str, str], tuple] = {}

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
