"""What-if on a snapshot: IAM write operations applied to an AccountSnapshot, validated as IAM would.

    apply(snapshot, ops) -> (snapshot', errors)

Each op is a dict in the IAM API's own terms: {"Operation": "PutUserPolicy", "UserName": ..., "PolicyName": ...,
"PolicyDocument": ...}. An op IAM would refuse (NoSuchEntity, LimitExceeded, UnmodifiableEntity, ...) changes
nothing and its error is part of the answer; the ops after it still apply, each on its own (as a script that
logs a failed call and goes on would).

Copy-on-write: snapshot' shares every principal, group and policy the ops do not touch with the original, whose
data is never modified; `apply_ops` also says which ARNs were touched, so a caller re-evaluates only those.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from audits.iam.account import is_aws_managed
from audits.iam.snapshot import AccountSnapshot

MAX_POLICY_VERSIONS = 5  # IAM keeps at most five versions of a managed policy
MAX_MANAGED_PER_PRINCIPAL = 10  # default quota of managed policies attached to a user, role or group
MAX_GROUPS_PER_USER = 10
PROTECTED_ROLE_PATHS = ("/aws-reserved/", "/aws-service-role/")
SIZE_LIMITS = {"user": 2048, "role": 10240, "group": 5120, "managed": 6144}  # characters, whitespace excluded


@dataclass(frozen=True)
class OpError:
    """An op IAM would refuse: `code` is IAM's error code, the message says what and where."""

    index: int
    operation: str
    code: str
    message: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Outcome:
    snapshot: AccountSnapshot
    errors: list[OpError] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # ARNs of the principals, groups and policies changed
    records: list[dict] = field(default_factory=list)  # what ops without a policy change did (CreateAccessKey)
    base: AccountSnapshot | None = None  # the snapshot the ops were applied to


class _RefusedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def apply(snapshot: AccountSnapshot, ops: Iterable[dict]) -> tuple[AccountSnapshot, list[OpError]]:
    outcome = apply_ops(snapshot, ops)
    return outcome.snapshot, outcome.errors


def apply_ops(snapshot: AccountSnapshot, ops: Iterable[dict]) -> Outcome:
    state = _State(snapshot)
    outcome = Outcome(snapshot, base=snapshot)
    for index, op in enumerate(ops):
        name = str(op.get("Operation", "")) if isinstance(op, dict) else ""
        handler = OPERATIONS.get(name)
        if handler is None:
            outcome.errors.append(OpError(index, name, "InvalidAction", f"unknown or unsupported operation {name!r}"))
            continue
        trial = state.fork()
        try:
            handler(trial, op)
        except _RefusedError as refused:
            outcome.errors.append(OpError(index, name, refused.code, str(refused)))
            continue
        state = trial
    outcome.snapshot = state.build()
    outcome.touched = set(state.touched)
    outcome.records = list(state.records)
    return outcome


# --- the working state: lists shared with the original until an entry is changed ----------------------------------

_LIST = {"user": "users", "role": "roles", "group": "groups", "policy": "policies"}


def _places(snapshot: AccountSnapshot, kind: str) -> dict[str, int]:
    """The snapshot's name -> first place, by kind, kept with it: what-ifs on one snapshot (a fix's proof rounds,
    every fix of an audit) look names up there instead of reading every entry."""
    known: dict[str, dict[str, int]] = vars(snapshot).setdefault("_whatif_places", {})
    found = known.get(kind)
    if found is None:
        found = known[kind] = {}
        key = _NAME_KEY[kind]
        for i, entry in enumerate(getattr(snapshot, _LIST[kind])):
            if isinstance(entry.get(key), str):
                found.setdefault(entry[key], i)
    return found


