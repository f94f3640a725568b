"""One principal's findings: the permission, trust, credential and usage checks that apply to it.

Built once per audit over the whole account (role-assumption edges need every principal), then asked principal
by principal in the agent's plan order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audits.iam import actions as ds
from audits.iam import credentials, hygiene, trust
from audits.iam.account import Account, Principal, is_aws_managed
from audits.iam.authz import Authz, display_refs, inline_source, unique_refs
from audits.iam.checks import AUTHZ, CHECKS, CRED_REPORT, PASSWORD, RESOURCES, Spec, make_finding
from audits.iam.edges import sts
from audits.iam.finding_types import Finding, StatementRef
from audits.iam.graph import Escalation, Graph, unique
from audits.iam.policy_alone import PolicyAlone, grants_everything, labelled, method_evidence

if TYPE_CHECKING:
    from audits.iam.incremental import Reuse

UNUSED_DAYS = 90
ASSUMERS_BUDGET = 25  # trust-policy evaluations per account-root trust, for the "who can assume it" evidence
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
    def __init__(self, snapshot, *, reuse: Reuse | None = None) -> None:
        """reuse: the analysis before a change, to build this one from (audits.iam.incremental.after)."""
        self.base: Analysis | None = None  # the analysis reused, kept alive while this one reads its caches
        self.fixes = True  # findings carry their fix (remediation's); False for a reader of none (what-if compare)
        self.snapshot = snapshot
        self.account = Account(snapshot) if reuse is None else reuse.account(snapshot)
        self.now = credentials.now_of(snapshot.collected_at)
        self.account_id = snapshot.account_id or ""
        self.report_rows = {r.get("arn"): r for r in snapshot.credential_report or ()}
        self.report_by_name = {r.get("user"): r for r in snapshot.credential_report or ()}
        # Users the credential report knows but the export does not (a trimmed or older export): their
        # credentials are still checked, as users holding no policies we can see.
        known = {u.arn for u in self.account.users} | {u.name for u in self.account.users}
        self.report_only_users = [
            Principal("user", r["user"], r.get("arn") or r["user"])
            for r in snapshot.credential_report or ()
            if r.get("user") and r["user"] != "<root_account>" and r.get("arn") not in known and r["user"] not in known
        ]
        if reuse is None:
            self.authz = Authz(self.account, self.account_id, self.now, snapshot.organization)
            self.graph = Graph(self.account, self.authz, {**self.report_by_name, **self.report_rows})
        else:
            self.authz = reuse.authz(self.account)
            self.graph = reuse.graph(self.account, self.authz, {**self.report_by_name, **self.report_rows})
        self.admins = set(self.graph.admin_proofs)
        self.escalating = {arn for arn, e in self.graph.escalations.items() if not e.admin}
        self._holders: dict[str, list[Principal]]
        if reuse is not None and self.account.base is reuse.before.account:
            self._holders = self.account.holders_after(reuse.before._holders, reuse.affected)
        else:
            self._holders = self._policy_holders()
        self._hygiene: dict[tuple, list[Spec]] = {}
        self._arn_sets: dict[int, set[str]] = {}  # id of a graph's shared candidate list -> its ARNs
        self._assumable: dict[tuple[str, str], bool] = {}  # (source, trust document key) -> can assume
        self.alone = PolicyAlone(self.authz)  # what one policy allows on its own, by the evaluator
        self._groups: dict[str, tuple] = {}  # group ARN -> its policies' statements (one tuple, asked many times)
        self._grants: dict[str, list[Spec]] = {}  # principal ARN -> its grants-admin finding (asked twice)
        self._deny_docs: dict[int, bool] = {}  # id of a policy document -> it holds only Deny statements

    # --- data availability ------------------------------------------------------------------------------------

    def evaluated_checks(self) -> set[str]:
        snap = self.snapshot
        has = {AUTHZ}
        if snap.credential_report is not None:
            has |= {CRED_REPORT}
        root_row = any(r.get("user") == "<root_account>" for r in snap.credential_report or ())
        if snap.password_policy is not None or getattr(snap, "password_policy_known", True):
            has.add(PASSWORD)
        if getattr(snap, "resources", None):
            has.add(RESOURCES)
        out = {c.id for c in CHECKS.values() if c.needs in has}
        if root_row:
            out |= {"root_access_keys", "root_mfa_disabled"}
        elif snap.account_summary is not None:
            out |= {
                k
                for k in ("root_access_keys", "root_mfa_disabled")
                if {"root_access_keys": "AccountAccessKeysPresent", "root_mfa_disabled": "AccountMFAEnabled"}[k]
                in snap.account_summary
            }
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
        out: list[tuple[str, dict]] = []
        snap = self.snapshot
        if snap.credential_report is None:
            out.append(
                (
                    "No credential report in the snapshot: MFA, access-key and inactivity checks not evaluated.",
                    {"detail": "credential_report missing"},
                )
            )
        if snap.password_policy is None and not getattr(snap, "password_policy_known", True):
            out.append(
                (
                    "Password policy unknown (not in the snapshot): password policy checks not evaluated.",
                    {"detail": "password_policy missing"},
                )
            )
        if not self.role_usage_known:
            out.append(
                (
                    "No RoleLastUsed data in the snapshot: unused-role checks not evaluated.",
                    {"detail": "RoleLastUsed missing"},
                )
            )
        if self.report_only_users:
            names = [u.name for u in self.report_only_users]
            out.append(
                (
                    f"{len(names)} user(s) of the credential report are not in the authorization details; "
                    "only their credentials are checked.",
                    {"detail": {"users": names[:50]}},
                )
            )
        if self.account.missing_policies:
            missing = sorted(self.account.missing_policies)
            out.append(
                (
                    f"{len(missing)} attached managed policies are not in the snapshot; their permissions "
                    "are not analysed.",
                    {"detail": {"missing_policies": missing[:50]}},
                )
            )
        return out

    # --- the plan -----------------------------------------------------------------------------------------------

    def principals(self) -> list[Principal]:
        return [*self.account.users, *self.report_only_users, *self.account.roles, *self.account.groups]

    def policy_principals(self) -> list[Principal]:
        """Customer-managed policies, and AWS-managed ones in use by something other than service-linked roles.

        AttachmentCount above the attachments we can see means holders outside the export: counted as in use.
        """
        arns = [p["Arn"] for p in self.snapshot.policies if not is_aws_managed(p["Arn"])]
        arns += [
            p["Arn"]
            for p in self.snapshot.policies
            if is_aws_managed(p["Arn"])
            and (
                any(not h.service_linked for h in self.account.attachments.get(p["Arn"], ()))
                or self.attachment_count(p["Arn"]) > len(self.account.attachments.get(p["Arn"], ()))
            )
        ]
        return [self.account.managed_policy_principal(arn) for arn in arns]

    def attachment_count(self, arn: str) -> int:
        declared = self.account.policies.get(arn, {}).get("AttachmentCount")
        seen = len(self.account.attachments.get(arn, ()))
        return max(declared, seen) if isinstance(declared, int) else seen

    def plan(self) -> list[Step]:
        steps = [self._step(p) for p in (*self.principals(), *self.policy_principals())]
        steps.sort(key=lambda s: (-s.priority, _TYPE_ORDER[s.principal.type], s.principal.name, s.principal.arn))
        account = Principal(
            "account",
            self.account_id or "account",
            f"arn:aws:iam::{self.account_id}:root" if self.account_id else "account",
        )
        steps.append(Step(account, 0, "account-level checks (root, password policy) close the run"))
        return steps

    def _step(self, p: Principal) -> Step:
        priority, reasons = 0, []
        if p.service_linked:
            return Step(p, 0, "service-linked role, defined by AWS")
        if p.type == "policy":
            statements = self.authz.managed(p.arn)
            holders = self.attachment_count(p.arn)
            if self.alone.is_admin(statements):
                priority += 100
                reasons.append("grants '*:*'")
            elif self.alone.methods(statements):
                priority += 50
                reasons.append("allows privilege escalation")
            if holders:
                priority += min(holders, 20)
                reasons.append(f"attached to {holders} principal(s)")
            return Step(p, priority, ", ".join(reasons) or "managed policy")
        if p.arn in self.admins:
            priority += 100
            reasons.append(self._admin_reason(p))
        elif p.arn in self.escalating:
            priority += 50
            reasons.append(f"can escalate privileges ({self.graph.escalations[p.arn].method})")
        if ADMIN_NAME.search(p.name):
            priority += 30
            reasons.append("admin-like name")
        last = self._last_used(p)
        if last is not None and last <= 30:
            priority += 10
            reasons.append(f"used {last} day(s) ago")
        return Step(p, priority, ", ".join(reasons) or "no admin signal")

    def _policy_holders(self) -> dict[str, list[Principal]]:
        """Managed policy ARN -> the users and roles it applies to (directly or through a group)."""
        out: dict[str, list[Principal]] = {}
        for p in (*self.account.users, *self.account.roles):
            for arn in self.account.holdings(p):
                out.setdefault(arn, []).append(p)
        return out

    def _admin_reason(self, p: Principal) -> str:
        """Which policy gives '*:*', in words: attached, inline, or through which group."""
        holders = [p, *self.account.member_groups(p)] if p.type == "user" else [p]
        parts = []
        for holder in holders:
            via = "" if holder is p else f" (via group {holder.name})"
            for arn in holder.managed:
                if any(grants_everything(s) for s in self.authz.managed(arn)):
                    parts.append(f"{arn.rsplit('/', 1)[-1]} attached{via}")
            for name, doc in holder.inline:
                if any(grants_everything(s) for s in self.authz.compile(doc, inline_source(holder, name))):
                    parts.append(f"inline policy '{name}' grants '*:*'{via}")
        return ", ".join(parts) or "administrator access"

    def _last_used(self, p: Principal) -> int | None:
        if p.type == "role":
            return credentials.days_since(_last_used_date(p), self.now)
        row = self._report_row(p)
        if p.type != "user" or row is None:
            return None
        days = [
            credentials.days_since(row.get(k), self.now)
            for k in ("password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date")
        ]
        return min((d for d in days if d is not None), default=None)

    def _report_row(self, p: Principal) -> dict | None:
        return self.report_rows.get(p.arn) or self.report_by_name.get(p.name)

    # --- findings for one principal -----------------------------------------------------------------------------

    def findings(self, p: Principal) -> list[Finding]:
        if p.type == "account":
            specs = self._account_specs()
        elif p.type == "policy":
            specs = self._policy_specs(p)
        else:
            specs = self._principal_specs(p)
        ref = p.ref
        return [
            make_finding(
                s.check_id,
                ref,
                policy=s.policy,
                discriminator=s.discriminator,
                detail=s.detail,
                evidence=s.evidence,
                conditioned=s.conditioned,
                severity=s.severity,
                title=s.title,
                with_fix=self.fixes,
            )
            for s in specs
        ]

    def _policy_specs(self, p: Principal) -> list[Spec]:
        holders = self.account.attachments.get(p.arn, [])
        statements = self.authz.managed(p.arn)
        grants = hygiene.Grants.of(statements)
        count = self.attachment_count(p.arn)
        attached = {"attached_to": [h.name for h in holders[:50]], "attachment_count": count}
        specs = self._grant_specs(p.arn, statements, self._holders.get(p.arn, []), p.arn)
        specs += hygiene.hygiene_specs(
            grants,
            p.arn,
            attached=count > 0,
            aws_managed=is_aws_managed(p.arn),
            admin=self.alone.is_admin(statements),
        )
        specs += hygiene.not_action_specs(grants, p.arn)
        return [s._replace(evidence={**s.evidence, **attached}) for s in specs]

    def _grant_specs(self, label: str, statements: tuple, holders: list[Principal], source: str) -> list[Spec]:
        """Admin and escalation notes on a policy: what it grants on its own and for whom the grant is effective,
        by the evaluator; a policy that would grant them but is effective for nobody is a low hygiene note."""
        admin = self.alone.is_admin(statements)
        hits = self.alone.methods(statements)
        if not admin and not hits:
            return []
        cites = lambda esc: any(r.get("policy") == source for r in esc.proof.statements)  # noqa: E731
        effective_admin = sorted(
            h.arn for h in holders if (e := self.graph.escalations.get(h.arn)) is not None and e.admin and cites(e)
        )
        effective_escalation = sorted(
            h.arn for h in holders if (e := self.graph.escalations.get(h.arn)) is not None and not e.admin and cites(e)
        )
        specs = []
        if admin and effective_admin:
            specs.append(
                Spec(
                    "policy_admin_access",
                    label,
                    "",
                    f"Grants every action on every resource ('*:*') - effective for: {_names(effective_admin)}.",
                    {"statements": self._admin_refs(statements, label), "effective_for": effective_admin[:50]},
                )
            )
        if hits and (effective_escalation or (effective_admin and not admin)):
            who = effective_escalation or effective_admin
            names = [h.method.name for h in hits]
            specs.append(
                Spec(
                    "policy_privilege_escalation",
                    label,
                    "",
                    f"Allows privilege escalation by {_shown(names)} - effective for: {_names(who)}.",
                    {"methods": [method_evidence(h, label) for h in hits], "effective_for": who[:50]},
                )
            )
        if admin and not effective_admin:
            specs.extend(self._idle_admin(label, statements, holders))
        elif hits and not admin and not effective_escalation and not effective_admin:
            specs.extend(self._idle_escalation(label, hits, holders))
        return specs

    def _admin_refs(self, statements: tuple, label: str) -> list[StatementRef]:
        """The statements that grant every action, as the policy's findings cite them."""
        return labelled([s.ref for s in statements if grants_everything(s) and not s.conditions][:5], label)

    def _idle_admin(self, label: str, statements: tuple, holders: list[Principal]) -> list[Spec]:
        """'*:*' that makes no holder an administrator: attached to no one (still admin access, rated medium), or
        cancelled on every holder by something named."""
        refs = self._admin_refs(statements, label)
        if self._boundary_only(label, holders):
            return []
        if not holders:
            return [
                Spec(
                    "policy_admin_access",
                    label,
                    "",
                    f"Grants every action on every resource ('*:*'); {self._nobody(label)}, so whoever it is "
                    "attached to becomes an administrator.",
                    {"statements": refs, "effective_for": [], "attached": False},
                    False,
                    "medium",
                )
            ]
        cancels = {h.arn: self._admin_cancel(h) for h in holders[:50]}
        if not all(cancels.values()):
            admins = sorted(h.arn for h in holders if h.arn in self.admins)
            if not admins:
                return []
            return [
                Spec(
                    "policy_admin_access",
                    label,
                    "",
                    f"Grants every action on every resource ('*:*') - effective for: {_names(admins)}.",
                    {"statements": refs, "effective_for": admins[:50]},
                )
            ]
        return [self._ineffective(label, "admin", "administrator access ('*:*')", cancels)]

    def _nobody(self, label: str) -> str:
        """Who holds a policy none of the snapshot's users and roles hold, in words."""
        attached = self.account.attachments.get(label, [])
        groups = [a.name for a in attached if a.type == "group"]
        if groups:
            return f"attached only to group(s) with no members ({_shown(groups)})"
        unseen = self.attachment_count(label) - len(attached) if label.startswith("arn:") else 0
        if unseen > 0:
            return f"attached only to {unseen} principal(s) outside this snapshot, which the audit cannot evaluate"
        return "attached to no one today"

    def _boundary_only(self, label: str, holders: list[Principal]) -> bool:
        """Nothing to report on a policy no one holds when it is used only as a permissions boundary (which grants
        nothing by itself) or is an AWS-managed policy attached to no one (AWS keeps those in every account)."""
        if holders or self.account.attachments.get(label):
            return False
        if is_aws_managed(label):
            return self.attachment_count(label) == 0
        return any(p.boundary == label for p in (*self.account.users, *self.account.roles))

    def _idle_escalation(self, label: str, hits: list, holders: list[Principal]) -> list[Spec]:
        methods = _shown([h.method.name for h in hits])
        if self._boundary_only(label, holders):
            return []
        if not holders:
            return [
                Spec(
                    "policy_privilege_escalation",
                    label,
                    "",
                    f"Allows privilege escalation by {methods}; {self._nobody(label)}, so whoever it is attached "
                    "to can use it.",
                    {"methods": [method_evidence(h, label) for h in hits], "effective_for": [], "attached": False},
                    False,
                    "medium",
                )
            ]
        actions = tuple(dict.fromkeys(a for hit in hits for a in hit.actions))
        cancels = {}
        for h in holders[:50]:
            # Cancelled on a holder when every method loses one of its actions there.
            per_hit = [self._cancel(h, hit.actions, every=False) for hit in hits]
            cancels[h.arn] = "; ".join(dict.fromkeys(c for c in per_hit if c)) if all(per_hit) else ""
        if not actions or not all(cancels.values()):
            return self._latent_policy(label, hits, holders)
        return [self._ineffective(label, "escalation", f"privilege escalation ({methods})", cancels)]

    def _latent_policy(self, label: str, hits: list, holders: list[Principal]) -> list[Spec]:
        """The grant works for a holder but completes nothing today: noted on the policy only where a holder holds
        it as a latent method (its Resource covers targets created later)."""
        from audits.iam.latent import latent_methods

        latent = {}
        for h in holders[:50]:
            if h.arn in self.graph.nodes and h.arn not in self.graph.escalations and not self._grants_admin(h):
                found = latent_methods(self.graph, h)
                if found:
                    latent[h.arn] = found[0]
        if not latent:
            return []
        first = next(iter(latent.values()))
        return [
            Spec(
                "policy_privilege_escalation",
                label,
                "",
                f"Allows privilege escalation by {_shown([h.method.name for h in hits])}, with no target today - "
                f"latent for: {_names(sorted(latent))}; it completes as soon as there is {first.completes}.",
                {
                    "methods": [method_evidence(h, label) for h in hits],
                    "effective_for": [],
                    "latent_for": sorted(latent)[:50],
                    "completes": first.completes,
                },
                False,
                "medium",
            )
        ]

    def _ineffective(self, label: str, kind: str, what: str, cancels: dict[str, str]) -> Spec:
        reasons = list(dict.fromkeys(cancels.values()))
        return Spec(
            "policy_grant_ineffective",
            label,
            kind,
            f"Would grant {what}, but it is cancelled on every holder: {_shown(reasons)}.",
            {
                "would_grant": kind,
                "effective_for": [],
                "holders": list(cancels)[:50],
                "cancelled_by": [{"holder": h, "by": why} for h, why in list(cancels.items())[:50]],
            },
        )

    def _admin_cancel(self, holder: Principal) -> str:
        """What keeps the holder from being an administrator, named, or "" when it is one."""
        if holder.arn not in self.graph.nodes:
            return ""
        proof = self.authz.admin(self.graph.subject(holder))
        if proof.possible:
            return ""
        return _cancel_reason(holder, proof.decisions[-1], "every action")

    def _cancel(self, holder: Principal, actions: tuple[str, ...], every: bool = True) -> str:
        """What takes the actions away from the holder on every resource, named (a Deny, its boundary, an SCP, a
        condition that cannot hold), or "" when it keeps one of them."""
        if holder.arn not in self.graph.nodes:
            return ""
        subject = self.graph.subject(holder)
        named = []
        for action in actions:
            if self.authz.can_create(subject, action) is not None:
                if every:
                    return ""
                continue
            decision = self.authz.decide(subject, action, "*")
            named.append(_cancel_reason(holder, decision, action, subject))
            if not every:
                return named[-1]
        return "; ".join(dict.fromkeys(named)) if named else ""

    def _principal_specs(self, p: Principal) -> list[Spec]:
        if p.service_linked:
            return []  # AWS defines and maintains service-linked roles: nothing in them is the account's to fix
        specs = []
        if p.type == "group":
            return self._group_specs(p)
        if p.arn in self.graph.nodes:
            reach = self._reach_specs(p)
            specs.extend(reach or self._grants_admin(p) or self._latent_specs(p))
            specs.extend(self._inline_specs(p, [p]))
        if any(arn == CLOUDSHELL_ARN for arn in p.managed):
            specs.append(
                Spec(
                    "cloudshell_full_access",
                    CLOUDSHELL_ARN,
                    "",
                    "AWSCloudShellFullAccess is attached directly.",
                    {"policy": CLOUDSHELL_ARN},
                )
            )
        # CIS 1.15 is about permissions granted to a user directly; a policy of Deny statements only (a fence, such
        # as the fixes write) grants nothing, so it does not count.
        if p.type == "user":
            inline = [n for n, doc in p.inline if not self._deny_only(doc)]
            managed = [a for a in p.managed if not self._deny_only(self.account.policy_document(a))]
            if inline or managed:
                names = inline + [a.rsplit("/", 1)[-1] for a in managed]
                specs.append(
                    Spec(
                        "user_attached_policies",
                        "",
                        "",
                        f"{len(names)} policy(ies) attached directly: {', '.join(names[:6])}.",
                        {"inline": inline, "managed": managed},
                    )
                )
        if p.type == "role":
            assumers, unchecked = self._assumers(p)
            specs.extend(
                trust.trust_specs(
                    p.entry, self.account_id, p.managed, assumers, p.arn in self.graph.escalations, unchecked
                )
            )
        specs.extend(self._usage_specs(p))
        return specs

    def _deny_only(self, document: object) -> bool:
        # Asked of every policy of every user and role: once per document (they live as long as the snapshot).
        found = self._deny_docs.get(id(document))
        if found is None:
            found = self._deny_docs[id(document)] = _deny_only(document)
        return found

    def _group_specs(self, g: Principal) -> list[Spec]:
        members = [u for u in self.account.users if g.name in u.groups]
        specs = []
        if self.alone.is_admin(self._group_statements(g)):
            sources = {inline_source(g, n) for n, _ in g.inline} | set(g.managed)
            effective = sorted(
                m.arn
                for m in members
                if (e := self.graph.escalations.get(m.arn)) is not None
                and e.admin
                and any(r.get("policy") in sources for r in e.proof.statements)
            )
            if effective:
                specs.append(
                    Spec(
                        "group_admin_access",
                        "",
                        "",
                        f"Every member is an administrator through this group - effective for: {_names(effective)}.",
                        {"effective_for": effective[:50]},
                    )
                )
            elif not members:
                specs.append(
                    Spec(
                        "group_admin_access",
                        "",
                        "",
                        "The group's policies grant administrator access; it has no members today, so any user "
                        "added to it becomes an administrator.",
                        {"effective_for": [], "members": 0},
                        False,
                        "medium",
                    )
                )
            else:
                cancels = {m.arn: self._admin_cancel(m) for m in members[:50]}
                if all(cancels.values()):
                    specs.append(
                        self._ineffective("", "admin", "administrator access to every member", cancels)._replace(
                            detail="The group's policies grant administrator access, but it is cancelled on every "
                            f"member: {_shown(list(dict.fromkeys(cancels.values())))}."
                        )
                    )
        specs.extend(self._inline_specs(g, members))
        return specs

    def _group_statements(self, g: Principal) -> tuple:
        found = self._groups.get(g.arn)
        if found is None:
            found = self._groups[g.arn] = self.authz.holder_statements(g)
        return found

    def _inline_specs(self, holder: Principal, principals: list[Principal]) -> list[Spec]:
        if not holder.inline:
            return []
        specs = []
        # The holder's own Denies (its groups' too) and its boundary, where they limit what its policies grant.
        denies, boundary = None, None
        if principals and holder.type != "group" and self._limited(principals[0]):
            denies = [s for s in self.authz.identity(principals[0]) if s.effect == "Deny"]
            boundary = self.authz.boundary(principals[0])
        for name, doc in holder.inline:
            statements = self.authz.compile(doc, inline_source(holder, name))
            specs.extend(self._grant_specs(name, statements, principals, inline_source(holder, name)))
            # Equal inline policies under equal Denies and boundary read alike: computed once (10,000 roles
            # sharing a handful of inline documents). Denies count by what the notes read of them, so the same
            # Deny held through different policies shares the notes too.
            key = (id(statements), _deny_shapes(denies), id(boundary) if boundary is not None else None)
            found = self._hygiene.get(key)
            if found is None:
                grants = hygiene.Grants.of(statements, denies, boundary)
                found = self._hygiene[key] = hygiene.hygiene_specs(
                    grants, name, admin=self.alone.is_admin(statements)
                ) + hygiene.not_action_specs(hygiene.Grants.of(statements), name)
            specs.extend(found)
        return specs

    def _limited(self, p: Principal) -> bool:
        """Does a Deny of its own policies (or its groups') or a boundary limit what p's policies grant? Without
        one, each inline policy reads alike on every holder, and the hygiene notes are shared."""
        return bool(p.boundary) or any(s.effect == "Deny" for s in self.authz.identity(p))

    def _assumers(self, role: Principal) -> tuple[list[str], int]:
        """Who in the account can assume the role now (for trusts of the account root), and how many candidates
        were left unchecked."""
        if role.arn not in self.graph.nodes or not self.graph.trust_index(role).account_wide:
            return [], 0
        named = [self.graph.nodes[a] for a in self.graph.trust_index(role).named if a in self.graph.nodes]
        # Holders of sts:AssumeRole on this role's ARN, one shared list per set of matching patterns: read only as
        # far as the budget, and counted without copying, so 10,000 account-root trusts stay linear.
        wide = self.graph.all_candidates(sts.ACTION, role.arn)
        wide_arns = self._arn_sets.get(id(wide))
        if wide_arns is None:
            wide_arns = self._arn_sets[id(wide)] = {p.arn for p in wide}
        extra = [p for p in unique(named) if p.arn not in wide_arns]
        total = len(extra) + len(wide) - (role.arn in wide_arns) - sum(p.arn == role.arn for p in extra)
        head = [c for c in [*extra, *wide[: ASSUMERS_BUDGET + 1]] if c.arn != role.arn][:ASSUMERS_BUDGET]
        # Each answer is an evaluation against the trust policy: enough to name some and say "more", within a
        # budget, so a thousand account-root trusts times a hundred broad holders stays linear.
        out = [s.arn for s in head if self._can_assume(s, role)]
        return out, max(0, total - ASSUMERS_BUDGET)

    def _can_assume(self, source: Principal, role: Principal) -> bool:
        """sts.edge, shared between roles with equal trust documents when the source's identity side is the same
        for every role (all its statements that could allow sts:AssumeRole have Resource "*"): the trust side
        then reads nothing of the role but its account, the same for all of them."""
        trust_key = self.account.doc_key(role.entry.get("AssumeRolePolicyDocument"))
        shared = bool(trust_key) and self.authz.evaluator.resource_blind(self.graph.subject(source), sts.ACTION)
        key = (source.arn, trust_key)
        if shared and key in self._assumable:
            return self._assumable[key]
        found = sts.edge(self.graph, source, role) is not None
        if shared:
            self._assumable[key] = found
        return found

    def _reach_specs(self, p: Principal) -> list[Spec]:
        esc = self.graph.escalation(p.arn)
        if esc is None:
            return []
        conditions = [c.to_dict() for c in esc.proof.conditions]
        refs = self._refs(esc)
        if esc.admin:
            via = sorted({r.get("policy", "") for r in refs if _grants_all(r)}) or sorted(
                {r.get("policy", "") for r in refs}
            )
            return [
                Spec(
                    f"{p.type}_admin_access",
                    "",
                    "",
                    f"Has full administrator access through {', '.join(via)}.",
                    {
                        "policies": via,
                        "statements": refs,
                        "conditions": conditions,
                        "target": p.arn,
                        "target_kind": "admin",
                    },
                    bool(conditions),
                )
            ]
        return [self._escalation_spec(p, esc, refs, conditions)]

    # Policy writes that make another principal an administrator (Rhino Security Labs' Attach*/Put* methods).
    GRANTS = (
        ("AttachUserPolicy", "iam:attachuserpolicy", "user", True),
        ("PutUserPolicy", "iam:putuserpolicy", "user", False),
        ("AttachGroupPolicy", "iam:attachgrouppolicy", "group", True),
        ("PutGroupPolicy", "iam:putgrouppolicy", "group", False),
        ("AttachRolePolicy", "iam:attachrolepolicy", "role", True),
        ("PutRolePolicy", "iam:putrolepolicy", "role", False),
    )
    # Every action the grants-to-others question reads: a principal whose Allows name none of them is answered
    # by one set lookup.
    GRANT_ACTIONS = frozenset(
        [a for _, a, _, _ in GRANTS] + ["iam:createpolicyversion", "iam:setdefaultpolicyversion", "iam:addusertogroup"]
    )

    def _grants_admin(self, p: Principal) -> list[Spec]:
        found = self._grants.get(p.arn)
        if found is None:
            found = self._grants[p.arn] = self._grants_admin_to_others(p)
        return found

    def _grants_admin_to_others(self, p: Principal) -> list[Spec]:
        """A principal that cannot become an administrator itself but can make another user, group or role one:
        whoever acts as it (and holds, or can sign in as, any identity of the account) escalates through it."""
        from audits.iam.edges.iam import ADMIN

        subject = self.graph.subject(p)
        if not self.authz.may(subject, self.GRANT_ACTIONS):
            return []
        pools = {"user": self.account.users, "group": self.account.groups, "role": self.account.roles}
        for method, action, kind, attach in self.GRANTS:
            if not self.authz.patterns(subject, action) or self.authz.denied_everywhere(subject, action):
                continue
            for target in pools[kind][:500]:  # bounded: one allowed target proves the capability
                if target.arn == p.arn or target.service_linked:
                    continue
                decision = self.authz.can_act_on(subject, action, target.arn, ADMIN if attach else None)
                if decision is not None:
                    how = f"give {kind} {target.name} administrator rights ({method})"
                    return [self._grant_spec(p, method, how, action, target, decision)]
        found = self._version_grants(p, subject)
        if found:
            return found
        if self.authz.patterns(subject, "iam:addusertogroup"):
            for group in self.account.groups:
                if not self.alone.is_admin(self._group_statements(group)):
                    continue
                decision = self.authz.can_act_on(subject, "iam:addusertogroup", group.arn)
                if decision is not None:
                    how = f"add any user to the administrators' group {group.name} (AddUserToGroup)"
                    return [self._grant_spec(p, "AddUserToGroup", how, "iam:addusertogroup", group, decision)]
        return []

    def _version_grants(self, p: Principal, subject) -> list[Spec]:
        """A new default version (or an older privileged one made the default again) of a customer-managed policy
        that another user or role holds makes that holder an administrator."""
        from audits.iam.edges.iam import stored_admin_version

        create = bool(self.authz.patterns(subject, "iam:createpolicyversion"))
        swap = bool(self.authz.patterns(subject, "iam:setdefaultpolicyversion"))
        if not create and not swap:
            return []
        for policy_arn, holders in self.graph.policy_holders.items():
            others = [h for h in holders if h.arn != p.arn and not h.service_linked]
            if not others:
                continue
            name = policy_arn.rsplit("/", 1)[-1]
            # Whether p may change the policy does not depend on the holder: asked first, so a policy p cannot
            # change costs no "admin if granted?" question about its holders.
            written = self.authz.can_act_on(subject, "iam:createpolicyversion", policy_arn) if create else None
            swapped = (
                self.authz.can_act_on(subject, "iam:setdefaultpolicyversion", policy_arn)
                if swap and not written
                else None
            )
            if not written and not swapped:
                continue
            for target in others[:5]:
                if written:
                    if not self.graph.admin_if_granted(target).possible:
                        continue
                    how = (
                        f"write a new default version of {name}, held by {target.type} {target.name} "
                        "(CreatePolicyVersion)"
                    )
                    return [self._grant_spec(p, "CreatePolicyVersion", how, "iam:createpolicyversion", target, written)]
                # A stored version that would make the holder admin first: most policies keep none but the default.
                version = stored_admin_version(self.graph, target, policy_arn)
                if version and self.graph.admin_if_granted(target).possible:
                    how = (
                        f"make version {version} of {name}, held by {target.type} {target.name}, the default again "
                        "(SetDefaultPolicyVersion)"
                    )
                    return [
                        self._grant_spec(
                            p, "SetDefaultPolicyVersion", how, "iam:setdefaultpolicyversion", target, swapped
                        )
                    ]
        return []

    def _latent_specs(self, p: Principal) -> list[Spec]:
        """Escalation methods it holds with no target today, on resource patterns that cover resources created
        later: what would complete each is named (a role trusting the service with more rights, ...)."""
        from audits.iam.latent import latent_methods

        found = latent_methods(self.graph, p)
        if not found:
            return []
        first = found[0]
        conditions = [c.to_dict() for c in first.proof.conditions]
        more = f" Also: {_shown([f.method for f in found[1:]])}." if len(found) > 1 else ""
        return [
            Spec(
                "principal_latent_escalation",
                "",
                "",
                f"Holds an escalation method with no target today: {first.how} ({first.method}). Nothing in the "
                f"account completes it now; it escalates as soon as there is {first.completes}.{more}",
                {
                    "method": first.method,
                    "how": first.how,
                    "actions": [ds.display(a) for a in first.actions],
                    "completes": first.completes,
                    "pattern": first.pattern,
                    "target_kind": "latent",
                    "statements": display_refs(p, first.proof.statements)[:10],
                    "conditions": conditions,
                    "methods": [{"method": f.method, "completes": f.completes} for f in found[:10]],
                },
                bool(conditions),
                None,
                f"Holds a latent escalation method ({first.method})",
            )
        ]

    def _grant_spec(self, p: Principal, method: str, how: str, action: str, target: Principal, decision) -> Spec:
        conditions = [c.to_dict() for c in decision.conditions]
        only = (" Only when: " + "; ".join(c["text"] for c in conditions) + ".") if conditions else ""
        return Spec(
            "principal_grants_admin",
            "",
            "",
            f"Can make {target.type} {target.name} an administrator without becoming one itself: {how}.{only}",
            {
                "method": method,
                "how": how,
                "actions": [ds.display(action)],
                "target": target.arn,
                "target_kind": "grants admin to others",
                "path": [
                    {"from": p.arn, "to": target.arn, "method": method, "via": target.arn, "conditions": conditions}
                ],
                "statements": display_refs(p, decision.allowing),
                "conditions": conditions,
            },
            bool(conditions),
            "high",
            "Can grant administrator rights to other principals",
        )

    def _refs(self, esc: Escalation) -> list[StatementRef]:
        """The granting statements along the way, each labelled with the principal whose policy it is."""
        nodes = self.graph.nodes
        refs = [r for e in esc.path for r in display_refs(nodes.get(e.source), e.proof.statements)]
        tail = self.graph.admin_proofs.get(esc.target)
        if tail is not None:
            refs += display_refs(nodes.get(esc.target), tail.statements)
        return unique_refs(refs)[:10]

    def _escalation_spec(self, p: Principal, esc: Escalation, refs: list[StatementRef], conditions: list[dict]) -> Spec:
        chain = [f"{p.type} {p.name}"]
        for e in esc.path:
            node = self.graph.nodes.get(e.target)
            target = f"{node.type} {node.name}" if node is not None else e.target
            via = f" on {e.via.rsplit('/', 1)[-1]}" if e.via and e.via != e.target else ""
            chain.append(f"-[{e.method}{via}]-> {'itself' if e.target == p.arn else target}")
        text = " ".join(chain) + " (administrator)"
        first = esc.path[0]
        notes = sorted({e.note for e in esc.path if e.note})
        evidence = {
            "method": esc.method,
            "how": first.how,
            "path": [e.hop() for e in esc.path],
            "statements": refs,
            "conditions": conditions,
            "actions": list(dict.fromkeys(a for e in esc.path for a in e.display_actions())),
            "target": esc.target,
            "target_kind": "admin",
            "hops": esc.hops,
        }
        if notes:
            evidence["notes"] = notes
        detail = f"Can reach administrator rights in {esc.hops} hop(s): {text}." + (
            " " + " ".join(n[0].upper() + n[1:] + "." for n in notes) if notes else ""
        )
        return Spec(
            "principal_privilege_escalation",
            "",
            "",
            detail,
            evidence,
            bool(conditions),
            None,
            f"Can escalate to administrator via {esc.method}",
        )

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
                specs.append(
                    Spec(
                        check,
                        "",
                        "",
                        f"Role {what}.",
                        {"last_used": last, "create_date": p.entry.get("CreateDate"), "days": idle},
                    )
                )
        if p.type == "user":
            row = self._report_row(p)
            if row is not None:
                user = credentials.user_specs(row, self.now)
                if admin:
                    user = [
                        s._replace(check_id="admin_without_mfa")
                        if s.check_id == "console_user_without_mfa"
                        else s._replace(check_id="dormant_admin", severity=None)
                        if s.check_id == "inactive_user"
                        else s
                        for s in user
                    ]
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
        specs.extend(self._external_access_specs())
        return specs

    def _external_access_specs(self) -> list[Spec]:
        """Access from outside through resource policies; Block Public Access and RCPs applied first."""
        snap = self.snapshot
        if not getattr(snap, "resources", None):
            return []
        from audits.iam import external_access  # only for bundles with resource policies

        specs = []
        found = external_access.analyse(
            snap.resources, self.account_id, snap.organization, self.now, snap.account_block_public_access
        )
        for access in found:
            if access.blocked_by_bpa:
                continue  # S3 Block Public Access admits only this account's principals and AWS services
            resource = access.resource
            limits = external_access.limiting(access.conditions)
            conditions = [c.to_dict() for c in access.conditions]
            only = (" Only when: " + "; ".join(c["text"] for c in conditions) + ".") if conditions else ""
            actions = ", ".join(access.actions)
            if access.who == "public":
                check, detail = (
                    "resource_public_access",
                    f"Anyone can {actions} on {resource['type']} {resource['name']}.{only}",
                )
            elif access.who == "account":
                check, detail = (
                    "resource_external_account_access",
                    f"Account {access.principal}, outside the "
                    f"organization, can {actions} on {resource['type']} {resource['name']}.{only}",
                )
            else:
                check, detail = (
                    "resource_service_confused_deputy",
                    f"{access.principal} can {actions} on "
                    f"{resource['type']} {resource['name']} on behalf of any account (no aws:SourceArn or "
                    f"aws:SourceAccount).{only}",
                )
            evidence = {
                "resource": {k: resource.get(k) for k in ("type", "arn", "name", "region")},
                "principal": access.principal,
                "actions": list(access.actions),
                "statements": list(access.statements),
                "conditions": conditions,
            }
            severity = None
            if conditions:
                # Limited by conditions the audit cannot decide: still open to some outsiders, rated lower.
                severity = "medium" if limits else "high"
                if CHECKS[check].severity in ("medium", "low"):
                    severity = "low"
            specs.append(
                Spec(
                    check,
                    resource["arn"],
                    f"{access.who}:{access.principal}",
                    detail,
                    evidence,
                    bool(conditions),
                    severity,
                )
            )
        return specs


