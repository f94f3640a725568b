"""IAM write operations from a Terraform plan (`terraform show -json plan.out`), for the what-if.

Each planned change of an `aws_iam_*` resource becomes the IAM API calls Terraform's AWS provider makes for it
(CreatePolicy, CreatePolicyVersion, PutRolePolicy, AttachUserPolicy, UpdateAssumeRolePolicy, AddUserToGroup, …), in
the what-if's terms (`{"Operation": ..., <IAM parameter names>}`). A value Terraform knows only after apply (the ARN
of a policy created in the same plan) is resolved from the configuration's references to the resource that makes
it. Resources the what-if cannot model are listed, never silently dropped.

Format: https://developer.hashicorp.com/terraform/internals/json-format (resource_changes, configuration).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class PlanError(ValueError):
    """The file is not a Terraform JSON plan."""


@dataclass
class PlanOps:
    ops: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<address>: why"
    addresses: list[str] = field(default_factory=list)  # the address each op came from, op by op


_KIND = {"user": "User", "role": "Role", "group": "Group"}
_NAME_KEY = {"user": "UserName", "role": "RoleName", "group": "GroupName"}
# Resources that change no permission the audit reads: nothing to model, and nothing to report as skipped.
_NEUTRAL = frozenset(
    {
        "aws_iam_group",  # membership and policies are their own resources
        "aws_iam_instance_profile",
        "aws_iam_user_login_profile",
        "aws_iam_account_password_policy",
        "aws_iam_service_linked_role",
        "aws_iam_openid_connect_provider",
        "aws_iam_saml_provider",
        "aws_iam_user_ssh_key",
        "aws_iam_signing_certificate",
        "aws_iam_virtual_mfa_device",
    }
)


def ops_from_plan(plan: Any, account_id: str) -> PlanOps:
    if not isinstance(plan, dict) or not isinstance(plan.get("resource_changes", []), list):
        raise PlanError("not a Terraform JSON plan: expected the output of `terraform show -json PLANFILE`")
    if "resource_changes" not in plan and "planned_values" not in plan:
        raise PlanError("not a Terraform JSON plan: it has no resource_changes")
    planner = _Planner(plan, account_id)
    out = PlanOps()
    for change in plan.get("resource_changes") or []:
        if not isinstance(change, dict) or change.get("mode", "managed") != "managed":
            continue
        kind = str(change.get("type", ""))
        if not kind.startswith("aws_iam_"):
            continue
        address = str(change.get("address", kind))
        actions = (change.get("change") or {}).get("actions") or []
        if actions in (["no-op"], ["read"]):
            continue
        handler = _HANDLERS.get(kind)
        if handler is None:
            if kind not in _NEUTRAL:
                out.skipped.append(f"{address}: {kind} is not modelled by the what-if")
            continue
        for op in handler(planner, change, address):
            out.ops.append(op)
            out.addresses.append(address)
    out.skipped.extend(planner.unresolved)
    return out


@dataclass
class _Planner:
    plan: dict
    account_id: str
    unresolved: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._config = {address: res for address, res in _config_resources(self.plan.get("configuration") or {})}
        self._after = {
            str(c.get("address")): (c.get("change") or {}).get("after") or {}
            for c in self.plan.get("resource_changes") or []
            if isinstance(c, dict)
        }

    def value(self, change: dict, address: str, key: str, *, before: bool = False) -> Any:
        """A planned attribute; when Terraform knows it only after apply, the attribute it refers to."""
        body = change.get("change") or {}
        state = (body.get("before") if before else body.get("after")) or {}
        known = state.get(key)
        if known not in (None, "") or before:
            return known
        return self._referenced(address, key)

    def _referenced(self, address: str, key: str) -> Any:
        expression = ((self._config.get(_config_address(address)) or {}).get("expressions") or {}).get(key) or {}
        for ref in expression.get("references") or []:
            parts = str(ref).split(".")
            if len(parts) < 2:
                continue
            target = ".".join(parts[:2])
            attribute = parts[2] if len(parts) > 2 else ""
            after = self._after.get(target) or self._after_by_prefix(target)
            if after is None:
                continue
            resolved = self._attribute(target, after, attribute)
            if resolved:
                return resolved
        self.unresolved.append(f"{address}: {key} is known only after apply and refers to nothing in the plan")
        return None

    def _after_by_prefix(self, target: str) -> dict | None:
        # A reference to a counted or for_each resource names it without its index.
        for address, after in self._after.items():
            if address.split("[", 1)[0] == target:
                return after
        return None

    def _attribute(self, target: str, after: dict, attribute: str) -> Any:
        if after.get(attribute):
            return after[attribute]
        kind = target.split(".", 1)[0]
        name, path = after.get("name"), after.get("path") or "/"
        if attribute == "arn" and name:
            noun = {"aws_iam_policy": "policy", "aws_iam_role": "role", "aws_iam_user": "user"}.get(kind)
            if noun:
                return f"arn:aws:iam::{self.account_id}:{noun}{path}{name}"
        if attribute in ("name", "id") and name:
            return name
        return None


def _config_resources(configuration: dict) -> Iterator[tuple[str, dict]]:
    def walk(module: dict, prefix: str) -> Iterator[tuple[str, dict]]:
        for res in module.get("resources") or []:
            if isinstance(res, dict) and res.get("address"):
                yield prefix + str(res["address"]), res
        for name, call in (module.get("module_calls") or {}).items():
            yield from walk((call or {}).get("module") or {}, f"{prefix}module.{name}.")

    return walk(configuration.get("root_module") or {}, "")


def _config_address(address: str) -> str:
    # aws_iam_role.app["x"] and aws_iam_role.app[0] share one configuration block.
    return ".".join(part.split("[", 1)[0] for part in address.split("."))


def _document(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw  # the what-if refuses it as IAM would (MalformedPolicyDocument)
    return raw


def _acts(change: dict) -> tuple[bool, bool]:
    """(creates or replaces, deletes or replaces)."""
    actions = (change.get("change") or {}).get("actions") or []
    return ("create" in actions or "update" in actions), ("delete" in actions)


def _changed(change: dict, key: str) -> bool:
    body = change.get("change") or {}
    return (body.get("before") or {}).get(key) != (body.get("after") or {}).get(key)


def _policy(p: _Planner, change: dict, address: str) -> Iterator[dict]:
    actions = (change.get("change") or {}).get("actions") or []
    after = (change.get("change") or {}).get("after") or {}
    before = (change.get("change") or {}).get("before") or {}
    if actions == ["update"]:
        arn = before.get("arn") or p.value(change, address, "arn")
        if _changed(change, "policy"):
            yield {
                "Operation": "CreatePolicyVersion",
                "PolicyArn": arn,
                "PolicyDocument": _document(after.get("policy")),
                "SetAsDefault": True,
            }
        return
    if "delete" in actions and before.get("arn"):
        yield {"Operation": "DeletePolicy", "PolicyArn": before["arn"]}
    if "create" in actions:
        yield {
            "Operation": "CreatePolicy",
            "PolicyName": after.get("name") or p.value(change, address, "name"),
            "Path": after.get("path") or "/",
            "PolicyDocument": _document(after.get("policy")),
        }


def _inline(kind: str):
    def handler(p: _Planner, change: dict, address: str) -> Iterator[dict]:
        writes, deletes = _acts(change)
        before = (change.get("change") or {}).get("before") or {}
        if deletes and not writes and before:
            yield {
                "Operation": f"Delete{_KIND[kind]}Policy",
                _NAME_KEY[kind]: before.get(kind),
                "PolicyName": before.get("name"),
            }
            return
        if writes:
            yield {
                "Operation": f"Put{_KIND[kind]}Policy",
                _NAME_KEY[kind]: p.value(change, address, kind),
                "PolicyName": p.value(change, address, "name"),
                "PolicyDocument": _document(p.value(change, address, "policy")),
            }

    return handler


def _attachment(kind: str):
    def handler(p: _Planner, change: dict, address: str) -> Iterator[dict]:
        writes, deletes = _acts(change)
        before = (change.get("change") or {}).get("before") or {}
        if deletes and before:
            yield {
                "Operation": f"Detach{_KIND[kind]}Policy",
                _NAME_KEY[kind]: before.get(kind),
                "PolicyArn": before.get("policy_arn"),
            }
        if writes:
            yield {
                "Operation": f"Attach{_KIND[kind]}Policy",
                _NAME_KEY[kind]: p.value(change, address, kind),
                "PolicyArn": p.value(change, address, "policy_arn"),
            }

    return handler


def _policy_attachment(p: _Planner, change: dict, address: str) -> Iterator[dict]:
    """aws_iam_policy_attachment: one policy attached exclusively to lists of users, roles and groups."""
    body = change.get("change") or {}
    before, after = body.get("before") or {}, body.get("after") or {}
    arn = p.value(change, address, "policy_arn") or before.get("policy_arn")
    for kind, key in (("user", "users"), ("role", "roles"), ("group", "groups")):
        old, new = set(before.get(key) or ()), set(after.get(key) or ())
        for name in sorted(old - new):
            yield {
                "Operation": f"Detach{_KIND[kind]}Policy",
                _NAME_KEY[kind]: name,
                "PolicyArn": before.get("policy_arn"),
            }
        for name in sorted(new - old):
            yield {"Operation": f"Attach{_KIND[kind]}Policy", _NAME_KEY[kind]: name, "PolicyArn": arn}


def _principal(kind: str):
    def handler(p: _Planner, change: dict, address: str) -> Iterator[dict]:
        actions = (change.get("change") or {}).get("actions") or []
        after = (change.get("change") or {}).get("after") or {}
        name = after.get("name") or p.value(change, address, "name")
        boundary = after.get("permissions_boundary")
        if "create" in actions:
            op: dict = {"Operation": f"Create{_KIND[kind]}", _NAME_KEY[kind]: name, "Path": after.get("path") or "/"}
            if kind == "role":
                op["AssumeRolePolicyDocument"] = _document(after.get("assume_role_policy"))
            if boundary:
                op["PermissionsBoundary"] = boundary
            yield op
        elif actions == ["update"]:
            if kind == "role" and _changed(change, "assume_role_policy"):
                yield {
                    "Operation": "UpdateAssumeRolePolicy",
                    "RoleName": name,
                    "PolicyDocument": _document(after.get("assume_role_policy")),
                }
            if _changed(change, "permissions_boundary"):
                if boundary:
                    yield {
                        "Operation": f"Put{_KIND[kind]}PermissionsBoundary",
                        _NAME_KEY[kind]: name,
                        "PermissionsBoundary": boundary,
                    }
                else:
                    yield {"Operation": f"Delete{_KIND[kind]}PermissionsBoundary", _NAME_KEY[kind]: name}
        if kind == "role" and ("create" in actions or "update" in actions):
            # Inline policies and managed ARNs declared on the role itself (the provider's exclusive arguments).
            for block in after.get("inline_policy") or []:
                if isinstance(block, dict) and block.get("name") and block.get("policy"):
                    yield {
                        "Operation": "PutRolePolicy",
                        "RoleName": name,
                        "PolicyName": block["name"],
                        "PolicyDocument": _document(block["policy"]),
                    }
            before_arns = set(((change.get("change") or {}).get("before") or {}).get("managed_policy_arns") or ())
            for arn in sorted(set(after.get("managed_policy_arns") or ()) - before_arns):
                yield {"Operation": "AttachRolePolicy", "RoleName": name, "PolicyArn": arn}

    return handler


def _user_groups(p: _Planner, change: dict, address: str) -> Iterator[dict]:
    """aws_iam_user_group_membership: one user, a list of groups."""
    body = change.get("change") or {}
    before, after = body.get("before") or {}, body.get("after") or {}
    user = after.get("user") or before.get("user") or p.value(change, address, "user")
    old, new = set(before.get("groups") or ()), set(after.get("groups") or ())
    for group in sorted(old - new):
        yield {"Operation": "RemoveUserFromGroup", "UserName": user, "GroupName": group}
    for group in sorted(new - old):
        yield {"Operation": "AddUserToGroup", "UserName": user, "GroupName": group}


def _group_members(p: _Planner, change: dict, address: str) -> Iterator[dict]:
    """aws_iam_group_membership: one group, a list of users."""
    body = change.get("change") or {}
    before, after = body.get("before") or {}, body.get("after") or {}
    group = after.get("group") or before.get("group") or p.value(change, address, "group")
    old, new = set(before.get("users") or ()), set(after.get("users") or ())
    for user in sorted(old - new):
        yield {"Operation": "RemoveUserFromGroup", "UserName": user, "GroupName": group}
    for user in sorted(new - old):
        yield {"Operation": "AddUserToGroup", "UserName": user, "GroupName": group}


def _access_key(p: _Planner, change: dict, address: str) -> Iterator[dict]:
    if "create" in ((change.get("change") or {}).get("actions") or []):
        yield {"Operation": "CreateAccessKey", "UserName": p.value(change, address, "user")}


_HANDLERS = {
    "aws_iam_policy": _policy,
    "aws_iam_user_policy": _inline("user"),
    "aws_iam_role_policy": _inline("role"),
    "aws_iam_group_policy": _inline("group"),
    "aws_iam_user_policy_attachment": _attachment("user"),
    "aws_iam_role_policy_attachment": _attachment("role"),
    "aws_iam_group_policy_attachment": _attachment("group"),
    "aws_iam_policy_attachment": _policy_attachment,
    "aws_iam_user": _principal("user"),
    "aws_iam_role": _principal("role"),
    "aws_iam_user_group_membership": _user_groups,
    "aws_iam_group_membership": _group_members,
    "aws_iam_access_key": _access_key,
}
