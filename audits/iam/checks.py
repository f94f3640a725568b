"""The check catalog, and the one function that turns a check hit into a finding dict.

Each check keeps its metadata and its compliance mapping (`controls`: framework -> control ids) in one entry;
compliance.FRAMEWORKS derives each control's list of checks from here. The detection sits in the module named by
`detected_in`. SEVERITIES is the one severity list: Django's choices and the CLI's --fail-on derive from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from audits.iam.finding_types import Controls, Finding, Fix
from audits.iam.remediation import fix_for

SEVERITIES = ("critical", "high", "medium", "low", "info")
CATEGORIES = (
    "admin_access",
    "privilege_escalation",
    "data_exfiltration",
    "resource_exposure",
    "credentials_exposure",
    "infrastructure_modification",
    "service_wildcard",
    "defense_evasion",
    "trust_policy",
    "credential_hygiene",
    "password_policy",
    "root_account",
    "unused_access",
    "policy_hygiene",
    "external_access",
    "cross_account",
)
# What a check needs from the snapshot; a check whose data is missing is "not evaluated", never "pass".
AUTHZ, CRED_REPORT, PASSWORD, ROOT = "authorization_details", "credential_report", "password_policy", "root"
RESOURCES = "resources"  # resource-based policies in the bundle (audits.iam.resources)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    severity: str
    category: str
    description: str
    remediation: str
    needs: str = AUTHZ
    prowler: tuple[str, ...] = ()  # the Prowler checks this one answers, for reviewers comparing reports
    controls: dict[str, tuple[str, ...]] | None = None  # framework key -> control ids this check answers
    detected_in: str = ""  # the engine module whose code raises it

    def __post_init__(self) -> None:
        if not self.detected_in:
            object.__setattr__(self, "detected_in", _DETECTED_IN.get(self.category, "analysis"))


_DETECTED_IN = {
    "admin_access": "analysis (graph.Graph admin proofs)",
    "privilege_escalation": "analysis (graph, edges.*)",
    "trust_policy": "trust",
    "credential_hygiene": "credentials",
    "password_policy": "credentials",
    "root_account": "credentials, analysis",
    "unused_access": "analysis",
    "policy_hygiene": "analysis, risks",
    "external_access": "external_access",
    "cross_account": "cross_account (organization audits)",
}
_C = Check
_EXTERNAL = {
    "pci_dss": ("7.2.1",),
    "hipaa": ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
    "soc2": ("CC6.1", "CC6.6"),
    "nist_800_53": ("AC-3", "AC-6"),
}
_ALL = [
    # --- external access through resource-based policies (Access Analyzer's zone of trust) -----------------------
    _C(
        "resource_public_access",
        "Resource is reachable by anyone",
        "critical",
        "external_access",
        "The resource policy lets any principal (or anonymous callers) act on the resource; Block Public Access "
        "and the organization's RCPs were applied first.",
        "Name the principals that need access, or add aws:PrincipalOrgID / aws:SourceVpce conditions.",
        needs=RESOURCES,
        controls=_EXTERNAL,
    ),
    _C(
        "resource_external_account_access",
        "Resource is reachable from an account outside the organization",
        "high",
        "external_access",
        "The resource policy grants an account outside the zone of trust (the organization, or this account when "
        "the organization is unknown).",
        "Remove the external account, or restrict it with conditions on the calling principal.",
        needs=RESOURCES,
        controls=_EXTERNAL,
    ),
    _C(
        "resource_service_confused_deputy",
        "Resource trusts an AWS service for any account",
        "medium",
        "external_access",
        "The resource policy lets an AWS service act on the resource without aws:SourceArn or aws:SourceAccount, "
        "so the service can be made to use it on behalf of another account.",
        "Add aws:SourceArn (or aws:SourceAccount) naming this account's own resource.",
        needs=RESOURCES,
        controls=_EXTERNAL,
    ),
    # --- paths across the accounts of an organization (organization audits only) ---------------------------------
    _C(
        "cross_account_admin_path",
        "Principal can become administrator of another account",
        "critical",
        "cross_account",
        "Across the organization's accounts, the evaluator proves a path from this principal to administrator of "
        "another account: roles whose trust names this principal's account, both sides allowed, hop by hop.",
        "Cut the first cross-account hop: narrow the trust policy to the principals that need it (with conditions), "
        "or the principal's sts:AssumeRole to the roles it must use.",
        controls={
            "pci_dss": ("7.2.2",),
            "hipaa": ("164.308(a)(4)(ii)(C)", "164.312(a)(1)"),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6(10)",),
        },
    ),
    _C(
        "cross_account_data_access",
        "Principal can read data in another account",
        "medium",
        "cross_account",
        "A bucket, key, secret or queue of another account of the organization lets this principal (directly or "
        "through roles it can become) read it: its resource policy and the principal's identity side both allow.",
        "Name only the principals that need the data in the resource policy, or scope their identity grants.",
        controls=_EXTERNAL,
    ),
    _C(
        "external_admin_path",
        "Role lets an account outside the organization reach administrator",
        "critical",
        "cross_account",
        "The role's trust lets an account outside the organization (or anyone) assume it, and from it the "
        "evaluator proves a path to administrator of an account of the organization.",
        "Remove the outside account from the trust, or require sts:ExternalId and aws:PrincipalArn conditions; "
        "take administrator rights off the path.",
        controls=_EXTERNAL,
    ),
    # --- admin access -------------------------------------------------------------------------------------------
    _C(
        "policy_admin_access",
        "Policy grants full administrative access ('*:*')",
        "critical",
        "admin_access",
        "A policy allows every action on every resource. Whoever holds it controls the account.",
        "Replace the policy with one that lists the actions and resources the job needs.",
        prowler=(
            "iam_aws_attached_policy_no_administrative_privileges",
            "iam_customer_attached_policy_no_administrative_privileges",
            "iam_customer_unattached_policy_no_administrative_privileges",
            "iam_inline_policy_no_administrative_privileges",
        ),
        controls={
            "cis": ("1.16",),
            "pci_dss": ("7.2.1", "7.2.2"),
            "hipaa": ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.1",),
            "nist_800_53": ("AC-5", "AC-6"),
        },
    ),
    _C(
        "user_admin_access",
        "IAM user has administrator access",
        "critical",
        "admin_access",
        "A long-lived IAM user holds full administrative permissions; a leaked password or key gives away the account.",
        "Remove administrator access from users; grant it through a role assumed with MFA for the time it is needed.",
        prowler=("iam_user_administrator_access_policy",),
        controls={
            "pci_dss": ("7.2.1", "7.2.2"),
            "hipaa": ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.1",),
            "nist_800_53": ("AC-5", "AC-6(5)"),
        },
    ),
    _C(
        "role_admin_access",
        "IAM role has administrator access",
        "high",
        "admin_access",
        "The role holds full administrative permissions; everyone and everything that can assume it is an admin.",
        "Scope the role to what its users need, and restrict its trust policy to named principals with MFA.",
        prowler=("iam_role_administratoraccess_policy",),
        controls={
            "pci_dss": ("7.2.1", "7.2.2", "7.2.5"),
            "hipaa": ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.1",),
            "nist_800_53": ("AC-5", "AC-6(5)"),
        },
    ),
    _C(
        "group_admin_access",
        "IAM group grants administrator access",
        "high",
        "admin_access",
        "Every member of the group is an administrator, including members added later.",
        "Remove the admin policy from the group; use a role for administrative work.",
        prowler=("iam_group_administrator_access_policy",),
        controls={
            "pci_dss": ("7.2.1", "7.2.2"),
            "hipaa": ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.1",),
            "nist_800_53": ("AC-5", "AC-6(5)"),
        },
    ),
    _C(
        "admin_without_mfa",
        "Administrator can sign in to the console without MFA",
        "critical",
        "admin_access",
        "A user with administrator access has a console password and no MFA device.",
        "Enforce MFA for the user now, or remove the console password.",
        needs=CRED_REPORT,
        prowler=("iam_administrator_access_with_mfa",),
        controls={
            "cis": ("1.10",),
            "pci_dss": ("8.4.1",),
            "hipaa": ("164.312(d)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-2(1)",),
        },
    ),
    # --- privilege escalation -----------------------------------------------------------------------------------
    _C(
        "policy_privilege_escalation",
        "Policy allows privilege escalation",
        "high",
        "privilege_escalation",
        "The policy grants, on unrestricted resources, a combination of actions that lets its holder obtain "
        "permissions it was not given (named methods, after Rhino Security Labs and pathfinding.cloud).",
        "Remove the listed actions or scope them to specific resources (for iam:PassRole, to named roles and "
        "with iam:PassedToService).",
        prowler=("iam_policy_allows_privilege_escalation", "iam_inline_policy_allows_privilege_escalation"),
        controls={
            "pci_dss": ("7.2.2",),
            "hipaa": ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(C)"),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6(10)",),
        },
    ),
    _C(
        "principal_privilege_escalation",
        "Principal can escalate to administrator",
        "critical",
        "privilege_escalation",
        "The evaluator proves a way from this principal to administrator rights: a policy on itself, a new policy "
        "version, a role it can assume or pass to a service, another user's credentials, hop by hop.",
        "Remove or scope the first hop's permission (the granting statements are listed), or add a Deny.",
        controls={
            "pci_dss": ("7.2.2",),
            "hipaa": ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(C)", "164.312(a)(1)"),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6(10)",),
        },
    ),
    _C(
        "principal_grants_admin",
        "Principal can make another principal an administrator",
        "high",
        "privilege_escalation",
        "The evaluator proves that this principal, without becoming an administrator itself, can make a named "
        "user, group or role one: a policy put on or attached to it, a new default version of a policy it holds, "
        "or membership of an administrators' group. Whoever acts as this principal and can act as the target "
        "escalates through it.",
        "Remove or scope the permission named in the finding to the principals and policies it must manage, or add "
        "a Deny on the target.",
        controls={
            "pci_dss": ("7.2.2",),
            "hipaa": ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(C)"),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6(10)", "AC-5"),
        },
    ),
    _C(
        "principal_latent_escalation",
        "Principal holds an escalation method with no target today",
        "medium",
        "privilege_escalation",
        "The principal holds every permission of an escalation method on a Resource pattern that also covers "
        "resources created later, but no resource of the account completes it today (for example iam:PassRole "
        "on '*' with ec2:RunInstances where no role trusting EC2 has more rights). The finding says what would "
        "complete it.",
        "Scope the method's permissions to the named resources the principal needs (for iam:PassRole, the role's "
        "ARN with an iam:PassedToService condition).",
        prowler=("iam_policy_allows_privilege_escalation",),
        controls={
            "pci_dss": ("7.2.2",),
            "hipaa": ("164.308(a)(3)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6(10)",),
        },
    ),
    _C(
        "policy_permissive_role_assumption",
        "Policy allows sts:AssumeRole on any role",
        "medium",
        "policy_hygiene",
        "sts:AssumeRole on '*' lets the holder assume every role whose trust policy trusts this account.",
        "List the role ARNs the holder must assume.",
        prowler=("iam_no_custom_policy_permissive_role_assumption",),
        controls={
            "pci_dss": ("7.2.2",),
            "hipaa": ("164.308(a)(3)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6(10)",),
        },
    ),
    # --- broad permission categories (Cloudsplaining's) ---------------------------------------------------------
    _C(
        "policy_data_exfiltration",
        "Policy allows reading data stores without resource constraints",
        "medium",
        "data_exfiltration",
        "s3:GetObject, ssm:GetParameter*, secretsmanager:GetSecretValue and similar read secrets or data from every "
        "resource of the account.",
        "Scope these actions to the buckets, parameters and secrets the workload owns.",
        controls={
            "pci_dss": ("7.2.1",),
            "hipaa": ("164.308(a)(4)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6",),
        },
    ),
    _C(
        "policy_resource_exposure",
        "Policy can change resource policies without resource constraints",
        "high",
        "resource_exposure",
        "'Permissions management' actions (bucket policies, key policies, RAM shares, …) on every resource let the "
        "holder expose resources outside the account.",
        "Scope permissions-management actions to specific resources, or remove them.",
        controls={
            "pci_dss": ("7.2.1",),
            "hipaa": ("164.308(a)(4)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6",),
        },
    ),
    _C(
        "policy_credentials_exposure",
        "Policy allows actions that return credentials",
        "high",
        "credentials_exposure",
        "Actions such as iam:CreateAccessKey, ecr:GetAuthorizationToken or sts:GetFederationToken return "
        "credentials in their response.",
        "Remove these actions or scope them to specific resources.",
        controls={
            "pci_dss": ("7.2.1",),
            "hipaa": ("164.308(a)(4)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6",),
        },
    ),
    _C(
        "policy_infrastructure_modification",
        "Policy allows write actions without resource constraints",
        "low",
        "infrastructure_modification",
        "Write actions on every resource let the holder change or delete infrastructure it does not own.",
        "Scope write actions to the resources the workload manages.",
        controls={
            "pci_dss": ("7.2.1",),
            "hipaa": ("164.308(a)(4)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6",),
        },
    ),
    _C(
        "policy_service_wildcard",
        "Policy grants every action of a service ('service:*')",
        "medium",
        "service_wildcard",
        "A 'service:*' grant includes the service's permission-management and destructive actions, and every "
        "action AWS adds later.",
        "List the actions needed instead of the service wildcard.",
        controls={
            "pci_dss": ("7.2.1",),
            "hipaa": ("164.308(a)(4)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6",),
        },
    ),
    _C(
        "policy_full_kms_access",
        "Policy grants kms:* on all keys",
        "medium",
        "data_exfiltration",
        "kms:* lets the holder decrypt anything, change key policies and schedule keys for deletion.",
        "Grant kms:Decrypt/Encrypt on named keys; keep key administration to a dedicated role.",
        prowler=("iam_policy_no_full_access_to_kms", "iam_inline_policy_no_full_access_to_kms"),
        controls={
            "pci_dss": ("3.6.1", "7.2.1"),
            "hipaa": ("164.308(a)(4)(ii)(B)", "164.312(a)(2)(iv)"),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6", "SC-12"),
        },
    ),
    _C(
        "policy_marketplace_subscribe",
        "Policy allows aws-marketplace:Subscribe on all resources",
        "medium",
        "infrastructure_modification",
        "The holder can subscribe the account to any Marketplace product, with its costs.",
        "Remove aws-marketplace:Subscribe or restrict it with conditions on product IDs.",
        prowler=("iam_policy_no_wildcard_marketplace_subscribe", "iam_inline_policy_no_wildcard_marketplace_subscribe"),
        controls={
            "pci_dss": ("7.2.1",),
            "hipaa": ("164.308(a)(4)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6",),
        },
    ),
    _C(
        "cloudshell_full_access",
        "AWSCloudShellFullAccess is attached",
        "medium",
        "data_exfiltration",
        "CloudShell lets its user upload and download files from a shell that holds their credentials.",
        "Detach AWSCloudShellFullAccess; grant CloudShell only to those who need it, without file transfer.",
        prowler=("iam_policy_cloudshell_admin_not_attached",),
        controls={
            "cis": ("1.22",),
            "pci_dss": ("7.2.1",),
            "hipaa": ("164.308(a)(4)(ii)(B)",),
            "soc2": ("CC6.3",),
            "nist_800_53": ("AC-6",),
        },
    ),
    # --- defense evasion ----------------------------------------------------------------------------------------
    _C(
        "policy_defense_evasion",
        "Policy can disable logging or threat detection",
        "high",
        "defense_evasion",
        "Actions such as cloudtrail:StopLogging, guardduty:DeleteDetector or config:StopConfigurationRecorder on "
        "all resources let the holder blind the account's monitoring before acting.",
        "Keep these actions to a security role; deny them elsewhere with an SCP.",
        controls={"pci_dss": ("10.3.2",), "hipaa": ("164.312(b)",), "soc2": ("CC7.2",), "nist_800_53": ("AU-9",)},
    ),
    _C(
        "policy_full_cloudtrail_access",
        "Policy grants cloudtrail:* on all trails",
        "high",
        "defense_evasion",
        "cloudtrail:* includes stopping, deleting and redirecting trails.",
        "Grant read-only CloudTrail access; keep trail administration to a security role.",
        prowler=("iam_policy_no_full_access_to_cloudtrail", "iam_inline_policy_no_full_access_to_cloudtrail"),
        controls={"pci_dss": ("10.3.2",), "hipaa": ("164.312(b)",), "soc2": ("CC7.2",), "nist_800_53": ("AU-9",)},
    ),
    # --- trust policies -----------------------------------------------------------------------------------------
    _C(
        "trust_any_principal",
        "Role can be assumed by anyone ('Principal': '*')",
        "critical",
        "trust_policy",
        "The trust policy allows any AWS principal, in any account, to assume the role.",
        "Name the accounts or roles allowed to assume it, and add conditions (aws:PrincipalOrgID, sts:ExternalId).",
        controls={
            "pci_dss": ("7.2.5",),
            "hipaa": ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.6",),
            "nist_800_53": ("AC-3",),
        },
    ),
    _C(
        "trust_cross_account_unprotected",
        "Role trusts another account without ExternalId or MFA",
        "high",
        "trust_policy",
        "Another AWS account can assume the role with no sts:ExternalId, MFA or organization condition: a "
        "confused-deputy risk and a path in if that account is compromised.",
        "Add an sts:ExternalId condition (third parties) or aws:MultiFactorAuthPresent / aws:PrincipalOrgID.",
        controls={
            "pci_dss": ("7.2.5",),
            "hipaa": ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.6",),
            "nist_800_53": ("AC-3",),
        },
    ),
    _C(
        "trust_oidc_unrestricted",
        "Role trusts an OIDC provider without restricting the subject",
        "critical",
        "trust_policy",
        "A web-identity trust (e.g. GitHub Actions) without a 'sub' condition lets any repository or workload of "
        "that provider assume the role.",
        "Add a StringEquals/StringLike condition on '<provider>:sub' naming the repository and branch, and on "
        "'<provider>:aud'.",
        controls={
            "pci_dss": ("7.2.5",),
            "hipaa": ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.6",),
            "nist_800_53": ("AC-3",),
        },
    ),
    _C(
        "trust_service_confused_deputy",
        "Service role lacks confused-deputy protection",
        "low",
        "trust_policy",
        "The role trusts an AWS service without aws:SourceAccount or aws:SourceArn, so the service could be made "
        "to use the role on behalf of another account.",
        "Add aws:SourceAccount (and aws:SourceArn where the service supports it) to the trust policy.",
        prowler=("iam_role_cross_service_confused_deputy_prevention",),
        controls={
            "pci_dss": ("7.2.5",),
            "hipaa": ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.6",),
            "nist_800_53": ("AC-3",),
        },
    ),
    _C(
        "cross_account_readonly_role",
        "Role gives ReadOnlyAccess to an external account",
        "high",
        "trust_policy",
        "An external account can read the configuration and much of the data of this account.",
        "Grant a narrower policy (e.g. SecurityAudit or ViewOnlyAccess) and add an ExternalId.",
        prowler=("iam_role_cross_account_readonlyaccess_policy",),
        controls={
            "pci_dss": ("7.2.5",),
            "hipaa": ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
            "soc2": ("CC6.6",),
            "nist_800_53": ("AC-3", "AC-6(5)"),
        },
    ),
    _C(
        "trust_account_root",
        "Role trusts its own account's root",
        "low",
        "trust_policy",
        "A trust of the account (its root) lets every principal of the account whose own policies allow "
        "sts:AssumeRole on the role become it.",
        "Name the roles or users that may assume the role in its trust policy instead of the account root.",
        controls={"pci_dss": ("7.2.5",), "soc2": ("CC6.3",), "nist_800_53": ("AC-3",)},
    ),
    # --- credential hygiene (credential report) ----------------------------------------------------------------
    _C(
        "console_user_without_mfa",
        "Console user without MFA",
        "high",
        "credential_hygiene",
        "The user has a console password and no MFA device.",
        "Require MFA for every console user (and deny actions without aws:MultiFactorAuthPresent).",
        needs=CRED_REPORT,
        prowler=("iam_user_mfa_enabled_console_access",),
        controls={
            "cis": ("1.10",),
            "pci_dss": ("8.4.2",),
            "hipaa": ("164.312(d)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-2(2)",),
        },
    ),
    _C(
        "access_key_not_rotated",
        "Access key older than 90 days",
        "medium",
        "credential_hygiene",
        "An active access key has not been rotated for more than 90 days.",
        "Rotate the key (create a new one, switch, deactivate and delete the old).",
        needs=CRED_REPORT,
        prowler=("iam_rotate_access_key_90_days",),
        controls={"cis": ("1.14",), "pci_dss": ("8.6.3",), "nist_800_53": ("IA-5",)},
    ),
    _C(
        "access_key_unused",
        "Active access key unused for 45 days or more",
        "medium",
        "credential_hygiene",
        "An active access key has not been used for 45 days or more.",
        "Deactivate and delete access keys nobody uses.",
        needs=CRED_REPORT,
        prowler=("iam_user_accesskey_unused",),
        controls={
            "cis": ("1.12",),
            "pci_dss": ("7.2.4", "8.2.6"),
            "hipaa": ("164.308(a)(3)(ii)(C)",),
            "soc2": ("CC6.2",),
            "nist_800_53": ("AC-2(3)",),
        },
    ),
    _C(
        "console_access_unused",
        "Console password unused for 45 days or more",
        "medium",
        "credential_hygiene",
        "The user's console password has not been used for 45 days or more.",
        "Remove the login profile of users who do not sign in.",
        needs=CRED_REPORT,
        prowler=("iam_user_console_access_unused",),
        controls={
            "cis": ("1.12",),
            "pci_dss": ("7.2.4", "8.2.6"),
            "hipaa": ("164.308(a)(3)(ii)(C)",),
            "soc2": ("CC6.2",),
            "nist_800_53": ("AC-2(3)",),
        },
    ),
    _C(
        "two_active_access_keys",
        "User has two active access keys",
        "medium",
        "credential_hygiene",
        "Two active keys double what can leak; outside a rotation, one is forgotten.",
        "Keep one active key per user; deactivate the other.",
        needs=CRED_REPORT,
        prowler=("iam_user_two_active_access_key",),
        controls={"cis": ("1.13",), "nist_800_53": ("IA-5",)},
    ),
    _C(
        "access_key_never_used",
        "Active access key never used",
        "medium",
        "credential_hygiene",
        "An active access key has never been used (often one created with the user and forgotten).",
        "Delete access keys that are not used; create keys only when a workload needs them.",
        needs=CRED_REPORT,
        prowler=("iam_user_no_setup_initial_access_key",),
        controls={"cis": ("1.11",), "pci_dss": ("8.6.3",), "nist_800_53": ("IA-5",)},
    ),
    _C(
        "user_attached_policies",
        "User has policies attached directly",
        "low",
        "credential_hygiene",
        "Permissions attached to users rather than groups or roles are hard to review and to revoke.",
        "Move the user's policies to a group and add the user to it.",
        prowler=("iam_policy_attached_only_to_group_or_roles",),
        controls={
            "cis": ("1.15",),
            "pci_dss": ("7.2.2",),
            "hipaa": ("164.308(a)(4)(ii)(C)",),
            "soc2": ("CC6.2",),
            "nist_800_53": ("AC-2",),
        },
    ),
    # --- root account -------------------------------------------------------------------------------------------
    _C(
        "root_access_keys",
        "Root account has active access keys",
        "critical",
        "root_account",
        "Root access keys carry unrestricted, unrestrictable access to the account.",
        "Delete the root access keys.",
        needs=ROOT,
        prowler=("iam_no_root_access_key",),
        controls={
            "cis": ("1.4",),
            "pci_dss": ("8.2.2",),
            "hipaa": ("164.312(a)(2)(i)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-5",),
        },
    ),
    _C(
        "root_mfa_disabled",
        "Root account has no MFA",
        "critical",
        "root_account",
        "The root user can sign in with a password alone.",
        "Enable a hardware or passkey MFA device on the root user.",
        needs=ROOT,
        prowler=("iam_root_mfa_enabled",),
        controls={
            "cis": ("1.5",),
            "pci_dss": ("8.4.1",),
            "hipaa": ("164.312(d)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-2(1)",),
        },
    ),
    _C(
        "root_recently_used",
        "Root account used in the last 30 days",
        "high",
        "root_account",
        "The root user was used recently; daily work should use roles.",
        "Use IAM roles for administration; keep root for the few tasks that require it.",
        needs=CRED_REPORT,
        prowler=("iam_avoid_root_usage",),
        controls={"cis": ("1.7",), "pci_dss": ("8.2.2",), "hipaa": ("164.312(a)(2)(i)",), "soc2": ("CC6.1",)},
    ),
    _C(
        "no_support_role",
        "No role can manage AWS Support cases",
        "low",
        "root_account",
        "No role has AWSSupportAccess attached, so incidents need broader credentials to open support cases.",
        "Create a role with AWSSupportAccess for the incident-response team.",
        prowler=("iam_support_role_created",),
        controls={"cis": ("1.17",)},
    ),
    _C(
        "no_security_audit_role",
        "No role has the SecurityAudit policy",
        "info",
        "root_account",
        "Auditors and tools have no read-only security role and tend to get broader access instead.",
        "Create a role with SecurityAudit for auditors and security tools.",
        prowler=("iam_securityaudit_role_created",),
    ),
    # --- password policy ----------------------------------------------------------------------------------------
    _C(
        "password_policy_missing",
        "No account password policy",
        "medium",
        "password_policy",
        "Without a password policy IAM accepts short passwords with no complexity, reuse or expiry rule.",
        "Set a password policy: length >= 14, all character classes, reuse prevention 24, expiry <= 90 days.",
        needs=PASSWORD,
        controls={
            "cis": ("1.8", "1.9"),
            "pci_dss": ("8.3.6", "8.3.7", "8.3.9"),
            "hipaa": ("164.308(a)(5)(ii)(D)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-5(1)",),
        },
    ),
    _C(
        "password_min_length",
        "Password policy allows passwords shorter than 14 characters",
        "medium",
        "password_policy",
        "Short passwords are guessed and cracked quickly.",
        "Set MinimumPasswordLength to 14 or more.",
        needs=PASSWORD,
        prowler=("iam_password_policy_minimum_length_14",),
        controls={
            "cis": ("1.8",),
            "pci_dss": ("8.3.6",),
            "hipaa": ("164.308(a)(5)(ii)(D)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-5(1)",),
        },
    ),
    _C(
        "password_reuse",
        "Password policy allows reusing recent passwords",
        "medium",
        "password_policy",
        "Users can return to one of their last 24 passwords.",
        "Set PasswordReusePrevention to 24.",
        needs=PASSWORD,
        prowler=("iam_password_policy_reuse_24",),
        controls={
            "cis": ("1.9",),
            "pci_dss": ("8.3.7",),
            "hipaa": ("164.308(a)(5)(ii)(D)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-5(1)",),
        },
    ),
    _C(
        "password_require_symbols",
        "Password policy does not require symbols",
        "medium",
        "password_policy",
        "Passwords without symbols have a smaller search space.",
        "Set RequireSymbols to true.",
        needs=PASSWORD,
        prowler=("iam_password_policy_symbol",),
        controls={"hipaa": ("164.308(a)(5)(ii)(D)",), "soc2": ("CC6.1",), "nist_800_53": ("IA-5(1)",)},
    ),
    _C(
        "password_require_numbers",
        "Password policy does not require numbers",
        "medium",
        "password_policy",
        "Passwords without digits have a smaller search space.",
        "Set RequireNumbers to true.",
        needs=PASSWORD,
        prowler=("iam_password_policy_number",),
        controls={
            "pci_dss": ("8.3.6",),
            "hipaa": ("164.308(a)(5)(ii)(D)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-5(1)",),
        },
    ),
    _C(
        "password_require_uppercase",
        "Password policy does not require uppercase letters",
        "medium",
        "password_policy",
        "Passwords without uppercase letters have a smaller search space.",
        "Set RequireUppercaseCharacters to true.",
        needs=PASSWORD,
        prowler=("iam_password_policy_uppercase",),
        controls={"hipaa": ("164.308(a)(5)(ii)(D)",), "soc2": ("CC6.1",), "nist_800_53": ("IA-5(1)",)},
    ),
    _C(
        "password_require_lowercase",
        "Password policy does not require lowercase letters",
        "low",
        "password_policy",
        "Passwords without lowercase letters have a smaller search space.",
        "Set RequireLowercaseCharacters to true.",
        needs=PASSWORD,
        prowler=("iam_password_policy_lowercase",),
        controls={"hipaa": ("164.308(a)(5)(ii)(D)",), "soc2": ("CC6.1",), "nist_800_53": ("IA-5(1)",)},
    ),
    _C(
        "password_expiry",
        "Passwords do not expire within 90 days",
        "medium",
        "password_policy",
        "The policy lets passwords live longer than 90 days (or forever).",
        "Set MaxPasswordAge to 90 or less.",
        needs=PASSWORD,
        prowler=("iam_password_policy_expires_passwords_within_90_days_or_less",),
        controls={
            "pci_dss": ("8.3.9",),
            "hipaa": ("164.308(a)(5)(ii)(D)",),
            "soc2": ("CC6.1",),
            "nist_800_53": ("IA-5(1)",),
        },
    ),
    # --- policy hygiene -----------------------------------------------------------------------------------------
    _C(
        "policy_grant_ineffective",
        "Policy grants administrator or escalation rights that no holder can use",
        "low",
        "policy_hygiene",
        "The policy on its own would grant administrator access or an escalation method, but on every holder "
        "something named in the finding cancels it: an explicit Deny, a permissions boundary, an SCP or a "
        "condition that cannot hold. Harmless today; dangerous the day it is attached elsewhere or the cancelling "
        "control is lifted.",
        "Narrow the policy to what its holders may actually use.",
    ),
    # --- unused access ------------------------------------------------------------------------------------------
    _C(
        "unused_role",
        "Role unused for 90 days or more",
        "low",
        "unused_access",
        "The role has not been assumed for 90 days or more (or never since its creation); its permissions are "
        "standing risk with no use.",
        "Delete the role, or remove its permissions until it is needed.",
        controls={
            "pci_dss": ("7.2.4",),
            "hipaa": ("164.308(a)(3)(ii)(C)",),
            "soc2": ("CC6.2",),
            "nist_800_53": ("AC-2(3)",),
        },
    ),
    _C(
        "dormant_admin",
        "Administrator access unused for months",
        "high",
        "unused_access",
        "A principal with administrator access has not been used for 90 days or more.",
        "Remove the administrator access, or the principal itself.",
        controls={
            "pci_dss": ("7.2.4",),
            "hipaa": ("164.308(a)(3)(ii)(C)",),
            "soc2": ("CC6.2",),
            "nist_800_53": ("AC-2", "AC-2(3)"),
        },
    ),
    _C(
        "inactive_user",
        "User inactive for 90 days or more",
        "low",
        "unused_access",
        "Neither the password nor any access key of the user has been used for 90 days or more.",
        "Disable or delete the user.",
        needs=CRED_REPORT,
        controls={
            "pci_dss": ("7.2.4", "8.2.6"),
            "hipaa": ("164.308(a)(3)(ii)(C)",),
            "soc2": ("CC6.2",),
            "nist_800_53": ("AC-2(3)",),
        },
    ),
]

CHECKS: dict[str, Check] = {c.id: c for c in _ALL}


class Spec(NamedTuple):
    """A check hit before it is tied to a principal: principals with identical policies share their specs."""

    check_id: str
    policy: str
    discriminator: str
    detail: str
    evidence: dict
    conditioned: bool = False
    severity: str | None = None
    title: str | None = None


def lower(severity: str) -> str:
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def fingerprint(check_id: str, principal_arn: str, policy: str, discriminator: str) -> str:
    return hashlib.sha256("\x1f".join((check_id, principal_arn, policy, discriminator)).encode()).hexdigest()


def make_finding(
    check_id: str,
    principal: dict,
    *,
    detail: str,
    evidence: dict[str, Any],
    policy: str = "",
    discriminator: str = "",
    severity: str | None = None,
    conditioned: bool = False,
    title: str | None = None,
    with_fix: bool = True,
) -> Finding:
    """principal = {"type", "name", "arn"}. A conditional grant keeps its severity and says when it holds:
    evidence["conditions"] (Condition.to_dict() entries from the evaluator) or, for checks that read the
    statements themselves, the Condition blocks of the statements cited. with_fix=False: the fix is left empty
    (for a caller that reads none, such as a what-if's comparison)."""
    check = CHECKS[check_id]
    severity = severity or check.severity
    if conditioned and isinstance(evidence, dict):
        described = [
            c.get(
                "text",
            )
            or c.get(
                "description",
            )
            or _describe(c)
            for c in evidence.get(
                "conditions",
            )
            or ()
            if isinstance(c, dict)
        ]
        if not described:
            found = _conditions(evidence)
            keys = sorted({k for c in found for op in c["condition"].values() if isinstance(op, dict) for k in op})
            described = keys
            if found:
                evidence = {**evidence, "conditions": found}
        if described:
            detail += (
                " Only when: "
                + "; ".join(str(d) for d in described[:4])
                + (f" (+{len(described) - 4} more)" if len(described) > 4 else "")
                + "."
            )
    finding: Finding = {
        "check_id": check_id,
        "category": check.category,
        "severity": severity,
        "principal_arn": principal["arn"],
        "principal_type": principal["type"],
        "principal_name": principal["name"],
        "policy": policy,
        "title": title or check.title,
        "detail": detail,
        "evidence": evidence,
        "remediation": check.remediation,
        "controls": controls_for(check_id),
        "conditioned": conditioned,
        "fingerprint": fingerprint(check_id, principal["arn"], policy, discriminator),
        "fix": {},
    }
    if with_fix:
        finding["fix"] = _fix_for(finding)
    return finding


def _describe(condition: dict) -> str:
    values = ", ".join(str(v) for v in condition.get("values") or ())
    text = f"{condition.get('key', '')} {condition.get('operator', '')} {values}".strip()
    return f"not ({text})" if condition.get("negated") else text


def _fix_for(finding: Finding) -> Fix:
    """The concrete fix (audits/iam/remediation.py); a fix that fails is left out, never the finding."""
    try:
        fix = fix_for(finding)
    except Exception:  # a remediation hint must never cost the audit its finding
        return {}
    return fix if isinstance(fix, dict) else {}


def controls_for(check_id: str) -> Controls:
    check = CHECKS.get(check_id)
    return {fw: list(ids) for fw, ids in (check.controls or {}).items()} if check else {}


def _conditions(evidence: Any, limit: int = 5) -> list[dict]:
    """The Condition blocks of the statements cited in a finding's evidence, in order, once each."""
    found: list[dict] = []
    stack = [evidence]
    while stack and len(found) < limit:
        node = stack.pop(0)
        if isinstance(node, dict):
            statement = node.get("statement")
            if isinstance(statement, dict) and isinstance(statement.get("Condition"), dict):
                entry = {
                    "policy": node.get("policy", ""),
                    "sid": node.get("sid", ""),
                    "condition": statement["Condition"],
                }
                if entry not in found:
                    found.append(entry)
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return found
