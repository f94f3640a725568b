"""Compliance frameworks: which checks answer which control, and each control's status for one audit.

Reviewed against Prowler's IAM mappings (reference/prowler_iam_compliance_map.txt) and not copied where they are
wrong: PCI 8.2.3-8.2.5 (strength, rotation, history) each map to the check that answers them rather than all
to password reuse; NIST AC-2(3) "disable accounts" maps to the inactivity checks, not to password length.
Only controls IAM data can answer are listed. Where our bar is stricter than the control's (length 14 against
PCI's 12, reuse 24 against PCI's 4) the control can fail on a policy the standard would accept; the finding
states the configured value so an assessor can tell.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

ADMIN = ["policy_admin_access", "user_admin_access", "role_admin_access", "group_admin_access"]
ESCALATION = ["policy_privilege_escalation", "principal_privilege_escalation", "assume_role_escalation",
              "policy_permissive_role_assumption"]
BROAD = ["policy_service_wildcard", "policy_data_exfiltration", "policy_resource_exposure",
         "policy_credentials_exposure", "policy_infrastructure_modification", "policy_marketplace_subscribe",
         "cloudshell_full_access", "policy_full_kms_access"]
TRUST = ["trust_any_principal", "trust_cross_account_unprotected", "trust_oidc_unrestricted",
         "trust_service_confused_deputy", "cross_account_readonly_role"]
INACTIVE = ["inactive_user", "access_key_unused", "console_access_unused", "unused_role", "dormant_admin"]
MFA = ["console_user_without_mfa", "admin_without_mfa", "root_mfa_disabled"]
LOGGING = ["policy_defense_evasion", "policy_full_cloudtrail_access"]
PASSWORD_ALL = ["password_policy_missing", "password_min_length", "password_reuse", "password_require_symbols",
                "password_require_numbers", "password_require_uppercase", "password_require_lowercase",
                "password_expiry"]
KEYS = ["access_key_not_rotated", "two_active_access_keys", "access_key_never_used", "root_access_keys"]


def _c(control_id: str, title: str, *checks: str | list[str]) -> dict:
    flat: list[str] = []
    for c in checks:
        flat.extend([c] if isinstance(c, str) else c)
    return {"id": control_id, "title": title, "checks": flat}


FRAMEWORKS: dict[str, dict] = {
    "cis": {"name": "CIS AWS Foundations Benchmark 3.0", "controls": [
        _c("1.4", "Ensure no 'root' user account access key exists", "root_access_keys"),
        _c("1.5", "Ensure MFA is enabled for the 'root' user account", "root_mfa_disabled"),
        _c("1.7", "Eliminate use of the 'root' user for administrative and daily tasks", "root_recently_used"),
        _c("1.8", "Ensure IAM password policy requires minimum length of 14 or greater",
           "password_min_length", "password_policy_missing"),
        _c("1.9", "Ensure IAM password policy prevents password reuse", "password_reuse", "password_policy_missing"),
        _c("1.10", "Ensure MFA is enabled for all IAM users that have a console password",
           "console_user_without_mfa", "admin_without_mfa"),
        _c("1.11", "Do not setup access keys during initial user setup for IAM users with a console password",
           "access_key_never_used"),
        _c("1.12", "Ensure credentials unused for 45 days or greater are disabled",
           "access_key_unused", "console_access_unused"),
        _c("1.13", "Ensure there is only one active access key for any single IAM user", "two_active_access_keys"),
        _c("1.14", "Ensure access keys are rotated every 90 days or less", "access_key_not_rotated"),
        _c("1.15", "Ensure IAM users receive permissions only through groups", "user_attached_policies"),
        _c("1.16", "Ensure IAM policies that allow full '*:*' administrative privileges are not attached",
           "policy_admin_access"),
        _c("1.17", "Ensure a support role has been created to manage incidents with AWS Support", "no_support_role"),
        _c("1.22", "Ensure access to AWSCloudShellFullAccess is restricted", "cloudshell_full_access"),
    ]},
    "pci_dss": {"name": "PCI DSS 4.0", "controls": [
        _c("3.6.1", "Procedures protect cryptographic keys; access restricted to the fewest custodians",
           "policy_full_kms_access"),
        _c("7.2.1", "An access control model covers appropriate access by least privilege", ADMIN, BROAD),
        _c("7.2.2", "Access is assigned based on job function with least privileges", ADMIN, ESCALATION,
           "user_attached_policies"),
        _c("7.2.4", "User accounts and access privileges are reviewed", INACTIVE),
        _c("7.2.5", "Application and system accounts are assigned least privilege", "role_admin_access", TRUST),
        _c("8.2.2", "Shared, generic or group IDs are used only when necessary", "root_recently_used",
           "root_access_keys"),
        _c("8.2.6", "Inactive user accounts are removed or disabled within 90 days",
           "inactive_user", "access_key_unused", "console_access_unused"),
        _c("8.3.6", "Passwords meet minimum length and contain numeric and alphabetic characters",
           "password_policy_missing", "password_min_length", "password_require_numbers"),
        _c("8.3.7", "New passwords are not the same as any of the last four used", "password_policy_missing",
           "password_reuse"),
        _c("8.3.9", "Passwords used as the only factor are changed at least every 90 days",
           "password_policy_missing", "password_expiry"),
        _c("8.4.1", "MFA is implemented for all non-console access into the CDE for administrators",
           "admin_without_mfa", "root_mfa_disabled"),
        _c("8.4.2", "MFA is implemented for all access into the CDE", "console_user_without_mfa"),
        _c("8.6.3", "Passwords for application and system accounts are protected and changed periodically",
           "access_key_not_rotated", "access_key_never_used"),
        _c("10.3.2", "Audit log files are protected to prevent modifications", LOGGING),
    ]},
    "hipaa": {"name": "HIPAA Security Rule", "controls": [
        _c("164.308(a)(3)(ii)(B)", "Workforce clearance procedure", ADMIN, ESCALATION),
        _c("164.308(a)(3)(ii)(C)", "Termination procedures", INACTIVE),
        _c("164.308(a)(4)(ii)(B)", "Access authorization", ADMIN, BROAD, TRUST),
        _c("164.308(a)(4)(ii)(C)", "Access establishment and modification", "user_attached_policies",
           "policy_privilege_escalation", "principal_privilege_escalation"),
        _c("164.308(a)(5)(ii)(D)", "Password management", PASSWORD_ALL),
        _c("164.312(a)(1)", "Access control", ADMIN, TRUST, "assume_role_escalation"),
        _c("164.312(a)(2)(i)", "Unique user identification", "root_recently_used", "root_access_keys"),
        _c("164.312(a)(2)(iv)", "Encryption and decryption", "policy_full_kms_access"),
        _c("164.312(b)", "Audit controls", LOGGING),
        _c("164.312(d)", "Person or entity authentication", MFA),
    ]},
    "soc2": {"name": "SOC 2 (Trust Services Criteria 2017)", "controls": [
        _c("CC6.1", "Logical access security software, infrastructure and architectures", ADMIN, MFA,
           PASSWORD_ALL, "root_access_keys", "root_recently_used"),
        _c("CC6.2", "Registration, authorization and removal of users", INACTIVE, "user_attached_policies"),
        _c("CC6.3", "Role-based access, least privilege and segregation of duties", ESCALATION, BROAD),
        _c("CC6.6", "Logical access from outside the system boundaries", TRUST),
        _c("CC7.2", "Monitoring of system components for anomalies", LOGGING),
    ]},
    "nist_800_53": {"name": "NIST SP 800-53 Rev. 5", "controls": [
        _c("AC-2", "Account management", "user_attached_policies", "dormant_admin"),
        _c("AC-2(3)", "Disable accounts", INACTIVE),
        _c("AC-3", "Access enforcement", TRUST),
        _c("AC-5", "Separation of duties", ADMIN),
        _c("AC-6", "Least privilege", "policy_admin_access", BROAD),
        _c("AC-6(5)", "Least privilege: privileged accounts", "user_admin_access", "role_admin_access",
           "group_admin_access", "cross_account_readonly_role"),
        _c("AC-6(10)", "Least privilege: prohibit non-privileged users from executing privileged functions",
           ESCALATION),
        _c("AU-9", "Protection of audit information", LOGGING),
        _c("IA-2(1)", "Multi-factor authentication to privileged accounts", "admin_without_mfa",
           "root_mfa_disabled"),
        _c("IA-2(2)", "Multi-factor authentication to non-privileged accounts", "console_user_without_mfa"),
        _c("IA-5", "Authenticator management", KEYS),
        _c("IA-5(1)", "Password-based authentication", PASSWORD_ALL),
        _c("SC-12", "Cryptographic key establishment and management", "policy_full_kms_access"),
    ]},
}


@cache
def _control_index() -> dict[str, dict[str, list[str]]]:
    index: dict[str, dict[str, list[str]]] = {}
    for key, fw in FRAMEWORKS.items():
        for control in fw["controls"]:
            for check_id in control["checks"]:
                index.setdefault(check_id, {}).setdefault(key, []).append(control["id"])
    return index


def controls_for(check_id: str) -> dict[str, list[str]]:
    return {fw: ids.copy() for fw, ids in _control_index().get(check_id, {}).items()}


def evaluate(frameworks: Iterable[str], findings: list[dict], evaluated: set[str]) -> dict[str, dict]:
    """pass: every evaluated check of the control found nothing; fail: any finding; not_evaluated: no data."""
    by_check: dict[str, list[str]] = {}
    for f in findings:
        by_check.setdefault(f["check_id"], []).append(f["fingerprint"])
    out = {}
    for key in frameworks:
        fw = FRAMEWORKS[key]
        controls = []
        for control in fw["controls"]:
            hits = sorted({fp for c in control["checks"] for fp in by_check.get(c, ())})
            if hits:
                status = "fail"
            elif any(c in evaluated for c in control["checks"]):
                status = "pass"
            else:
                status = "not_evaluated"
            controls.append({"id": control["id"], "title": control["title"], "status": status,
                             "checks": control["checks"], "findings": hits})
        counts = {status: sum(c["status"] == status for c in controls) for status in ("pass", "fail")}
        out[key] = {"name": fw["name"], "controls": controls, "passed": counts["pass"], "failed": counts["fail"],
                    "not_evaluated": len(controls) - counts["pass"] - counts["fail"]}
    return out
