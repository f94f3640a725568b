"""The concrete change that fixes a finding: AWS CLI commands, the policy as it should read, Terraform, AWS docs.

    fix_for(finding: dict) -> {"summary": str, "cli": [str, ...], "policy": dict | None, "terraform": str,
                               "docs": [{"title": str, "url": str}, ...]}

Works from the finding dict alone (findings contract: check_id, category, principal_*, policy, evidence with
statements / method / path / actions / target / conditions, and the older evidence shapes), so stored findings get
a fix too. Real names are filled in from the finding; where the right value can only come from the account owner (an
ExternalId to agree with a third party, the repository an OIDC role is for) the value reads `<...>` and the summary
says so. Checks this module does not know get the fix of their category, so a new check still gets one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from audits.iam.evaluator import action_matches
from audits.iam.finding_types import DocLink, Fix
from audits.iam.indented_json import dumps_indented

VERSION = "2012-10-17"
_IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
DOCS: dict[str, tuple[str, str]] = {
    "least_privilege": ("Security best practices in IAM", _IAM + "best-practices.html"),
    "edit_policy": ("Edit IAM policies", _IAM + "access_policies_manage-edit.html"),
    "policy_versions": ("Versioning IAM policies", _IAM + "access_policies_managed-versioning.html"),
    "boundaries": ("Permissions boundaries for IAM entities", _IAM + "access_policies_boundaries.html"),
    "evaluation": ("Policy evaluation logic", _IAM + "reference_policies_evaluation-logic.html"),
    "last_accessed": (
        "Refine permissions using last accessed information",
        _IAM + "access_policies_last-accessed.html",
    ),
    "passrole": ("Grant a user permissions to pass a role to an AWS service", _IAM + "id_roles_use_passrole.html"),
    "trust": ("Update a role trust policy", _IAM + "id_roles_update-role-trust-policy.html"),
    "external_id": (
        "Access to AWS accounts owned by third parties (external ID)",
        _IAM + "id_roles_create_for-user_externalid.html",
    ),
    "confused_deputy": ("The confused deputy problem", _IAM + "confused-deputy.html"),
    "oidc": ("Create a role for OpenID Connect federation", _IAM + "id_roles_create_for-idp_oidc.html"),
    "condition_keys": ("AWS global condition context keys", _IAM + "reference_policies_condition-keys.html"),
    "mfa": ("Assign a virtual MFA device", _IAM + "id_credentials_mfa_enable_virtual.html"),
    "mfa_policy": (
        "Allow users to manage their own credentials and MFA",
        _IAM + "reference_policies_examples_aws_my-sec-creds-self-manage.html",
    ),
    "access_keys": ("Manage access keys for IAM users", _IAM + "id_credentials_access-keys.html"),
    "access_keys_admin": (
        "How an IAM administrator can manage IAM user access keys",
        _IAM + "access-keys-admin-managed.html",
    ),
    "password_policy": (
        "Set an account password policy for IAM users",
        _IAM + "id_credentials_passwords_account-policy.html",
    ),
    "passwords_admin": ("Manage passwords for IAM users", _IAM + "id_credentials_passwords_admin-change-user.html"),
    "credential_report": ("Generate credential reports", _IAM + "id_credentials_getting-report.html"),
    "root_keys": ("Delete access keys for the root user", _IAM + "id_root-user_manage_delete-key.html"),
    "root_mfa": ("Multi-factor authentication for the root user", _IAM + "enable-mfa-for-root.html"),
    "root_tasks": ("Tasks that require root user credentials", _IAM + "id_root-user.html"),
    "groups": ("Add and remove users in an IAM user group", _IAM + "id_groups_manage_add-remove-users.html"),
    "delete_user": ("Remove or deactivate an IAM user", _IAM + "id_users_remove.html"),
    "delete_role": ("Delete roles or instance profiles", _IAM + "id_roles_manage_delete.html"),
    "support": (
        "Manage access to AWS Support",
        "https://docs.aws.amazon.com/awssupport/latest/user/accessing-support.html",
    ),
    "security_audit": (
        "AWS managed policy: SecurityAudit",
        "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/SecurityAudit.html",
    ),
    "scp": (
        "Service control policies",
        "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html",
    ),
    "kms": (
        "Best practices for IAM policies (AWS KMS)",
        "https://docs.aws.amazon.com/kms/latest/developerguide/iam-policies-best-practices.html",
    ),
    "cloudtrail": (
        "Identity-based policy examples for AWS CloudTrail",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/security_iam_id-based-policy-examples.html",
    ),
    "marketplace": (
        "Controlling access to AWS Marketplace subscriptions",
        "https://docs.aws.amazon.com/marketplace/latest/buyerguide/buyer-iam-users-groups-policies.html",
    ),
    "cloudshell": (
        "Managing AWS CloudShell access and usage with IAM policies",
        "https://docs.aws.amazon.com/cloudshell/latest/userguide/sec-auth-with-identities.html",
    ),
}

# AWS managed policies cannot be edited: they are detached (or fenced by a Deny) instead.
AWS_MANAGED = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/")
KNOWN_AWS_MANAGED = frozenset(
    {
        "AdministratorAccess",
        "PowerUserAccess",
        "IAMFullAccess",
        "ReadOnlyAccess",
        "ViewOnlyAccess",
        "SecurityAudit",
        "AWSCloudShellFullAccess",
        "AWSCloudTrailFullAccess",
        "AmazonEC2FullAccess",
        "AmazonS3FullAccess",
        "AWSSupportAccess",
        "AWSKeyManagementServicePowerUser",
        "AWSLambda_FullAccess",
        "AWSCloudFormationFullAccess",
    }
)
MFA_SELF_SERVICE = [
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "iam:ChangePassword",
    "iam:GetAccountPasswordPolicy",
    "sts:GetSessionToken",
]
DESTRUCTIVE = {
    "kms": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:DisableKey", "kms:CreateGrant", "kms:DeleteAlias"],
    "cloudtrail": [
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "cloudtrail:UpdateTrail",
        "cloudtrail:PutEventSelectors",
    ],
}
SUPPORT_POLICY = "arn:aws:iam::aws:policy/AWSSupportAccess"
SECURITY_AUDIT_POLICY = "arn:aws:iam::aws:policy/SecurityAudit"
# Compiled once: every finding of an audit is read through them.
_ACCOUNT_OF = re.compile(r"^arn:aws[\w-]*:[\w-]*:[\w-]*:(\d{12}):")
_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+")
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_HOLDER_ARN = re.compile(r"^arn:[^:]+:iam::\d{12}:(user|role|group)/(?:.*/)?([^/]+)$")


# --- reading the finding ---------------------------------------------------------------------------------------------


class _Finding:
    """The parts of a finding dict a fix needs, read defensively: stored findings come in several shapes."""

    def __init__(self, finding: Mapping[str, Any]) -> None:
        self.raw = finding
        self.check_id = str(finding.get("check_id") or "")
        self.category = str(finding.get("category") or "")
        self.arn = str(finding.get("principal_arn") or "")
        self.type = str(finding.get("principal_type") or "")
        self.name = str(finding.get("principal_name") or "") or self.arn.rsplit("/", 1)[-1]
        self.policy = str(finding.get("policy") or "")
        evidence = finding.get("evidence")
        self.evidence: dict = evidence if isinstance(evidence, dict) else {}
        match = _ACCOUNT_OF.match(self.arn)
        self.account = match.group(1) if match else ""
        self.partition = self.arn.split(":")[1] if self.arn.count(":") >= 5 else "aws"
        # Read from the evidence once: a fix asks for them several times (to narrow, to name the owner, ...).
        self._statements: list[dict] | None = None
        self._actions: list[str] | None = None

    def statements(self) -> list[dict]:
        """Granting statements as {"policy", "sid", "statement"}, from `statements` and escalation `methods`."""
        if self._statements is None:
            self._statements = self._read_statements()
        return self._statements

    def _read_statements(self) -> list[dict]:
        found: list[dict] = []
        for item in _list(self.evidence.get("statements")):
            if isinstance(item, dict) and isinstance(item.get("statement"), dict):
                found.append(item)
        for method in _list(self.evidence.get("methods")):
            if isinstance(method, dict):
                found.extend(
                    s
                    for s in _list(method.get("statements"))
                    if isinstance(s, dict) and isinstance(s.get("statement"), dict)
                )
        unique: list[dict] = []
        for item in found:
            if item not in unique:
                unique.append(item)
        return unique

    def actions(self) -> list[str]:
        """The dangerous actions the finding names (display-cased), in order, once each.

        Of an escalation method's actions, taking away one breaks the method: the IAM/STS one when there is one
        (iam:PassRole, iam:CreateAccessKey, ...), since the service actions beside it are the workload's own."""
        if self._actions is None:
            self._actions = self._read_actions()
        return self._actions

    def _read_actions(self) -> list[str]:
        names: list[str] = [str(a) for a in _list(self.evidence.get("actions"))]
        for method in _list(self.evidence.get("methods")):
            if isinstance(method, dict):
                listed = [str(a) for a in _list(method.get("actions"))]
                pivots = [a for a in listed if a.lower().startswith(("iam:", "sts:"))]
                names.extend(pivots[:1] or listed[:1])
        return list(dict.fromkeys(n for n in names if ":" in n))

    def hops(self) -> list[dict]:
        path = self.evidence.get("path")
        return [h for h in _list(path) if isinstance(h, dict)]

    def first_hop_target(self) -> str:
        """The ARN the principal reaches first on an escalation path: cutting that hop cuts the path."""
        hops = self.hops()
        if hops and hops[0].get("to"):
            return str(hops[0]["to"])
        chain = [h for h in _list(self.evidence.get("hops")) if isinstance(h, dict) and h.get("arn")]
        if len(chain) > 1:
            return str(chain[1]["arn"])
        return str(self.evidence.get("target") or "")

    def trust_statement(self) -> dict | None:
        statement = self.evidence.get("statement")
        if isinstance(statement, dict):
            return statement
        for item in self.statements():
            if "Principal" in item["statement"] or "NotPrincipal" in item["statement"]:
                return item["statement"]
        return None

    def policy_names(self) -> list[str]:
        names = [str(p) for p in _list(self.evidence.get("policies"))]
        names += [str(s.get("policy")) for s in self.statements() if s.get("policy")]
        if self.policy:
            names.insert(0, self.policy)
        return list(dict.fromkeys(_policy_label(n) for n in names if n))


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _policy_label(source: str) -> str:
    """'user/alice:inline/Name' (the new evaluator's source label) -> 'Name'; ARNs and names stay as they are."""
    if ":inline/" in source and not source.startswith("arn:"):
        return source.rsplit(":inline/", 1)[1]
    return source


