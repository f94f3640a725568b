"""A change set is a list of IAM API operations; the AWS CLI lines and the Terraform are renderings of it.

    cli_lines(ops) -> ["aws iam put-user-policy --user-name ... --policy-document '{...}'", ...]
    parse_cli(text) -> ops          (the same lines read back, as the what-if and a reviewer's script see them)
    terraform(ops) -> str

One table (`OPERATIONS`) says, for each operation the what-if models, its CLI command and which parameter is which
option, so rendering and reading can never disagree. Policy documents are printed inline as compact JSON in single
quotes: every line runs as printed, with no file to create first.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

JSON, TEXT, FLAG = "json", "text", "flag"


@dataclass(frozen=True)
class Param:
    name: str  # the IAM API parameter
    option: str  # the CLI option
    kind: str = TEXT


def _p(name: str, kind: str = TEXT) -> Param:
    option = "--" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
    return Param(name, option, kind)


_DOC = _p("PolicyDocument", JSON)
OPERATIONS: dict[str, tuple[str, tuple[Param, ...]]] = {}
for _kind, _key in (("User", "UserName"), ("Role", "RoleName"), ("Group", "GroupName")):
    OPERATIONS[f"Put{_kind}Policy"] = (f"put-{_kind.lower()}-policy", (_p(_key), _p("PolicyName"), _DOC))
    OPERATIONS[f"Delete{_kind}Policy"] = (f"delete-{_kind.lower()}-policy", (_p(_key), _p("PolicyName")))
    OPERATIONS[f"Attach{_kind}Policy"] = (f"attach-{_kind.lower()}-policy", (_p(_key), _p("PolicyArn")))
    OPERATIONS[f"Detach{_kind}Policy"] = (f"detach-{_kind.lower()}-policy", (_p(_key), _p("PolicyArn")))
for _kind, _key in (("User", "UserName"), ("Role", "RoleName")):
    OPERATIONS[f"Put{_kind}PermissionsBoundary"] = (
        f"put-{_kind.lower()}-permissions-boundary",
        (_p(_key), _p("PermissionsBoundary")),
    )
    OPERATIONS[f"Delete{_kind}PermissionsBoundary"] = (f"delete-{_kind.lower()}-permissions-boundary", (_p(_key),))
OPERATIONS.update(
    {
        "CreatePolicy": ("create-policy", (_p("PolicyName"), _p("Path"), _DOC)),
        "DeletePolicy": ("delete-policy", (_p("PolicyArn"),)),
        "CreatePolicyVersion": ("create-policy-version", (_p("PolicyArn"), _DOC, _p("SetAsDefault", FLAG))),
        "SetDefaultPolicyVersion": ("set-default-policy-version", (_p("PolicyArn"), _p("VersionId"))),
        "DeletePolicyVersion": ("delete-policy-version", (_p("PolicyArn"), _p("VersionId"))),
        "AddUserToGroup": ("add-user-to-group", (_p("GroupName"), _p("UserName"))),
        "RemoveUserFromGroup": ("remove-user-from-group", (_p("GroupName"), _p("UserName"))),
        "UpdateAssumeRolePolicy": ("update-assume-role-policy", (_p("RoleName"), _DOC)),
        "CreateAccessKey": ("create-access-key", (_p("UserName"),)),
        "CreateUser": ("create-user", (_p("UserName"), _p("Path"), _p("PermissionsBoundary"))),
        "CreateRole": (
            "create-role",
            (_p("RoleName"), _p("Path"), _p("AssumeRolePolicyDocument", JSON), _p("PermissionsBoundary")),
        ),
    }
)
_BY_COMMAND = {command: (name, params) for name, (command, params) in OPERATIONS.items()}


class ChangeSetError(ValueError):
    """A line or an operation that is not one of the IAM calls the what-if models."""


def cli_line(op: dict) -> str:
    name = op.get("Operation", "")
    if name not in OPERATIONS:
        raise ChangeSetError(f"no CLI rendering for operation {name!r}")
    command, params = OPERATIONS[name]
    words = ["aws", "iam", command]
    for param in params:
        value = op.get(param.name)
        if value is None or value == "" or value is False:
            continue
        if param.kind == FLAG:
            words.append(param.option)
        elif param.kind == JSON:
            words += [param.option, shlex.quote(_compact(value))]
        else:
            words += [param.option, shlex.quote(str(value))]
    return " ".join(words)


def cli_lines(ops: list[dict]) -> list[str]:
    return [cli_line(op) for op in ops]


def parse_cli(text: str) -> list[dict]:
    """`aws iam ...` lines (blank lines and # comments skipped; a trailing backslash joins lines) -> operations."""
    ops = []
    joined = re.sub(r"\\\n", " ", text)
    for number, line in enumerate(joined.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise ChangeSetError(f"line {number}: {exc}") from None
        if words[:2] != ["aws", "iam"] or len(words) < 3 or words[2] not in _BY_COMMAND:
            raise ChangeSetError(f"line {number}: not an `aws iam` command the what-if models: {line[:80]}")
        name, params = _BY_COMMAND[words[2]]
        by_option = {p.option: p for p in params}
        op: dict[str, Any] = {"Operation": name}
        rest = words[3:]
        while rest:
            option = rest.pop(0)
            param = by_option.get(option)
            if param is None:
                raise ChangeSetError(f"line {number}: {words[2]} has no option {option}")
            if param.kind == FLAG:
                op[param.name] = True
                continue
            if not rest:
                raise ChangeSetError(f"line {number}: {option} needs a value")
            value = rest.pop(0)
            if param.kind == JSON:
                try:
                    op[param.name] = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ChangeSetError(f"line {number}: {option} is not JSON ({exc.msg})") from None
            else:
                op[param.name] = value
        ops.append(op)
    return ops


def _compact(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))


# --- Terraform -----------------------------------------------------------------------------------------------------


def _tf_name(*parts: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(p.rsplit("/", 1)[-1] for p in parts if p)).strip("_").lower()
    return ("r_" + name) if not name or not name[0].isalpha() else name[:60]


def _jsonencode(document: Any) -> str:
    text = json.dumps(document, indent=2)
    return "jsonencode(" + text.replace("\n", "\n  ") + ")"


def terraform(ops: list[dict]) -> str:
    """The change as Terraform: new resources as blocks; a removal as the resource to delete from the code."""
    blocks = []
    for op in ops:
        name = op.get("Operation", "")
        kind = next(
            (k for k in ("User", "Role", "Group") if name.endswith(f"{k}Policy") or f"{k}Permissions" in name), ""
        )
        entity = op.get(f"{kind}Name", "") if kind else ""
        low = kind.lower()
        if name == f"Put{kind}Policy" and kind:
            blocks.append(
                f'resource "aws_iam_{low}_policy" "{_tf_name(entity, op["PolicyName"])}" {{\n'
                f'  name   = "{op["PolicyName"]}"\n  {low:<6} = "{entity}"\n'
                f"  policy = {_jsonencode(op['PolicyDocument'])}\n}}"
            )
        elif name == f"Attach{kind}Policy" and kind:
            blocks.append(
                f'resource "aws_iam_{low}_policy_attachment" "{_tf_name(entity, op["PolicyArn"])}" {{\n'
                f'  {low:<10} = "{entity}"\n  policy_arn = "{op["PolicyArn"]}"\n}}'
            )
        elif name == f"Detach{kind}Policy" and kind:
            blocks.append(
                f'# Delete the aws_iam_{low}_policy_attachment of {op["PolicyArn"]} to {low} "{entity}" '
                "(or drop it from the attachments that name it)."
            )
        elif name == f"Delete{kind}Policy" and kind:
            blocks.append(f'# Delete the aws_iam_{low}_policy "{op["PolicyName"]}" of {low} "{entity}".')
        elif name == "CreatePolicyVersion":
            blocks.append(
                f"# The aws_iam_policy with arn {op['PolicyArn']} gets this document (Terraform makes it the default "
                f"version):\n  policy = {_jsonencode(op['PolicyDocument'])}"
            )
        elif name == "DeletePolicyVersion":
            blocks.append(
                f"# Terraform keeps one version per aws_iam_policy; {op['VersionId']} of {op['PolicyArn']} is deleted "
                "with the AWS CLI line above."
            )
        elif name == "RemoveUserFromGroup":
            blocks.append(f'# Remove "{op["UserName"]}" from group "{op["GroupName"]}" in its group membership.')
        elif name == "AddUserToGroup":
            blocks.append(
                f'resource "aws_iam_user_group_membership" "{_tf_name(op["UserName"], op["GroupName"])}" {{\n'
                f'  user   = "{op["UserName"]}"\n  groups = ["{op["GroupName"]}"]\n}}'
            )
        elif name == f"Put{kind}PermissionsBoundary" and kind:
            blocks.append(f'# On aws_iam_{low} "{entity}": permissions_boundary = "{op["PermissionsBoundary"]}"')
        elif name == f"Delete{kind}PermissionsBoundary" and kind:
            blocks.append(f'# On aws_iam_{low} "{entity}": remove permissions_boundary.')
        elif name == "UpdateAssumeRolePolicy":
            blocks.append(
                f'# On aws_iam_role "{op["RoleName"]}":\n  assume_role_policy = {_jsonencode(op["PolicyDocument"])}'
            )
        elif name == "CreatePolicy":
            blocks.append(
                f'resource "aws_iam_policy" "{_tf_name(op["PolicyName"])}" {{\n  name   = "{op["PolicyName"]}"\n'
                f"  policy = {_jsonencode(op['PolicyDocument'])}\n}}"
            )
        elif name == "DeletePolicy":
            blocks.append(f"# Delete the aws_iam_policy with arn {op['PolicyArn']}.")
        else:
            blocks.append(f"# {cli_line(op)}")
    return "\n\n".join(blocks) + ("\n" if blocks else "")
