"""One principal's findings: the permission, trust, credential and usage checks that apply to it.

Built once per audit over the whole account (role-assumption edges need every principal), then asked principal
by principal in the agent's plan order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audits.iam import credentials, escalation, risks, trust
from audits.iam.account import Account, Principal, is_aws_managed
from audits.iam.checks import AUTHZ, CHECKS, CRED_REPORT, PASSWORD, Spec, make_finding
from audits.iam.paths import Paths
from audits.iam.policy import Permissions, Statement

UNUSED_DAYS = 90
CLOUDSHELL_ARN = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess"
SUPPORT_ARN = "arn:aws:iam::aws:policy/AWSSupportAccess"
SECURITY_AUDIT_ARN = "arn:aws:iam::aws:policy/SecurityAudit"
ADMIN_NAME = re.compile(r"admin|root|power|super|owner|break.?glass|full.?access|prod", re.IGNORECASE)
_TYPE_ORDER = {"user": 0, "role": 1, "group": 2, "policy": 3, "account": 4}


@dataclass
class Step:
    principal: Principal
    priority: int
    reason: str

    @property
    def tier(self) -> str:
        if self.principal.type == "account":
            return "account"
        if self.priority >= 100:
            return "admin"
        if self.priority >= 50:
            return "escalation"
        return "signals" if self.priority > 0 else "rest"


class Analysis:
    def __init__(self, snapshot) -> None:
        self.snapshot = snapshot
        self.account = Account(snapshot)
        self.now = credentials.now_of(snapshot.collected_at)
        self.account_id = snapshot.account_id or ""
        self.report_rows = {r.get("arn"): r for r in snapshot.credential_report or ()}
        self.report_by_name = {r.get("user"): r for r in snapshot.credential_report or ()}
        # Users the credential report knows but the export does not (a trimmed or older export): their
        # credentials are still checked, as users holding no policies we can see.
        known = {u.arn for u in self.account.users} | {u.name for u in self.account.users}
        self.report_only_users = [
            Principal("user", r["user"], r.get("arn") or r["user"]) for r in snapshot.credential_report or ()
            if r.get("user") and r["user"] != "<root_account>" and r.get("arn") not in known and r["user"] not in known
        ]
        self._spec_cache: dict[tuple, list[Spec]] = {}
        self._methods_cache: dict[int, frozenset[str]] = {}
        self.admins = {p.arn for p in self.principals()
                       if not p.service_linked and self.account.permissions(p).is_admin()}
        self.paths = Paths(self.account, self.account_id, self.admins)

    # --- data availability ------------------------------------------------------------------------------------

    def evaluated_checks(self) -> set[str]:
        snap = self.snapshot
        has = {AUTHZ}
        if snap.credential_report is not None:
            has |= {CRED_REPORT}
        root_row = any(r.get("user") == "<root_account>" for r in snap.credential_report or ())
        if snap.password_policy is not None or getattr(snap, "password_policy_known", True):
            has.add(PASSWORD)
        out = {c.id for c in CHECKS.values() if c.needs in has}
        if root_row:
            out |= {"root_access_keys", "root_mfa_disabled"}
        elif snap.account_summary is not None:
            out |= {k for k in ("root_access_keys", "root_mfa_disabled")
                    if {"root_access_keys": "AccountAccessKeysPresent",
                        "root_mfa_disabled": "AccountMFAEnabled"}[k] in snap.account_summary}
        if not root_row:
            out.discard("root_recently_used")
        if not self.role_usage_known:
            out.discard("unused_role")
        return out

    @property
    def role_usage_known(self) -> bool:
        """Exports made before AWS added RoleLastUsed (or trimmed ones) cannot tell an unused role from a busy one."""
        roles = [r for r in self.account.roles if not r.service_linked]
        return not roles or any("RoleLastUsed" in r.entry for r in roles)

    def warnings(self) -> list[tuple[str, dict]]:
        out = []
        snap = self.snapshot
        if snap.credential_report is None:
            out.append(("No credential report in the snapshot: MFA, access-key and inactivity checks not "
                        "evaluated.", {"detail": "credential_report missing"}))
        if snap.password_policy is None and not getattr(snap, "password_policy_known", True):
            out.append(("Password policy unknown (not in the snapshot): password policy checks not evaluated.",
                        {"detail": "password_policy missing"}))
        if not self.role_usage_known:
            out.append(("No RoleLastUsed data in the snapshot: unused-role checks not evaluated.",
                        {"detail": "RoleLastUsed missing"}))
        if self.report_only_users:
            names = [u.name for u in self.report_only_users]
            out.append((f"{len(names)} user(s) of the credential report are not in the authorization details; "
                        "only their credentials are checked.", {"detail": {"users": names[:50]}}))
        if self.account.missing_policies:
            missing = sorted(self.account.missing_policies)
            out.append((f"{len(missing)} attached managed policies are not in the snapshot; their permissions "
                        "are not analysed.", {"detail": {"missing_policies": missing[:50]}}))
        return out

    # --- the plan -----------------------------------------------------------------------------------------------

    def principals(self) -> list[Principal]:
        return [*self.account.users, *self.report_only_users, *self.account.roles, *self.account.groups]

    def policy_principals(self) -> list[Principal]:
        """Customer-managed policies, and AWS-managed ones in use by something other than service-linked roles.

        AttachmentCount above the attachments we can see means holders outside the export: counted as in use.
        """
        arns = [p["Arn"] for p in self.snapshot.policies if not is_aws_managed(p["Arn"])]
        arns += [p["Arn"] for p in self.snapshot.policies if is_aws_managed(p["Arn"]) and (
            any(not h.service_linked for h in self.account.attachments.get(p["Arn"], ()))
            or self.attachment_count(p["Arn"]) > len(self.account.attachments.get(p["Arn"], ())))]
        return [self.account.managed_policy_principal(arn) for arn in arns]

    def attachment_count(self, arn: str) -> int:
        declared = self.account.policies.get(arn, {}).get("AttachmentCount")
        seen = len(self.account.attachments.get(arn, ()))
        return max(declared, seen) if isinstance(declared, int) else seen

    def plan(self) -> list[Step]:
        steps = [self._step(p) for p in (*self.principals(), *self.policy_principals())]
        steps.sort(key=lambda s: (-s.priority, _TYPE_ORDER[s.principal.type], s.principal.name, s.principal.arn))
        account = Principal("account", self.account_id or "account",
                            f"arn:aws:iam::{self.account_id}:root" if self.account_id else "account")
        steps.append(Step(account, 0, "account-level checks (root, password policy) close the run"))
        return steps

    def _step(self, p: Principal) -> Step:
        priority, reasons = 0, []
        if p.service_linked:
            return Step(p, 0, "service-linked role, defined by AWS")
        if p.type == "policy":
            perms = Permissions.of(list(self.account.managed_statements(p.arn)))
            holders = self.attachment_count(p.arn)
            if perms.is_admin():
                priority += 100
                reasons.append("grants '*:*'")
            elif escalation.methods(perms):
                priority += 50
                reasons.append("allows privilege escalation")
            if holders:
                priority += min(holders, 20)
                reasons.append(f"attached to {holders} principal(s)")
            return Step(p, priority, ", ".join(reasons) or "managed policy")
        if p.arn in self.admins:
            priority += 100
            reasons.append(self._admin_reason(p))
        elif escalation.methods(self.account.permissions(p)):
            priority += 50
            reasons.append("can escalate privileges")
        if ADMIN_NAME.search(p.name):
            priority += 30
            reasons.append("admin-like name")
        last = self._last_used(p)
        if last is not None and last <= 30:
            priority += 10
            reasons.append(f"used {last} day(s) ago")
        return Step(p, priority, ", ".join(reasons) or "no admin signal")

    def _admin_reason(self, p: Principal) -> str:
        """Which policy gives '*:*', in words: attached, inline, or through which group."""
        holders = [p, *self.account.member_groups(p)] if p.type == "user" else [p]
        parts = []
        for holder in holders:
            via = "" if holder is p else f" (via group {holder.name})"
            for arn in holder.managed:
                if any(s.all_actions for s in self.account.managed_statements(arn)):
                    parts.append(f"{arn.rsplit('/', 1)[-1]} attached{via}")
            for name, doc in holder.inline:
                if any(s.all_actions for s in self.account.compile_inline(name, doc)):
                    parts.append(f"inline policy '{name}' grants '*:*'{via}")
        return ", ".join(parts) or "administrator access"

    def _last_used(self, p: Principal) -> int | None:
        if p.type == "role":
            return credentials.days_since(_last_used_date(p), self.now)
        row = self._report_row(p)
        if p.type != "user" or row is None:
            return None
        days = [credentials.days_since(row.get(k), self.now) for k in
                ("password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date")]
        return min((d for d in days if d is not None), default=None)

    def _report_row(self, p: Principal) -> dict | None:
        return self.report_rows.get(p.arn) or self.report_by_name.get(p.name)

    # --- findings for one principal -----------------------------------------------------------------------------

    def findings(self, p: Principal) -> list[dict]:
        if p.type == "account":
            specs = self._account_specs()
        elif p.type == "policy":
            specs = self._policy_specs(p)
        else:
            specs = self._principal_specs(p)
        return [make_finding(s.check_id, p.ref, policy=s.policy, discriminator=s.discriminator, detail=s.detail,
                             evidence=s.evidence, conditioned=s.conditioned, severity=s.severity) for s in specs]

    def _policy_specs(self, p: Principal) -> list[Spec]:
        holders = self.account.attachments.get(p.arn, [])
        perms = Permissions.of(list(self.account.managed_statements(p.arn)))
        count = self.attachment_count(p.arn)
        attached = {"attached_to": [h.name for h in holders[:50]], "attachment_count": count}
        specs = risks.policy_specs(perms, p.arn, attached=count > 0, aws_managed=is_aws_managed(p.arn))
        return [s._replace(evidence={**s.evidence, **attached}) for s in specs]

    def _principal_specs(self, p: Principal) -> list[Spec]:
        if p.service_linked:
            return []  # AWS defines and maintains service-linked roles: nothing in them is the account's to fix
        key = self.account.permission_key(p)
        specs = self._spec_cache.get(key)
        if specs is None:
            specs = self._spec_cache[key] = self._permission_specs(p)
        specs = list(specs)
        if any(arn == CLOUDSHELL_ARN for arn in p.managed):
            specs.append(Spec("cloudshell_full_access", CLOUDSHELL_ARN, "",
                              "AWSCloudShellFullAccess is attached directly.", {"policy": CLOUDSHELL_ARN}))
        if p.type == "user" and (p.inline or p.managed):
            names = [n for n, _ in p.inline] + [a.rsplit("/", 1)[-1] for a in p.managed]
            specs.append(Spec("user_attached_policies", "", "",
                              f"{len(names)} policy(ies) attached directly: {', '.join(names[:6])}.",
                              {"inline": [n for n, _ in p.inline], "managed": p.managed}))
        if p.type == "role":
            specs.extend(trust.trust_specs(p.entry, self.account_id, p.managed))
        if p.type in ("user", "role") and p.arn not in self.admins:
            specs.extend(self.paths.specs(p))
        specs.extend(self._usage_specs(p))
        return specs

    def _permission_specs(self, p: Principal) -> list[Spec]:
        perms = self.account.permissions(p)
        single: set[str] = set()
        for _label, stmts in self.account.sources(p):
            single |= self._methods_of(stmts)
        specs = risks.principal_specs(perms, p.type, single)
        for name, doc in p.inline:
            stmts = self.account.compile_inline(name, doc)
            inline = Permissions([s for s in stmts if s.effect == "Allow"], perms.denies, perms.boundary)
            specs.extend(risks.policy_specs(inline, name))
        return specs

    def _methods_of(self, stmts: tuple[Statement, ...]) -> frozenset[str]:
        found = self._methods_cache.get(id(stmts))
        if found is None:
            found = frozenset(h.method.name for h in escalation.methods(Permissions.of(list(stmts))))
            self._methods_cache[id(stmts)] = found
        return found

    def _usage_specs(self, p: Principal) -> list[Spec]:
        specs = []
        admin = p.arn in self.admins
        if p.type == "role" and not p.service_linked and "RoleLastUsed" in p.entry:
            last = _last_used_date(p)
            days = credentials.days_since(last, self.now)
            created = credentials.days_since(p.entry.get("CreateDate"), self.now)
            idle = days if days is not None else created
            if idle is not None and idle >= UNUSED_DAYS:
                what = f"last used {days} days ago" if days is not None else f"never used ({created} days old)"
                check = "dormant_admin" if admin else "unused_role"
                specs.append(Spec(check, "", "", f"Role {what}.",
                                  {"last_used": last, "create_date": p.entry.get("CreateDate"), "days": idle}))
        if p.type == "user":
            row = self._report_row(p)
            if row is not None:
                user = credentials.user_specs(row, self.now)
                if admin:
                    user = [s._replace(check_id="admin_without_mfa") if s.check_id == "console_user_without_mfa"
                            else s._replace(check_id="dormant_admin", severity=None)
                            if s.check_id == "inactive_user" else s for s in user]
                specs.extend(user)
        return specs

    def _account_specs(self) -> list[Spec]:
        snap = self.snapshot
        specs = credentials.root_specs(snap.credential_report, snap.account_summary, self.now)
        if snap.password_policy is not None or getattr(snap, "password_policy_known", True):
            specs.extend(credentials.password_specs(snap.password_policy))
        attached = {arn for p in self.account.roles for arn in p.managed}
        if SUPPORT_ARN not in attached:
            specs.append(Spec("no_support_role", "", "", "No role has AWSSupportAccess attached.", {}))
        if SECURITY_AUDIT_ARN not in attached:
            specs.append(Spec("no_security_audit_role", "", "", "No role has SecurityAudit attached.", {}))
        return specs



def _last_used_date(role: Principal) -> object:
    last_used = role.entry.get("RoleLastUsed")
    return last_used.get("LastUsedDate") if isinstance(last_used, dict) else None