def _short(source: str) -> str:
    """A policy's name, whether evidence gives its ARN, its name or an inline source label."""
    return _policy_label(source).rsplit("/", 1)[-1]


def _is_inline_source(source: str) -> bool:
    return ":inline/" in source and not source.startswith("arn:")


def _managed_arn(name: str, f: _Finding) -> str | None:
    """The ARN of a managed policy named in evidence, or None when it reads as an inline policy."""
    if name.startswith("arn:"):
        return name
    if name in KNOWN_AWS_MANAGED:
        return f"arn:{f.partition}:iam::aws:policy/{name}"
    return None


def _shell(value: str) -> str:
    """Single-quote for a POSIX shell unless the value is plainly safe (IAM names nearly always are)."""
    if _SHELL_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _tf_id(name: str) -> str:
    ident = _NOT_IDENT.sub("_", name).strip("_").lower() or "resource"
    return ident if not ident[0].isdigit() else "r_" + ident


def _doc(*keys: str) -> list[DocLink]:
    return [{"title": DOCS[k][0], "url": DOCS[k][1]} for k in keys]


def _document(*statements: dict) -> dict:
    return {"Version": VERSION, "Statement": list(statements)}


def _json(document: dict) -> str:
    return dumps_indented(document)


def _sid(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in _NOT_ALNUM.split(text))[:100] or "Aegis"


# --- statements as they should read ----------------------------------------------------------------------------------


def _without(statement: dict, actions: list[str]) -> tuple[dict, bool]:
    """The statement with `actions` taken out; (statement, True) when that was possible without a Deny.

    An explicit Action list loses the listed actions; a NotAction list gains them. A wildcard ("*", "iam:*") that
    covers them cannot be narrowed without knowing what the holder uses, so it is returned as is (False)."""
    fixed = {k: v for k, v in statement.items()}
    if "NotAction" in statement:
        listed = _list(statement["NotAction"]) or [statement["NotAction"]]
        fixed["NotAction"] = list(dict.fromkeys([*map(str, listed), *actions]))
        return fixed, True
    listed = [str(a) for a in (_list(statement.get("Action")) or [statement.get("Action", "")])]
    lowered = [x.lower() for x in actions]  # once, not per listed action (AWS-managed statements list hundreds)
    wanted = set(lowered)
    if any((low := a.lower()) not in wanted and any(action_matches(low, x) for x in lowered) for a in listed):
        return fixed, False
    kept = [a for a in listed if a.lower() not in wanted]
    fixed["Action"] = kept if len(kept) != 1 else kept[0]
    return fixed, True


