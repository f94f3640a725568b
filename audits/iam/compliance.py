"""Compliance frameworks: each control's status for one audit.

FRAMEWORKS is the one list of frameworks (Django's FRAMEWORK_CHOICES and the CLI derive from it). Which checks
answer a control is declared on the check itself (checks.Check.controls) and collected here, so a check's
mapping lives beside its metadata. Reviewed against Prowler's IAM mappings (reference/prowler_iam_compliance_map.txt)
and not copied where they are wrong: PCI 8.2.3-8.2.5 (strength, rotation, history) each map to the check that
answers them rather than all to password reuse; NIST AC-2(3) "disable accounts" maps to the inactivity checks, not
to password length. Only controls IAM data can answer are listed. Where our bar is stricter than the control's
(length 14 against PCI's 12, reuse 24 against PCI's 4) the control can fail on a policy the standard would accept;
the finding states the configured value so an assessor can tell.
"""

from __future__ import annotations

from collections.abc import Iterable

from audits.iam.checks import CHECKS, controls_for
from audits.iam.finding_types import Finding

# key: (name, short label for forms and badges, [(control id, title), ...])
_DEFINITIONS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "cis": (
        "CIS AWS Foundations Benchmark 3.0",
        [
            ("1.4", "Ensure no 'root' user account access key exists"),
            ("1.5", "Ensure MFA is enabled for the 'root' user account"),
            ("1.7", "Eliminate use of the 'root' user for administrative and daily tasks"),
            ("1.8", "Ensure IAM password policy requires minimum length of 14 or greater"),
            ("1.9", "Ensure IAM password policy prevents password reuse"),
            ("1.10", "Ensure MFA is enabled for all IAM users that have a console password"),
            ("1.11", "Do not setup access keys during initial user setup for IAM users with a console password"),
            ("1.12", "Ensure credentials unused for 45 days or greater are disabled"),
            ("1.13", "Ensure there is only one active access key for any single IAM user"),
            ("1.14", "Ensure access keys are rotated every 90 days or less"),
            ("1.15", "Ensure IAM users receive permissions only through groups"),
            ("1.16", "Ensure IAM policies that allow full '*:*' administrative privileges are not attached"),
            ("1.17", "Ensure a support role has been created to manage incidents with AWS Support"),
            ("1.22", "Ensure access to AWSCloudShellFullAccess is restricted"),
        ],
    ),
    "pci_dss": (
        "PCI DSS 4.0",
        [
            ("3.6.1", "Procedures protect cryptographic keys; access restricted to the fewest custodians"),
            ("7.2.1", "An access control model covers appropriate access by least privilege"),
            ("7.2.2", "Access is assigned based on job function with least privileges"),
            ("7.2.4", "User accounts and access privileges are reviewed"),
            ("7.2.5", "Application and system accounts are assigned least privilege"),
            ("8.2.2", "Shared, generic or group IDs are used only when necessary"),
            ("8.2.6", "Inactive user accounts are removed or disabled within 90 days"),
            ("8.3.6", "Passwords meet minimum length and contain numeric and alphabetic characters"),
            ("8.3.7", "New passwords are not the same as any of the last four used"),
            ("8.3.9", "Passwords used as the only factor are changed at least every 90 days"),
            ("8.4.1", "MFA is implemented for all non-console access into the CDE for administrators"),
            ("8.4.2", "MFA is implemented for all access into the CDE"),
            ("8.6.3", "Passwords for application and system accounts are protected and changed periodically"),
            ("10.3.2", "Audit log files are protected to prevent modifications"),
        ],
    ),
    "hipaa": (
        "HIPAA Security Rule",
        [
            ("164.308(a)(3)(ii)(B)", "Workforce clearance procedure"),
            ("164.308(a)(3)(ii)(C)", "Termination procedures"),
            ("164.308(a)(4)(ii)(B)", "Access authorization"),
            ("164.308(a)(4)(ii)(C)", "Access establishment and modification"),
            ("164.308(a)(5)(ii)(D)", "Password management"),
            ("164.312(a)(1)", "Access control"),
            ("164.312(a)(2)(i)", "Unique user identification"),
            ("164.312(a)(2)(iv)", "Encryption and decryption"),
            ("164.312(b)", "Audit controls"),
            ("164.312(d)", "Person or entity authentication"),
        ],
    ),
    "soc2": (
        "SOC 2 (Trust Services Criteria 2017)",
        [
            ("CC6.1", "Logical access security software, infrastructure and architectures"),
            ("CC6.2", "Registration, authorization and removal of users"),
            ("CC6.3", "Role-based access, least privilege and segregation of duties"),
            ("CC6.6", "Logical access from outside the system boundaries"),
            ("CC7.2", "Monitoring of system components for anomalies"),
        ],
    ),
    "nist_800_53": (
        "NIST SP 800-53 Rev. 5",
        [
            ("AC-2", "Account management"),
            ("AC-2(3)", "Disable accounts"),
            ("AC-3", "Access enforcement"),
            ("AC-5", "Separation of duties"),
            ("AC-6", "Least privilege"),
            ("AC-6(5)", "Least privilege: privileged accounts"),
            ("AC-6(10)", "Least privilege: prohibit non-privileged users from executing privileged functions"),
            ("AU-9", "Protection of audit information"),
            ("IA-2(1)", "Multi-factor authentication to privileged accounts"),
            ("IA-2(2)", "Multi-factor authentication to non-privileged accounts"),
            ("IA-5", "Authenticator management"),
            ("IA-5(1)", "Password-based authentication"),
            ("SC-12", "Cryptographic key establishment and management"),
        ],
    ),
}
LABELS = {
    "cis": "CIS AWS Foundations 3.0",
    "pci_dss": "PCI DSS 4.0",
    "hipaa": "HIPAA",
    "soc2": "SOC 2",
    "nist_800_53": "NIST 800-53 rev 5",
}