class _State:
    def __init__(self, snapshot: AccountSnapshot) -> None:
        self.base = snapshot
        self.lists: dict[str, list[dict]] = {
            "user": snapshot.users,
            "role": snapshot.roles,
            "group": snapshot.groups,
            "policy": snapshot.policies,
        }
        self.owned: set[str] = set()  # list kinds already copied for this state
        self.copied: set[int] = set()  # ids of entries this state already copied
        self.touched: list[str] = []
        self.records: list[dict] = []

    def fork(self) -> _State:
        """A state an op may change and the caller drops if the op is refused."""
        other = _State.__new__(_State)
        other.base = self.base
        other.lists = dict(self.lists)
        other.owned = set()
        other.touched = list(self.touched)
        other.records = list(self.records)
        # Entries already copied are copied again on write in the fork, so a refused op cannot leave a trace.
        other.copied = set()
        return other

    def build(self) -> AccountSnapshot:
        return dataclasses.replace(
            self.base,
            users=self.lists["user"],
            roles=self.lists["role"],
            groups=self.lists["group"],
            policies=self.lists["policy"],
        )

    # lookups
    def find(self, kind: str, name: str) -> tuple[int, dict] | None:
        """The first entry of this kind by name. The what-if never moves an entry nor renames one (it copies on
        write in place and appends), so the original snapshot's places answer for its entries; only entries
        appended since are read one by one (users, roles and groups are never deleted here)."""
        key, entries = _NAME_KEY[kind], self.lists[kind]
        if kind == "policy":  # DeletePolicy takes entries out, so places move: few policies, read them all
            return next(((i, e) for i, e in enumerate(entries) if e.get(key) == name), None)
        original = _places(self.base, kind)
        i = original.get(name) if isinstance(name, str) else None
        if i is not None and i < len(entries) and entries[i].get(key) == name:
            return i, entries[i]
        start = len(getattr(self.base, _LIST[kind])) if i is None else 0  # a miss in the index: check it all
        for j in range(start, len(entries)):
            if entries[j].get(key) == name:
                return j, entries[j]
        return None

    def need(self, kind: str, name: Any) -> tuple[int, dict]:
        if not isinstance(name, str) or not name:
            raise _RefusedError("ValidationError", f"{_NAME_KEY[kind]} is required")
        found = self.find(kind, name)
        if found is None:
            noun = "managed policy" if kind == "policy" else kind
            raise _RefusedError("NoSuchEntity", f"The {noun} with name {name} cannot be found.")
        return found

    def policy(self, arn: Any) -> tuple[int, dict]:
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise _RefusedError("InvalidInput", f"PolicyArn {arn!r} is not a policy ARN")
        for i, entry in enumerate(self.lists["policy"]):
            if entry.get("Arn") == arn:
                return i, entry
        raise _RefusedError("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")

    # copy on write
    def writable(self, kind: str, index: int) -> dict:
        if kind not in self.owned:
            self.lists[kind] = list(self.lists[kind])
            self.owned.add(kind)
        entry = self.lists[kind][index]
        if id(entry) not in self.copied:
            entry = copy.deepcopy(entry)
            self.lists[kind][index] = entry
            self.copied.add(id(entry))
        self.touched.append(str(entry.get("Arn", "")))
        return entry

    def add(self, kind: str, entry: dict) -> None:
        if kind not in self.owned:
            self.lists[kind] = list(self.lists[kind])
            self.owned.add(kind)
        self.lists[kind].append(entry)
        self.copied.add(id(entry))
        self.touched.append(entry["Arn"])

    def arn(self, kind: str, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self.base.account_id}:{kind}{path}{name}"


_NAME_KEY = {"user": "UserName", "role": "RoleName", "group": "GroupName", "policy": "PolicyName"}
_INLINE_KEY = {"user": "UserPolicyList", "role": "RolePolicyList", "group": "GroupPolicyList"}


# --- validation helpers -----------------------------------------------------------------------------------------


def _document(op: dict, key: str, size_kind: str) -> dict:
    raw = op.get(key)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise _RefusedError("MalformedPolicyDocument", f"{key} is not valid JSON") from None
    if not isinstance(raw, dict):
        raise _RefusedError("MalformedPolicyDocument", f"{key} must be a JSON policy document object")
    statements = raw.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements or not all(isinstance(s, dict) for s in statements):
        raise _RefusedError("MalformedPolicyDocument", f"{key} has no Statement list")
    size = len("".join(json.dumps(raw, separators=(",", ":")).split()))
    if size > SIZE_LIMITS[size_kind]:
        raise _RefusedError(
            "LimitExceeded", f"{key} is {size} characters; the limit here is {SIZE_LIMITS[size_kind]} characters"
        )
    return {**raw, "Statement": statements}


def _name(op: dict, key: str) -> str:
    value = op.get(key)
    if not isinstance(value, str) or not value:
        raise _RefusedError("ValidationError", f"{key} is required")
    return value