def _grants(statement: dict, action: str) -> bool:
    if statement.get("Effect", "Allow") != "Allow":
        return False
    action = action.lower()
    if "NotAction" in statement:
        listed = _list(statement["NotAction"]) or [statement["NotAction"]]
        return not any(action_matches(str(p).lower(), action) for p in listed)
    listed = _list(statement.get("Action")) or [statement.get("Action", "")]
    return any(action_matches(str(p).lower(), action) for p in listed)


def _delete_policy(f: _Finding, policy: str, summary: str, docs: tuple[str, ...]) -> Fix:
    arn = _managed_arn(policy, f)
    kind, owner = _owner(f)
    if arn and kind:
        cli = [_attach(kind, owner, arn, "detach")]
    elif arn:
        cli = [
            f"aws iam list-entities-for-policy --policy-arn {arn}",
            "# detach it from each entity listed, then (customer managed only): "
            f"aws iam delete-policy --policy-arn {arn}",
        ]
    elif kind:
        cli = [f"aws iam delete-{kind}-policy {_entity_flag(kind)} {_shell(owner)} --policy-name {_shell(policy)}"]
    else:
        cli = []
    terraform = f"# remove the policy {policy} from the configuration\n"
    return _fix(summary, cli, None, terraform, _doc(*docs, "edit_policy"))