def _build() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for key, (name, controls) in _DEFINITIONS.items():
        known = {cid for cid, _ in controls}
        checks_by_control: dict[str, list[str]] = {cid: [] for cid, _ in controls}
        for check in CHECKS.values():
            for cid in (check.controls or {}).get(key, ()):
                if cid not in known:
                    raise ValueError(f"check {check.id} names unknown {key} control {cid}")
                checks_by_control[cid].append(check.id)
        out[key] = {
            "name": name,
            "label": LABELS[key],
            "controls": [{"id": cid, "title": title, "checks": checks_by_control[cid]} for cid, title in controls],
        }
    return out


FRAMEWORKS: dict[str, dict] = _build()
__all__ = ["FRAMEWORKS", "LABELS", "controls_for", "evaluate"]


def evaluate(frameworks: Iterable[str], findings: Iterable[Finding], evaluated: set[str]) -> dict[str, dict]:
    """pass: every evaluated check of the control found nothing; fail: any finding; not_evaluated: no data.

    Suppressed (accepted) findings do not fail a control."""
    by_check: dict[str, list[str]] = {}
    for f in findings:
        if not f.get("suppressed"):
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
            controls.append(
                {
                    "id": control["id"],
                    "title": control["title"],
                    "status": status,
                    "checks": control["checks"],
                    "findings": hits,
                }
            )
        counts = {status: sum(c["status"] == status for c in controls) for status in ("pass", "fail")}
        out[key] = {
            "name": fw["name"],
            "controls": controls,
            "passed": counts["pass"],
            "failed": counts["fail"],
            "not_evaluated": len(controls) - counts["pass"] - counts["fail"],
        }
    return out


def restate(previous: dict[str, dict], findings: list[Finding]) -> dict[str, dict]:
    """`previous` (evaluate's answer for a run) again for the same findings with new suppressed marks: a control
    whose checks had data passes or fails by its unsuppressed findings; one that had none stays not evaluated.
    (A control that failed had data: its findings came from its checks.)"""
    by_check: dict[str, list[str]] = {}
    for f in findings:
        if not f.get("suppressed"):
            by_check.setdefault(f["check_id"], []).append(f["fingerprint"])
    out = {}
    for key, table in previous.items():
        controls = []
        for control in table.get("controls") or []:
            hits = sorted({fp for c in control.get("checks") or () for fp in by_check.get(c, ())})
            had_data = control.get("status") in ("pass", "fail")
            status = "fail" if hits else "pass" if had_data else "not_evaluated"
            controls.append({**control, "status": status, "findings": hits})
        counts = {status: sum(c["status"] == status for c in controls) for status in ("pass", "fail")}
        out[key] = {
            **table,
            "controls": controls,
            "passed": counts["pass"],
            "failed": counts["fail"],
            "not_evaluated": len(controls) - counts["pass"] - counts["fail"],
        }
    return out