def _cancel_reason(holder: Principal, decision, action: str, subject=None) -> str:
    shown = action if " " in action else ds.display(action)
    if decision.denying:
        ref = decision.denying[0]
        sid = f" (statement {ref['sid']})" if ref.get("sid") else ""
        return f"{shown} is denied to {holder.name} by a Deny in {_policy_name(ref.get('policy', ''))}{sid}"
    reason = getattr(decision, "reason", "") or ""
    if "boundary" in reason:
        return f"{shown} is outside {holder.name}'s permissions boundary {_policy_name(holder.boundary or '')}"
    if reason.startswith(("scp", "rcp")) or " scp " in reason:
        return f"{shown} is not allowed to {holder.name}: {reason}"
    # An identity Allow for the action that exists but whose condition never holds for this holder.
    conditioned = [
        st
        for st in (subject.identity if subject is not None and " " not in action else ())
        if st.effect == "Allow" and st.matches_action(action) and isinstance(st.raw, dict) and "Condition" in st.raw
    ]
    if conditioned:
        policy = _policy_name(str(conditioned[0].source).rsplit(":inline/", 1)[-1])
        return f"{shown} for {holder.name} hangs on a condition of {policy} that cannot hold"
    why = reason or "no statement allows it"
    return f"{shown} is refused to {holder.name} on every resource its policies name ({why})"