def _deny(actions: Iterable[str], sid: str, resource: str | list[str] = "*", condition: dict | None = None) -> dict:
    statement: dict = {"Sid": sid, "Effect": "Deny", "Action": sorted(dict.fromkeys(actions)), "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


# --- commands --------------------------------------------------------------------------------------------------------


def _entity_flag(kind: str) -> str:
    return {"user": "--user-name", "role": "--role-name", "group": "--group-name"}[kind]


def _put_inline(kind: str, name: str, policy_name: str, file: str) -> str:
    return (
        f"aws iam put-{kind}-policy {_entity_flag(kind)} {_shell(name)} --policy-name {_shell(policy_name)} "
        f"--policy-document file://{file}"
    )


def _attach(kind: str, name: str, arn: str, verb: str = "attach") -> str:
    return f"aws iam {verb}-{kind}-policy {_entity_flag(kind)} {_shell(name)} --policy-arn {arn}"


def _tf_inline(kind: str, name: str, policy_name: str, document: dict) -> str:
    ident = _tf_id(f"{name}_{policy_name}")
    return (
        f'resource "aws_iam_{kind}_policy" "{ident}" {{\n  name   = "{policy_name}"\n'
        f'  {kind:<6} = "{name}"\n  policy = jsonencode({_hcl(document, 2)})\n}}\n'
    )


def _hcl(value: Any, indent: int) -> str:
    """JSON is valid inside jsonencode() (its quoted keys are HCL strings). Indented for reading when short; a long
    document stays on one line."""
    compact = json.dumps(value)
    if len(compact) > 1500:
        return compact
    # Equal documents recur across an audit's findings (the same fence, boundary or corrected trust statement for
    # many principals): the compact text names the document, so each is indented once.
    key = (compact, indent)
    found = _INDENTED.get(key)
    if found is None:
        if len(_INDENTED) >= _INDENTED_MAX:
            _INDENTED.clear()
        found = _INDENTED[key] = dumps_indented(value, 2, indent)
    return found


_INDENTED: dict[tuple[str, int], str] = {}
_INDENTED_MAX = 2048


# --- fixes by kind ---------------------------------------------------------------------------------------------------


def _fix(summary: str, cli: list[str], policy: dict | None, terraform: str, docs: list[DocLink]) -> Fix:
    return {"summary": summary, "cli": cli, "policy": policy, "terraform": terraform, "docs": docs}


def _narrow_policy(f: _Finding, actions: list[str], docs: tuple[str, ...], why: str) -> Fix:
    """Take the dangerous actions out of the granting statements, or fence them with a Deny where a wildcard grants."""
    statements = [r for r in f.statements() if not actions or any(_grants(r["statement"], a) for a in actions)]
    fixed, all_removed = [], bool(statements)
    for ref in statements:
        statement, removed = _without(ref["statement"], actions) if actions else (ref["statement"], False)
        all_removed = all_removed and removed
        if statement.get("Action") != []:
            fixed.append(statement)
    policies = {_short(str(r.get("policy", ""))) for r in statements}
    label = _policy_label(f.policy) if f.policy else (next(iter(policies)) if len(policies) == 1 else "")
    if actions and all_removed and label and policies <= {_short(label)}:
        text = f"{why} Remove {', '.join(actions[:8])} from the statement(s) shown"
        if not fixed:
            return _delete_policy(f, label, text + ": nothing else is left in them, so the policy can go.", docs)
        return _rewrite(
            f, label, _document(*fixed), actions, text + " and keep the policy's other statements as they are.", docs
        )
    if not actions:
        return _fix(
            f"{why} List the actions and resources the job needs instead of the wildcard grant; the "
            "service last-accessed data shows what is actually used.",
            _last_accessed(f),
            None,
            "",
            _doc(*docs, "last_accessed"),
        )
    deny = _deny(actions, "AegisDeny" + _sid(f.check_id))
    return _fence(
        f,
        label,
        deny,
        f"{why} The grant is a wildcard, so the fix is an explicit Deny of "
        f"{', '.join(actions[:8])} (an explicit Deny wins over any Allow); narrow the wildcard later.",
        docs,
    )


def _rewrite(f: _Finding, policy: str, document: dict, removed: list[str], summary: str, docs: tuple[str, ...]) -> Fix:
    """Apply a corrected document to the policy the finding names: a new version, or the inline policy.

    An AWS managed policy cannot be edited, so its holders get a Deny of the `removed` actions instead."""
    arn = _managed_arn(policy, f) if policy else None
    if arn and AWS_MANAGED.match(arn):
        deny = _deny(removed or ["*"], "AegisFence" + _sid(f.check_id))
        return _fence(
            f,
            policy,
            deny,
            summary + f" {policy} is AWS managed and cannot be edited: detach it, or fence it with the Deny shown.",
            docs,
        )
    if arn:
        cli = [
            f"aws iam create-policy-version --policy-arn {arn} --policy-document file://fixed-policy.json "
            "--set-as-default",
            f"# at the 5-version limit, first: aws iam list-policy-versions --policy-arn {arn} "
            "and delete-policy-version the oldest non-default one",
        ]
        ident = _tf_id(arn.rsplit("/", 1)[-1])
        terraform = (
            f'resource "aws_iam_policy" "{ident}" {{\n  name   = "{arn.rsplit("/", 1)[-1]}"\n'
            f"  policy = jsonencode({_hcl(document, 2)})\n}}\n"
        )
        return _fix(summary, cli, document, terraform, _doc(*docs, "policy_versions"))
    kind, owner = _owner(f)
    if kind and policy:
        return _fix(
            summary,
            [_put_inline(kind, owner, policy, "fixed-policy.json")],
            document,
            _tf_inline(kind, owner, policy, document),
            _doc(*docs, "edit_policy"),
        )
    return _fix(summary, [], document, "", _doc(*docs, "edit_policy"))


def _fence(f: _Finding, policy: str, deny: dict, summary: str, docs: tuple[str, ...]) -> Fix:
    """An inline Deny policy on the principal(s) that hold the grant."""
    document = _document(deny)
    name = "aegis-" + f.check_id.replace("_", "-")[:60]
    holders = _holders(f)
    cli = [_put_inline(kind, owner, name, "deny-policy.json") for kind, owner in holders]
    terraform = "".join(_tf_inline(kind, owner, name, document) for kind, owner in holders[:3])
    if not holders and f.type == "policy":
        arn = f.arn or _managed_arn(policy, f) or policy
        cli = [
            f"aws iam list-entities-for-policy --policy-arn {arn}",
            "# then, for each user/role/group listed: aws iam put-<user|role|group>-policy --<user|role|group>-name "
            f"NAME --policy-name {name} --policy-document file://deny-policy.json",
        ]
    return _fix(summary, cli, document, terraform, _doc(*docs, "evaluation"))


def _owner(f: _Finding) -> tuple[str, str]:
    """The user/role/group an inline policy of this finding belongs to."""
    for ref in f.statements():
        source = str(ref.get("policy", ""))
        if _is_inline_source(source):
            kind, _, rest = source.partition("/")
            if kind in ("user", "role", "group"):
                return kind, rest.split(":inline/", 1)[0].rsplit("/", 1)[-1]
    return (f.type, f.name) if f.type in ("user", "role", "group") else ("", "")


def _holders(f: _Finding) -> list[tuple[str, str]]:
    if f.type in ("user", "role", "group"):
        return [(f.type, f.name)]
    holders = []
    for arn in _list(f.evidence.get("effective_for")):
        match = _HOLDER_ARN.match(str(arn))
        if match:
            holders.append((match.group(1), match.group(2)))
    return holders


def _last_accessed(f: _Finding) -> list[str]:
    arn = f.arn if f.type in ("user", "role", "group", "policy") else ""
    if not arn:
        return []
    return [
        f"aws iam generate-service-last-accessed-details --arn {arn}",
        "aws iam get-service-last-accessed-details --job-id JOB_ID_FROM_ABOVE",
    ]


# --- admin access --------------------------------------------------------------------------------------------------


def _admin(f: _Finding) -> Fix:
    if f.type not in ("user", "role", "group"):
        return _narrow_policy(f, [], ("least_privilege",), "This policy allows every action on every resource.")
    kind = f.type if f.type in ("user", "role", "group") else ""
    cli: list[str] = []
    detach_tf: list[str] = []
    for name in f.policy_names():
        arn = _managed_arn(name, f)
        if kind and arn:
            cli.append(_attach(kind, f.name, arn, "detach"))
            detach_tf.append(f"# remove the aws_iam_{kind}_policy_attachment of {arn} to {f.name}")
        elif kind:
            cli.append(
                f"aws iam delete-{kind}-policy {_entity_flag(kind)} {_shell(f.name)} --policy-name "
                f"{_shell(name)}   # inline policy"
            )
    boundary: dict | None = _document(
        {"Sid": "AllowWithinBoundary", "Effect": "Allow", "Action": "*", "Resource": "*"},
        _deny(["iam:*", "organizations:*", "account:*"], "DenyIdentityAndAccountAdministration"),
    )
    if kind == "user":
        summary = (
            f"Take administrator access away from the user {f.name}: detach it, and let administrators "
            "assume a role with MFA for the time they need it. Until then, the boundary shown keeps the "
            "user out of IAM, Organizations and account settings."
        )
        cli.append(
            f"aws iam put-user-permissions-boundary --user-name {_shell(f.name)} --permissions-boundary "
            f"arn:{f.partition}:iam::{f.account}:policy/aegis-admin-boundary"
        )
    elif kind == "role":
        summary = (
            f"Scope the role {f.name} to what its users need; until then, set the boundary shown so it "
            "cannot change identities or the account, and restrict who may assume it."
        )
        cli.append(
            f"aws iam put-role-permissions-boundary --role-name {_shell(f.name)} --permissions-boundary "
            f"arn:{f.partition}:iam::{f.account}:policy/aegis-admin-boundary"
        )
    else:
        summary = (
            f"Remove the administrator policy from the group {f.name}; members who administer should "
            "assume a role with MFA instead."
        )
        boundary = None
    if boundary is not None:
        cli.insert(0, "aws iam create-policy --policy-name aegis-admin-boundary --policy-document file://boundary.json")
    terraform = "\n".join(detach_tf)
    if kind in ("user", "role") and boundary is not None:
        terraform += (
            f'\nresource "aws_iam_policy" "aegis_admin_boundary" {{\n  name   = "aegis-admin-boundary"\n'
            f"  policy = jsonencode({_hcl(boundary, 2)})\n}}\n"
            f'# and on the aws_iam_{kind} "{f.name}": permissions_boundary = '
            "aws_iam_policy.aegis_admin_boundary.arn\n"
        )
    return _fix(
        summary,
        cli,
        boundary,
        terraform.strip() + "\n" if terraform.strip() else "",
        _doc("least_privilege", "boundaries"),
    )


def _dormant_admin(f: _Finding) -> Fix:
    fix = _admin(f)
    days = f.evidence.get("days")
    fix["summary"] = (
        f"{f.type.title()} {f.name} holds administrator access and has not been used"
        + (f" for {days} days" if days else "")
        + ". "
        + fix["summary"]
    )
    fix["docs"] = fix["docs"] + _doc("last_accessed")
    return fix


def _admin_without_mfa(f: _Finding) -> Fix:
    fix = _mfa(f)
    fix["summary"] = f"The administrator {f.name} signs in without MFA. " + fix["summary"]
    return fix


# --- privilege escalation ------------------------------------------------------------------------------------------


def _escalation(f: _Finding) -> Fix:
    target = f.first_hop_target()
    if f.check_id == "assume_role_escalation" or f.hops() or (target and not f.actions()):
        if not target:
            return _generic(f)
        return _cut_assume(f, target)
    actions = f.actions()
    pass_role = any(a.lower() == "iam:passrole" for a in actions)
    why = "These permissions together let the principal obtain permissions it was not given."
    if pass_role:
        why += (
            " If it must pass a role, allow iam:PassRole only on that role's ARN, with an iam:PassedToService "
            "condition."
        )
    fix = _narrow_policy(f, actions, ("least_privilege", "passrole") if pass_role else ("least_privilege",), why)
    return fix


def _cut_assume(f: _Finding, target: str) -> Fix:
    role = target.rsplit("/", 1)[-1]
    deny = _deny(["sts:AssumeRole"], "AegisDenyAssume" + _sid(role), resource=target)
    summary = (
        f"{f.name} can become {role} ({target}), which is more privileged. Cut the first hop: deny "
        f"{f.name} sts:AssumeRole on {role}, and in {role}'s trust policy name only the principals that "
        "must assume it."
    )
    fix = _fence(f, "", deny, summary, ("least_privilege", "trust"))
    fix["cli"].append(f"aws iam get-role --role-name {_shell(role)} --query Role.AssumeRolePolicyDocument")
    return fix


# --- trust policies ------------------------------------------------------------------------------------------------


def _trust(f: _Finding) -> Fix:
    statement = f.trust_statement()
    role = f.name
    if statement is None:
        return _generic(f)
    fixed = json.loads(json.dumps(statement))
    condition = fixed.setdefault("Condition", {})
    principal = statement.get("Principal", {})
    aws = principal.get("AWS") if isinstance(principal, dict) else principal
    aws_list = [str(a) for a in (_list(aws) or ([aws] if aws else []))]
    docs: tuple[str, ...] = ("trust",)
    if principal == "*" or "*" in aws_list:
        condition.setdefault("StringEquals", {})["aws:PrincipalAccount"] = f.account
        summary = (
            f"Anyone in any AWS account can assume {role}. The trust policy below admits only principals "
            f"of this account ({f.account}) that are also allowed sts:AssumeRole; better still, name the "
            "role ARNs that need it."
        )
        docs += ("condition_keys",)
    elif isinstance(principal, dict) and principal.get("Federated"):
        provider = str(f.evidence.get("provider") or str(principal["Federated"]).split("oidc-provider/", 1)[-1])
        condition.setdefault("StringEquals", {})[f"{provider}:aud"] = "sts.amazonaws.com"
        sub = "repo:<owner>/<repository>:ref:refs/heads/<branch>" if "githubusercontent" in provider else "<subject>"
        condition.setdefault("StringLike", {})[f"{provider}:sub"] = sub
        summary = (
            f"{role} trusts every identity of {provider}. Add the {provider}:sub condition naming what may "
            "assume it (fill in the <...> value: for GitHub Actions the repository and branch)."
        )
        docs += ("oidc",)
    elif isinstance(principal, dict) and principal.get("Service"):
        condition.setdefault("StringEquals", {})["aws:SourceAccount"] = f.account
        summary = (
            f"Add aws:SourceAccount {f.account} (and aws:SourceArn where the service sends it) so the "
            f"service uses {role} only on behalf of this account."
        )
        docs += ("confused_deputy",)
    else:
        external = str(f.evidence.get("external_account") or "")
        own_root = all(a in (f.account, f"arn:{f.partition}:iam::{f.account}:root") for a in aws_list)
        if own_root and f.account:
            condition.setdefault("ArnLike", {})["aws:PrincipalArn"] = f"arn:{f.partition}:iam::{f.account}:role/<role>"
            summary = (
                f"{role} trusts the whole account {f.account}: any principal allowed sts:AssumeRole may "
                "become it. Name the roles that need it (fill in the <role> value)."
            )
            docs += ("condition_keys",)
        else:
            other = external or ", ".join(aws_list)
            condition.setdefault("StringEquals", {})["sts:ExternalId"] = f"<ExternalId agreed with {other}>"
            summary = (
                f"{role} trusts {other} with no ExternalId, MFA or organization condition. Agree an "
                "ExternalId with that account's owner and require it (or aws:MultiFactorAuthPresent for "
                "people, aws:PrincipalOrgID for your own organization)."
            )
            docs += ("external_id", "confused_deputy")
    document = _document(fixed)
    cli = [f"aws iam update-assume-role-policy --role-name {_shell(role)} --policy-document file://trust-policy.json"]
    terraform = (
        f'resource "aws_iam_role" "{_tf_id(role)}" {{\n  name               = "{role}"\n'
        f"  assume_role_policy = jsonencode({_hcl(document, 2)})\n}}\n"
    )
    if f.check_id == "cross_account_readonly_role":
        summary += " Replace ReadOnlyAccess by SecurityAudit or ViewOnlyAccess."
        cli += [
            _attach("role", role, f"arn:{f.partition}:iam::aws:policy/ReadOnlyAccess", "detach"),
            _attach("role", role, SECURITY_AUDIT_POLICY),
        ]
        docs += ("security_audit",)
    return _fix(summary, cli, document, terraform, _doc(*docs))


# --- credentials ---------------------------------------------------------------------------------------------------


def _key_id_lookup(user: str, number: int) -> str:
    """A shell line that finds the key the credential report calls access_key_<number> (keys in creation order)."""
    return (
        f"KEY_ID=$(aws iam list-access-keys --user-name {_shell(user)} --query "
        f"'sort_by(AccessKeyMetadata,&CreateDate)[{number - 1}].AccessKeyId' --output text)"
    )


def _key_numbers(f: _Finding) -> list[int]:
    numbers = [f.evidence.get("key"), *_list(f.evidence.get("keys"))]
    return [int(n) for n in numbers if isinstance(n, int | str) and str(n).isdigit()] or [1]


def _key_ref(f: _Finding, number: int) -> tuple[list[str], str]:
    """(lines that set KEY_ID, the key id expression): the real id when evidence carries it."""
    key_id = str(f.evidence.get("access_key_id") or "")
    if key_id:
        return [], key_id
    return [_key_id_lookup(f.name, number)], "$KEY_ID"


def _access_key(f: _Finding) -> Fix:
    user = _shell(f.name)
    number = _key_numbers(f)[-1]
    lookup, key = _key_ref(f, number)
    deactivate = f"aws iam update-access-key --user-name {user} --access-key-id {key} --status Inactive"
    delete = f"aws iam delete-access-key --user-name {user} --access-key-id {key}"
    if f.check_id == "access_key_not_rotated":
        age = f.evidence.get("age_days")
        summary = (
            f"Rotate access key {number} of {f.name}" + (f" ({age} days old)" if age else "") + ": create a "
            "new key, switch the workload to it, check the old one is no longer used, then deactivate and "
            "delete it."
        )
        cli = [
            *lookup,
            f"aws iam create-access-key --user-name {user}",
            f"aws iam get-access-key-last-used --access-key-id {key}",
            deactivate,
            delete,
        ]
    elif f.check_id == "two_active_access_keys":
        summary = (
            f"{f.name} has two active keys. Keep the one in use; deactivate, then delete, the other "
            "(key 1 is the older)."
        )
        lookup, key = _key_ref(f, 1)
        cli = [
            *lookup,
            f"aws iam get-access-key-last-used --access-key-id {key}",
            f"aws iam update-access-key --user-name {user} --access-key-id {key} --status Inactive",
            f"aws iam delete-access-key --user-name {user} --access-key-id {key}",
        ]
    else:
        when = "has never been used" if f.check_id == "access_key_never_used" else "is unused"
        summary = f"Access key {number} of {f.name} {when}: deactivate it, and delete it once nothing breaks."
        cli = [*lookup, deactivate, delete]
    terraform = f'# on the aws_iam_access_key of user "{f.name}": status = "Inactive", then remove the resource\n'
    return _fix(summary, cli, None, terraform, _doc("access_keys", "access_keys_admin"))


def _mfa(f: _Finding) -> Fix:
    user = _shell(f.name)
    serial = f"arn:{f.partition}:iam::{f.account}:mfa/{f.name}"
    summary = (
        f"Give {f.name} an MFA device (or remove the console password if the user does not sign in), and "
        "attach the policy shown so nothing but MFA setup works without MFA. The two codes come from the "
        "device."
    )
    document = _document(
        _deny(
            [], "DenyAllExceptMfaSetupWithoutMfa", condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
        )
    )
    statement = document["Statement"][0]
    statement.pop("Action")
    statement["NotAction"] = MFA_SELF_SERVICE
    cli = [
        f"aws iam create-virtual-mfa-device --virtual-mfa-device-name {user} --outfile {f.name}-mfa.png "
        "--bootstrap-method QRCodePNG",
        f"aws iam enable-mfa-device --user-name {user} --serial-number {serial} "
        "--authentication-code1 CODE1 --authentication-code2 CODE2",
        _put_inline("user", f.name, "aegis-require-mfa", "require-mfa.json"),
        f"# or, if the user does not need the console: aws iam delete-login-profile --user-name {user}",
    ]
    return _fix(
        summary, cli, document, _tf_inline("user", f.name, "aegis-require-mfa", document), _doc("mfa", "mfa_policy")
    )


def _console_unused(f: _Finding) -> Fix:
    days = f.evidence.get("days")
    summary = f"{f.name} has not signed in" + (f" for {days} days" if days else "") + ": remove the console password."
    return _fix(
        summary,
        [f"aws iam delete-login-profile --user-name {_shell(f.name)}"],
        None,
        f'# remove the aws_iam_user_login_profile of user "{f.name}"\n',
        _doc("passwords_admin"),
    )


def _inactive_user(f: _Finding) -> Fix:
    user = _shell(f.name)
    summary = (
        f"{f.name} has used neither password nor keys for {f.evidence.get('days', 'over 90')} days. Disable "
        "the user now (password and keys), and delete it once no one objects."
    )
    cli = [
        f"aws iam delete-login-profile --user-name {user}",
        f"for KEY_ID in $(aws iam list-access-keys --user-name {user} --query 'AccessKeyMetadata[].AccessKeyId' "
        f"--output text); do aws iam update-access-key --user-name {user} --access-key-id $KEY_ID "
        "--status Inactive; done",
        f"# later: detach its policies, remove it from groups, then aws iam delete-user --user-name {user}",
    ]
    return _fix(
        summary,
        cli,
        None,
        f'# remove the aws_iam_user "{f.name}" and its attachments\n',
        _doc("delete_user", "credential_report"),
    )


def _user_attached(f: _Finding) -> Fix:
    user = _shell(f.name)
    group = f"{f.name}-permissions"
    cli = [
        f"aws iam create-group --group-name {_shell(group)}",
        f"aws iam add-user-to-group --group-name {_shell(group)} --user-name {user}",
    ]
    for arn in map(str, _list(f.evidence.get("managed"))):
        arn = _managed_arn(arn, f) or f"arn:{f.partition}:iam::{f.account}:policy/{arn}"
        cli += [_attach("group", group, arn), _attach("user", f.name, arn, "detach")]
    for name in map(str, _list(f.evidence.get("inline"))):
        cli += [
            f"aws iam get-user-policy --user-name {user} --policy-name {_shell(name)} --query PolicyDocument "
            f"> {name}.json",
            _put_inline("group", group, name, f"{name}.json"),
            f"aws iam delete-user-policy --user-name {user} --policy-name {_shell(name)}",
        ]
    summary = f"Move the policies attached to {f.name} to a group ({group}) and add the user to it."
    terraform = (
        f'resource "aws_iam_group" "{_tf_id(group)}" {{\n  name = "{group}"\n}}\n\n'
        f'resource "aws_iam_user_group_membership" "{_tf_id(f.name)}" {{\n  user   = "{f.name}"\n'
        f"  groups = [aws_iam_group.{_tf_id(group)}.name]\n}}\n"
    )
    return _fix(summary, cli, None, terraform, _doc("groups", "least_privilege"))


# --- account -------------------------------------------------------------------------------------------------------

PASSWORD_TARGET = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "PasswordReusePrevention": 24,
    "MaxPasswordAge": 90,
    "AllowUsersToChangePassword": True,
}