def _protected(role: dict) -> None:
    path = str(role.get("Path", "/"))
    if path.startswith(PROTECTED_ROLE_PATHS):
        raise _RefusedError(
            "UnmodifiableEntity", f"Cannot perform the operation on the protected role '{role.get('RoleName')}'"
        )


def _customer_policy(state: _State, op: dict) -> tuple[int, dict]:
    arn = op.get("PolicyArn")
    if isinstance(arn, str) and is_aws_managed(arn):
        raise _RefusedError("UnmodifiableEntity", f"Cannot modify the AWS managed policy {arn}")
    return state.policy(arn)


# --- operations -------------------------------------------------------------------------------------------------


def _put_inline(kind: str) -> Callable[[_State, dict], None]:
    def run(state: _State, op: dict) -> None:
        index, entry = state.need(kind, op.get(_NAME_KEY[kind]))
        if kind == "role":
            _protected(entry)
        name = _name(op, "PolicyName")
        document = _document(op, "PolicyDocument", kind)
        entry = state.writable(kind, index)
        policies = [p for p in entry.get(_INLINE_KEY[kind]) or [] if p.get("PolicyName") != name]
        entry[_INLINE_KEY[kind]] = [*policies, {"PolicyName": name, "PolicyDocument": document}]

    return run


def _delete_inline(kind: str) -> Callable[[_State, dict], None]:
    def run(state: _State, op: dict) -> None:
        index, entry = state.need(kind, op.get(_NAME_KEY[kind]))
        if kind == "role":
            _protected(entry)
        name = _name(op, "PolicyName")
        if not any(p.get("PolicyName") == name for p in entry.get(_INLINE_KEY[kind]) or []):
            raise _RefusedError("NoSuchEntity", f"The {kind} policy with name {name} cannot be found.")
        entry = state.writable(kind, index)
        entry[_INLINE_KEY[kind]] = [p for p in entry[_INLINE_KEY[kind]] if p.get("PolicyName") != name]

    return run


def _attach(kind: str) -> Callable[[_State, dict], None]:
    def run(state: _State, op: dict) -> None:
        index, entry = state.need(kind, op.get(_NAME_KEY[kind]))
        if kind == "role":
            _protected(entry)
        policy_index, policy = state.policy(op.get("PolicyArn"))
        attached = entry.get("AttachedManagedPolicies") or []
        if any(a.get("PolicyArn") == policy["Arn"] for a in attached):
            return  # IAM accepts attaching an attached policy and changes nothing
        if len(attached) >= MAX_MANAGED_PER_PRINCIPAL:
            raise _RefusedError(
                "LimitExceeded",
                f"Cannot exceed quota for PoliciesPer{kind.title()}: {MAX_MANAGED_PER_PRINCIPAL}",
            )
        entry = state.writable(kind, index)
        entry["AttachedManagedPolicies"] = [
            *attached,
            {"PolicyName": policy.get("PolicyName"), "PolicyArn": policy["Arn"]},
        ]
        _count(state, policy_index, +1)

    return run


def _detach(kind: str) -> Callable[[_State, dict], None]:
    def run(state: _State, op: dict) -> None:
        index, entry = state.need(kind, op.get(_NAME_KEY[kind]))
        if kind == "role":
            _protected(entry)
        arn = op.get("PolicyArn")
        if not any(a.get("PolicyArn") == arn for a in entry.get("AttachedManagedPolicies") or []):
            raise _RefusedError(
                "NoSuchEntity", f"Policy {arn} was not found attached to {kind} {entry[_NAME_KEY[kind]]}."
            )
        entry = state.writable(kind, index)
        entry["AttachedManagedPolicies"] = [a for a in entry["AttachedManagedPolicies"] if a.get("PolicyArn") != arn]
        found = next((i for i, p in enumerate(state.lists["policy"]) if p.get("Arn") == arn), None)
        if found is not None:
            _count(state, found, -1)

    return run


def _count(state: _State, policy_index: int, delta: int) -> None:
    policy = state.writable("policy", policy_index)
    if isinstance(policy.get("AttachmentCount"), int):
        policy["AttachmentCount"] = max(0, policy["AttachmentCount"] + delta)