def _policy_name(label: str) -> str:
    return label.rsplit("/", 1)[-1] if label.startswith("arn:") else label


def _deny_shapes(denies: list | None) -> frozenset | None:
    """What the broad-grant notes read of a holder's Denies (hygiene.Grants): the actions each names, whether it
    is conditioned and whether it covers every resource; None: the policy's own Denies."""
    if denies is None:
        return None
    return frozenset((d.actions, d.not_action, bool(d.conditions), hygiene.on_everything(d)) for d in denies)


def _deny_only(document: object) -> bool:
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        return False  # none, or not a policy's statements (the snapshot loader refuses those)
    return bool(statements) and all(isinstance(s, dict) and s.get("Effect") == "Deny" for s in statements)


def _names(arns: list[str], limit: int = 5) -> str:
    shown = ", ".join(a.split(":", 5)[-1] for a in arns[:limit])
    return shown + (f" (+{len(arns) - limit} more)" if len(arns) > limit else "")


def _shown(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")


def _grants_all(ref: StatementRef) -> bool:
    statement = found if isinstance(found := ref.get("statement"), dict) else {}
    actions = statement.get("Action")
    return any(str(a).strip() in ("*", "*:*") for a in (actions if isinstance(actions, list) else [actions]))


def _last_used_date(role: Principal) -> object:
    last_used = role.entry.get("RoleLastUsed")
    return last_used.get("LastUsedDate") if isinstance(last_used, dict) else None