def _password(f: _Finding) -> Fix:
    current = ", ".join(f"{k} is {v}" for k, v in f.evidence.items() if k in PASSWORD_TARGET) or "no policy"
    summary = (
        f"Set the account password policy ({current} today). The command sets every field at once: "
        "update-account-password-policy resets any field it is not given."
    )
    cli = [
        "aws iam update-account-password-policy --minimum-password-length 14 --require-symbols "
        "--require-numbers --require-uppercase-characters --require-lowercase-characters "
        "--password-reuse-prevention 24 --max-password-age 90 --allow-users-to-change-password"
    ]
    terraform = (
        'resource "aws_iam_account_password_policy" "strict" {\n  minimum_password_length        = 14\n'
        "  require_symbols                = true\n  require_numbers                = true\n"
        "  require_uppercase_characters   = true\n  require_lowercase_characters   = true\n"
        "  password_reuse_prevention      = 24\n  max_password_age               = 90\n"
        "  allow_users_to_change_password = true\n}\n"
    )
    return _fix(summary, cli, None, terraform, _doc("password_policy"))


def _root(f: _Finding) -> Fix:
    account = f.account or "the account"
    if f.check_id == "root_access_keys":
        summary = (
            f"Delete the root user's access keys of {account}. Only the root user can: sign in as root "
            "(console: Security credentials > Access keys > Delete) or use the root keys once more."
        )
        cli = [
            "# signed in with the root user's own credentials:",
            "aws iam list-access-keys",
            "aws iam delete-access-key --access-key-id ROOT_KEY_ID_FROM_ABOVE",
        ]
        return _fix(summary, cli, None, "", _doc("root_keys", "root_tasks"))
    if f.check_id == "root_mfa_disabled":
        summary = (
            f"Sign in as the root user of {account} and register a passkey, security key or virtual MFA "
            "device (console: Security credentials > Multi-factor authentication). It cannot be done from "
            "the CLI or by an IAM principal."
        )
        return _fix(summary, [], None, "", _doc("root_mfa", "root_tasks"))
    summary = (
        f"The root user of {account} was used recently. Do daily administration through roles, keep the root "
        "user for the tasks that require it, and alert on its use."
    )
    return _fix(
        summary,
        [
            "aws iam generate-credential-report",
            "aws iam get-credential-report --query Content --output text | base64 -d | grep '<root_account>'",
        ],
        None,
        "",
        _doc("root_tasks", "credential_report"),
    )