def _create_policy(state: _State, op: dict) -> None:
    name = _name(op, "PolicyName")
    path = op.get("Path") or "/"
    arn = state.arn("policy", name, path)
    if any(p.get("Arn") == arn for p in state.lists["policy"]):
        raise _RefusedError(
            "EntityAlreadyExists", f"A policy called {name} already exists. Duplicate names are not allowed."
        )
    document = _document(op, "PolicyDocument", "managed")
    state.add(
        "policy",
        {
            "PolicyName": name,
            "Arn": arn,
            "Path": path,
            "DefaultVersionId": "v1",
            "AttachmentCount": 0,
            "IsAttachable": True,
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True, "Document": document}],
        },
    )


def _delete_policy(state: _State, op: dict) -> None:
    index, policy = _customer_policy(state, op)
    holders = [
        e
        for kind in ("user", "role", "group")
        for e in state.lists[kind]
        if any(a.get("PolicyArn") == policy["Arn"] for a in e.get("AttachedManagedPolicies") or [])
    ]
    if holders or len(policy.get("PolicyVersionList") or []) > 1:
        raise _RefusedError(
            "DeleteConflict", "Cannot delete a policy attached to entities or with non-default versions."
        )
    state.lists["policy"] = [p for i, p in enumerate(state.lists["policy"]) if i != index]
    state.owned.add("policy")
    state.touched.append(policy["Arn"])


def _create_policy_version(state: _State, op: dict) -> None:
    index, policy = _customer_policy(state, op)
    document = _document(op, "PolicyDocument", "managed")
    versions = policy.get("PolicyVersionList") or []
    if len(versions) >= MAX_POLICY_VERSIONS:
        raise _RefusedError(
            "LimitExceeded",
            f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, "
            "you must delete an existing version.",
        )
    policy = state.writable("policy", index)
    numbers = [int(v["VersionId"][1:]) for v in versions if str(v.get("VersionId", "")).removeprefix("v").isdigit()]
    version_id = f"v{max(numbers, default=0) + 1}"
    default = bool(op.get("SetAsDefault"))
    listed = [{**v, "IsDefaultVersion": False} if default else v for v in versions]
    policy["PolicyVersionList"] = [
        *listed,
        {"VersionId": version_id, "IsDefaultVersion": default, "Document": document},
    ]
    if default:
        policy["DefaultVersionId"] = version_id


def _set_default_version(state: _State, op: dict) -> None:
    index, policy = _customer_policy(state, op)
    version_id = _name(op, "VersionId")
    if not any(v.get("VersionId") == version_id for v in policy.get("PolicyVersionList") or []):
        raise _RefusedError("NoSuchEntity", f"Policy {policy['Arn']} version {version_id} does not exist.")
    policy = state.writable("policy", index)
    policy["DefaultVersionId"] = version_id
    policy["PolicyVersionList"] = [
        {**v, "IsDefaultVersion": v.get("VersionId") == version_id} for v in policy["PolicyVersionList"]
    ]


def _delete_policy_version(state: _State, op: dict) -> None:
    index, policy = _customer_policy(state, op)
    version_id = _name(op, "VersionId")
    versions = policy.get("PolicyVersionList") or []
    found = next((v for v in versions if v.get("VersionId") == version_id), None)
    if found is None:
        raise _RefusedError("NoSuchEntity", f"Policy {policy['Arn']} version {version_id} does not exist.")
    if found.get("IsDefaultVersion") or policy.get("DefaultVersionId") == version_id:
        raise _RefusedError("DeleteConflict", "Cannot delete the default version of a policy.")
    policy = state.writable("policy", index)
    policy["PolicyVersionList"] = [v for v in versions if v.get("VersionId") != version_id]


def _add_user_to_group(state: _State, op: dict) -> None:
    _, group = state.need("group", op.get("GroupName"))
    index, user = state.need("user", op.get("UserName"))
    groups = list(user.get("GroupList") or [])
    if group["GroupName"] in groups:
        return
    if len(groups) >= MAX_GROUPS_PER_USER:
        raise _RefusedError("LimitExceeded", f"Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}")
    user = state.writable("user", index)
    user["GroupList"] = [*groups, group["GroupName"]]
    state.touched.append(group["Arn"])


def _remove_user_from_group(state: _State, op: dict) -> None:
    state.need("group", op.get("GroupName"))
    index, user = state.need("user", op.get("UserName"))
    if op["GroupName"] not in (user.get("GroupList") or []):
        raise _RefusedError("NoSuchEntity", f"User {user['UserName']} is not in group {op['GroupName']}.")
    user = state.writable("user", index)
    user["GroupList"] = [g for g in user["GroupList"] if g != op["GroupName"]]


def _put_boundary(kind: str) -> Callable[[_State, dict], None]:
    def run(state: _State, op: dict) -> None:
        index, entry = state.need(kind, op.get(_NAME_KEY[kind]))
        if kind == "role":
            _protected(entry)
        arn = op.get("PermissionsBoundary")
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise _RefusedError("InvalidInput", "PermissionsBoundary must be a managed policy ARN")
        if not is_aws_managed(arn):
            state.policy(arn)  # NoSuchEntity for an unknown customer policy
        entry = state.writable(kind, index)
        entry["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}

    return run


def _delete_boundary(kind: str) -> Callable[[_State, dict], None]:
    def run(state: _State, op: dict) -> None:
        index, entry = state.need(kind, op.get(_NAME_KEY[kind]))
        if kind == "role":
            _protected(entry)
        if not entry.get("PermissionsBoundary"):
            raise _RefusedError("NoSuchEntity", f"The {kind} {entry[_NAME_KEY[kind]]} has no permissions boundary.")
        entry = state.writable(kind, index)
        entry.pop("PermissionsBoundary", None)

    return run


def _update_assume_role_policy(state: _State, op: dict) -> None:
    index, role = state.need("role", op.get("RoleName"))
    _protected(role)
    document = _document(op, "PolicyDocument", "role")
    role = state.writable("role", index)
    role["AssumeRolePolicyDocument"] = document


def _create_access_key(state: _State, op: dict) -> None:
    _, user = state.need("user", op.get("UserName"))
    state.records.append({"Operation": "CreateAccessKey", "UserName": user["UserName"], "control": user["Arn"]})


def _create_user(state: _State, op: dict) -> None:
    name = _name(op, "UserName")
    if state.find("user", name) is not None:
        raise _RefusedError("EntityAlreadyExists", f"User with name {name} already exists.")
    path = op.get("Path") or "/"
    entry: dict = {
        "UserName": name,
        "Path": path,
        "Arn": state.arn("user", name, path),
        "GroupList": [],
        "AttachedManagedPolicies": [],
        "UserPolicyList": [],
    }
    if op.get("PermissionsBoundary"):
        entry["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": op["PermissionsBoundary"],
        }
    state.add("user", entry)


def _create_role(state: _State, op: dict) -> None:
    name = _name(op, "RoleName")
    if state.find("role", name) is not None:
        raise _RefusedError("EntityAlreadyExists", f"Role with name {name} already exists.")
    path = op.get("Path") or "/"
    entry: dict = {
        "RoleName": name,
        "Path": path,
        "Arn": state.arn("role", name, path),
        "AssumeRolePolicyDocument": _document(op, "AssumeRolePolicyDocument", "role"),
        "AttachedManagedPolicies": [],
        "RolePolicyList": [],
        "InstanceProfileList": [],
    }
    if op.get("PermissionsBoundary"):
        entry["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": op["PermissionsBoundary"],
        }
    state.add("role", entry)


OPERATIONS: dict[str, Callable[[_State, dict], None]] = {
    **{f"Put{k.title()}Policy": _put_inline(k) for k in ("user", "role", "group")},
    **{f"Delete{k.title()}Policy": _delete_inline(k) for k in ("user", "role", "group")},
    **{f"Attach{k.title()}Policy": _attach(k) for k in ("user", "role", "group")},
    **{f"Detach{k.title()}Policy": _detach(k) for k in ("user", "role", "group")},
    **{f"Put{k.title()}PermissionsBoundary": _put_boundary(k) for k in ("user", "role")},
    **{f"Delete{k.title()}PermissionsBoundary": _delete_boundary(k) for k in ("user", "role")},
    "CreatePolicy": _create_policy,
    "DeletePolicy": _delete_policy,
    "CreatePolicyVersion": _create_policy_version,
    "SetDefaultPolicyVersion": _set_default_version,
    "DeletePolicyVersion": _delete_policy_version,
    "AddUserToGroup": _add_user_to_group,
    "RemoveUserFromGroup": _remove_user_from_group,
    "UpdateAssumeRolePolicy": _update_assume_role_policy,
    "CreateAccessKey": _create_access_key,
    "CreateUser": _create_user,
    "CreateRole": _create_role,
}