def _service_role(f: _Finding) -> Fix:
    support = f.check_id == "no_support_role"
    role = "aws-support" if support else "security-audit"
    arn = SUPPORT_POLICY if support else SECURITY_AUDIT_POLICY
    trust = _document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{f.partition}:iam::{f.account}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
    )
    who = "the incident-response team" if support else "auditors and security tools"
    summary = (
        f"Create a role {role} with {arn.rsplit('/', 1)[-1]} for {who}. Its trust policy admits principals "
        f"of {f.account} with MFA that are also allowed sts:AssumeRole on it; grant that to {who} only."
    )
    cli = [
        f"aws iam create-role --role-name {role} --assume-role-policy-document file://trust-policy.json",
        _attach("role", role, arn),
    ]
    terraform = (
        f'resource "aws_iam_role" "{_tf_id(role)}" {{\n  name               = "{role}"\n'
        f"  assume_role_policy = jsonencode({_hcl(trust, 2)})\n}}\n\n"
        f'resource "aws_iam_role_policy_attachment" "{_tf_id(role)}" {{\n'
        f'  role       = aws_iam_role.{_tf_id(role)}.name\n  policy_arn = "{arn}"\n}}\n'
    )
    return _fix(summary, cli, trust, terraform, _doc("support" if support else "security_audit"))


def _unused_role(f: _Finding) -> Fix:
    role = _shell(f.name)
    summary = (
        f"{f.name} has not been used for {f.evidence.get('days', 'over 90')} days. Delete it (after "
        "detaching its policies and removing it from instance profiles), or remove its permissions."
    )
    cli = [
        f"aws iam list-attached-role-policies --role-name {role}",
        f"aws iam list-role-policies --role-name {role}",
        f"aws iam list-instance-profiles-for-role --role-name {role}",
        "# detach / delete each policy listed, remove the role from each instance profile, then:",
        f"aws iam delete-role --role-name {role}",
    ]
    return _fix(
        summary,
        cli,
        None,
        f'# remove the aws_iam_role "{f.name}" and its attachments\n',
        _doc("delete_role", "last_accessed"),
    )


# --- policy families -----------------------------------------------------------------------------------------------


def _broad(docs: tuple[str, ...], why: str) -> Callable[[_Finding], Fix]:
    def fix(f: _Finding) -> Fix:
        return _narrow_policy(f, f.actions(), docs, why)

    return fix


def _service_full(service: str, doc: str) -> Callable[[_Finding], Fix]:
    def fix(f: _Finding) -> Fix:
        return _narrow_policy(
            f,
            DESTRUCTIVE[service],
            ("least_privilege", doc),
            f"{service}:* on all resources includes destructive and policy-changing actions.",
        )

    return fix


def _service_wildcard(f: _Finding) -> Fix:
    wildcards = [str(w) for w in _list(f.evidence.get("wildcards"))]
    fixed = []
    for ref in f.statements():
        statement = dict(ref["statement"])
        listed = _list(statement.get("Action")) or [statement.get("Action")]
        if any(str(a) in wildcards for a in listed):
            reads = []
            for action in listed:
                if str(action) in wildcards:
                    service = str(action).split(":", 1)[0]
                    reads += [f"{service}:Describe*", f"{service}:Get*", f"{service}:List*"]
                else:
                    reads.append(str(action))
            statement["Action"] = reads
        fixed.append(statement)
    summary = (
        f"Replace {', '.join(wildcards) or 'the service wildcard'} by the actions the holder uses. The "
        "statements below start from the read-only actions of each service; add back the write actions "
        "the last-accessed data shows in use."
    )
    source = f.policy or (f.statements()[0].get("policy", "") if f.statements() else "")
    if fixed:
        fix = _rewrite(
            f, _policy_label(source), _document(*fixed), _writes_of(wildcards), summary, ("least_privilege",)
        )
    else:
        fix = _fix(summary, [], None, "", [])
    fix["cli"] = _last_accessed(f) + fix["cli"]
    fix["docs"] = fix["docs"] + _doc("last_accessed")
    return fix


def _writes_of(wildcards: list[str]) -> list[str]:
    """For fencing an AWS managed 'service:*': its permission-management actions (the ones that expose)."""
    services = [w.split(":", 1)[0] for w in wildcards]
    return [f"{s}:Put*Policy" for s in services] + [f"{s}:Delete*" for s in services]


def _cloudshell(f: _Finding) -> Fix:
    arn = f"arn:{f.partition}:iam::aws:policy/AWSCloudShellFullAccess"
    deny = _deny(["cloudshell:GetFileDownloadUrls", "cloudshell:GetFileUploadUrls"], "AegisDenyCloudShellFiles")
    fix = _fence(
        f,
        arn,
        deny,
        "Detach AWSCloudShellFullAccess from those who do not need CloudShell; for those "
        "who do, deny file upload and download as shown.",
        ("cloudshell",),
    )
    if f.type in ("user", "role", "group"):
        fix["cli"].insert(0, _attach(f.type, f.name, arn, "detach") + "   # if CloudShell is not needed")
    return fix


def _permissive_assume(f: _Finding) -> Fix:
    summary = (
        "sts:AssumeRole on '*' lets the holder try every role that trusts this account. Allow it only on "
        "the roles needed (fill in <role>), or deny it outside them."
    )
    allow = {
        "Sid": "AssumeOnlyNamedRoles",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": [f"arn:{f.partition}:iam::{f.account or '*'}:role/<role>"],
    }
    narrowed = [_without(ref["statement"], ["sts:AssumeRole"]) for ref in f.statements()]
    if f.policy and not AWS_MANAGED.match(f.policy) and narrowed and all(done for _, done in narrowed):
        fixed = [statement for statement, _ in narrowed if statement.get("Action") != []]
        return _rewrite(
            f, _policy_label(f.policy), _document(*fixed, allow), ["sts:AssumeRole"], summary, ("least_privilege",)
        )
    deny = _deny(
        ["sts:AssumeRole"],
        "AegisDenyAssumeOutsideNamedRoles",
        condition={"ArnNotLike": {"aws:ResourceArn": allow["Resource"]}},
    )
    return _fence(f, f.policy, deny, summary, ("least_privilege",))


def _marketplace(f: _Finding) -> Fix:
    return _narrow_policy(
        f,
        ["aws-marketplace:Subscribe"],
        ("marketplace",),
        "The holder can subscribe the account to any Marketplace product.",
    )


# --- dispatch ------------------------------------------------------------------------------------------------------

BY_CHECK: dict[str, Callable[[_Finding], Fix]] = {
    "policy_admin_access": _admin,
    "user_admin_access": _admin,
    "role_admin_access": _admin,
    "group_admin_access": _admin,
    "admin_without_mfa": _admin_without_mfa,
    "dormant_admin": _dormant_admin,
    "policy_privilege_escalation": _escalation,
    "principal_privilege_escalation": _escalation,
    "principal_grants_admin": _escalation,
    "principal_latent_escalation": _escalation,
    "assume_role_escalation": _escalation,
    "policy_permissive_role_assumption": _permissive_assume,
    "policy_data_exfiltration": _broad(
        ("least_privilege",), "These read actions return data or secrets from every resource of the account."
    ),
    "policy_resource_exposure": _broad(
        ("least_privilege",),
        "These actions change resource policies on every resource, which can expose them outside the account.",
    ),
    "policy_credentials_exposure": _broad(("least_privilege", "access_keys"), "These actions return credentials."),
    "policy_infrastructure_modification": _broad(("least_privilege",), "These write actions apply to every resource."),
    "policy_defense_evasion": _broad(("least_privilege", "scp"), "These actions can blind logging and detection."),
    "policy_service_wildcard": _service_wildcard,
    "policy_full_kms_access": _service_full("kms", "kms"),
    "policy_full_cloudtrail_access": _service_full("cloudtrail", "cloudtrail"),
    "policy_marketplace_subscribe": _marketplace,
    "cloudshell_full_access": _cloudshell,
    "trust_any_principal": _trust,
    "trust_cross_account_unprotected": _trust,
    "trust_oidc_unrestricted": _trust,
    "trust_service_confused_deputy": _trust,
    "cross_account_readonly_role": _trust,
    "console_user_without_mfa": _mfa,
    "access_key_not_rotated": _access_key,
    "access_key_unused": _access_key,
    "access_key_never_used": _access_key,
    "two_active_access_keys": _access_key,
    "console_access_unused": _console_unused,
    "user_attached_policies": _user_attached,
    "inactive_user": _inactive_user,
    "unused_role": _unused_role,
    "root_access_keys": _root,
    "root_mfa_disabled": _root,
    "root_recently_used": _root,
    "no_support_role": _service_role,
    "no_security_audit_role": _service_role,
}
BY_CATEGORY: dict[str, Callable[[_Finding], Fix]] = {
    "admin_access": _admin,
    "privilege_escalation": _escalation,
    "trust_policy": _trust,
    "password_policy": _password,
    "root_account": _root,
    "unused_access": _unused_role,
}


def _generic(f: _Finding) -> Fix:
    """A check nobody taught this module: remove the named actions, or point at the check's own advice."""
    remediation = str(f.raw.get("remediation") or "Review the grant and remove what the job does not need.")
    if f.statements() or f.actions():
        fix = _narrow_policy(f, f.actions(), ("least_privilege",), remediation)
        return fix
    return _fix(remediation, _last_accessed(f), None, "", _doc("least_privilege"))


def fix_for(finding: Mapping[str, Any]) -> Fix:
    """The concrete fix of one finding (see the module docstring); never raises on odd evidence."""
    f = _Finding(finding if isinstance(finding, dict) else {})
    handler = BY_CHECK.get(f.check_id)
    if handler is None and f.check_id.startswith("password_"):
        handler = _password
    if handler is None and f.category == "credential_hygiene":
        handler = _access_key if "key" in f.check_id else _mfa if "mfa" in f.check_id else None
    handler = handler or BY_CATEGORY.get(f.category) or _generic
    try:
        fix = handler(f)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        # Evidence from a future engine in a shape this module misreads: the check's own advice is still right.
        fix = _generic(_Finding({**f.raw, "evidence": {}}))
    managed = _aws_managed_arn(f)
    return _on_aws_managed(f, managed, fix) if managed else fix


# --- findings on AWS managed policies ------------------------------------------------------------------------------


AWS_MANAGED_LEAD = "AWS manages this policy:"


def aws_managed_policy(finding: Mapping[str, Any]) -> str:
    """The ARN of the AWS managed policy a finding is about (a policy finding), or "" for anything else.

    Nobody can edit or delete an AWS managed policy, so its findings are fixed by detaching it or by a copy."""
    return _aws_managed_arn(_Finding(finding))


def _aws_managed_arn(f: _Finding) -> str:
    if f.type != "policy":
        return ""
    for name in (f.arn, f.policy):
        arn = _managed_arn(name, f) if name else None
        if arn and AWS_MANAGED.match(arn):
            return arn
    return ""


def _on_aws_managed(f: _Finding, arn: str, fix: Fix) -> Fix:
    """The fix of a finding on an AWS managed policy: detach it or replace it with a customer-managed copy."""
    holders = [str(h) for h in _list(f.evidence.get("attached_to"))]
    if not holders:
        holders = [f"{kind} {name}" for kind, name in _holders(f)]
    named = ", ".join(holders[:6]) + (f" and {len(holders) - 6} more" if len(holders) > 6 else "")
    actions = f.actions()
    copy = (
        f"a customer-managed copy without {', '.join(actions[:8])}{' and more' if len(actions) > 8 else ''}"
        if actions
        else "a customer-managed copy that lists only the actions and resources the job needs"
    )
    named = named or "each user, role and group that holds it"
    summary = f"{AWS_MANAGED_LEAD} detach it from {named} or replace it with {copy}."
    document = fix.get("policy")
    statements = document.get("Statement") if isinstance(document, dict) else None
    if (
        isinstance(statements, list)
        and statements
        and all(isinstance(s, dict) and s.get("Effect") == "Deny" for s in statements)
    ):
        summary += " Until then, the Deny shown on its holders keeps these actions out."
    elif document:
        summary += " The policy shown is a starting point for that copy."
    cli = [
        f"aws iam list-entities-for-policy --policy-arn {arn}",
        f"# for each user/role/group listed: aws iam detach-<user|role|group>-policy --<user|role|group>-name NAME "
        f"--policy-arn {arn}",
        *[line for line in fix.get("cli") or [] if "list-entities-for-policy" not in line],
    ]
    return {**fix, "summary": summary, "cli": cli}
