"""Proven fixes: a change set computed from the account, applied by the what-if, and kept only when the finding is gone.

    plan_fix(snapshot, finding, analysis=None) -> FixPlan | None
    plan_account(snapshot, findings, analysis=None) -> CombinedPlan   (every admin and escalation fix as one plan)

The engine is its own oracle. A round applies the change set so far to the snapshot (audits.iam.whatif), analyses
the account again (audits.iam.incremental: what the change cannot affect is taken from the analysis before it; the
answer is a fresh analysis's) and asks whether the finding's risk is still on its principal; if it is, the next round
cuts what the new analysis shows (another path's first hop, the next source of admin rights), until it is gone or no
cut is left. So the fix cuts every path, not only the one the finding printed, and a fix that would not work is
never shown as verified.

Cuts, least collateral first:
- an escalation path: a Deny of exactly the first hop's actions on the hop's resource, in one inline policy on the
  principal itself (nobody else loses anything), which also denies the principal deleting that policy;
- administrator rights: the admin statements removed from the policy that grants them (other statements kept), or
  the AWS-managed policy detached, or the user taken out of the group that grants them;
- a customer-managed policy that grants admin: a new default version without the admin statements, the older
  versions that grant it deleted (so SetDefaultPolicyVersion cannot bring them back).
Side effects are measured, not guessed: principals that lose admin or escalation besides the finding's own, and the
findings the change would create, from the same two analyses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from audits.iam import actions as ds
from audits.iam import changeset, incremental
from audits.iam.account import dicts_of, is_aws_managed
from audits.iam.analysis import Analysis
from audits.iam.finding_types import Finding, Fix
from audits.iam.whatif import MAX_POLICY_VERSIONS, apply_ops

FENCE_POLICY = "aegis-deny-escalation"
# Fixes are proven by default for accounts up to this many users and roles (on the bench's synthetic accounts the
# proofs add 0.5-0.9x the audit's time up to 5,000 and 1.1-1.3x at 10,000, about 4 s; bench/engine.py); past it each
# fix is its first cut, marked not verified. The worker reads AEGIS_VERIFY_FIXES_MAX_PRINCIPALS from the settings, the
# CLI from the environment, both defaulting to this.
VERIFY_MAX_PRINCIPALS = 10_000
MAX_ROUNDS = 12
ROUNDS_KEPT = 4  # analyses after a change set kept per analysis before it, for a finding that gets the same one
KEEP_PASSABLE = 20  # roles a PassRole limit lists by name (a user's inline policies share 2,048 characters)
BROAD_AFTER = 4  # path cuts before the fence takes every escalation action the principal holds
ESCALATION = frozenset({"principal_privilege_escalation", "principal_grants_admin"})
# Cutting a path must not leave the principal a way up on resources created later: the latent form goes too.
ESCALATION_FAMILY = ESCALATION | {"principal_latent_escalation"}
PRINCIPAL_ADMIN = frozenset({"user_admin_access", "role_admin_access", "dormant_admin"})
GROUP_ADMIN = frozenset({"group_admin_access"})
POLICY_ADMIN = frozenset({"policy_admin_access"})
HANDLED = ESCALATION | PRINCIPAL_ADMIN | GROUP_ADMIN | POLICY_ADMIN
_KIND = {"user": "User", "role": "Role", "group": "Group"}
_NAME_KEY = {"user": "UserName", "role": "RoleName", "group": "GroupName"}
_VERSION = "2012-10-17"
# IAM's size limits, in characters without whitespace: a user's inline policies together, a role's, a group's.
INLINE_LIMITS = {"user": 2048, "role": 10240, "group": 5120}


@dataclass
class FixPlan:
    ops: list[dict]
    summary: str
    verified: bool
    rounds: int
    removes: list[str] = field(default_factory=list)  # what the principal (or policy) loses: the risk itself
    side_effects: list[str] = field(default_factory=list)  # what anyone else loses, or keeps losing beyond the path
    new_findings: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Changes only the account owner can make outside IAM (an Identity Center permission set), with the values
    # only they know left as <placeholders>: never part of a verified fix.
    owner_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> Fix:
        return {
            "ops": self.ops,
            "cli": changeset.cli_lines(self.ops),
            "terraform": changeset.terraform(self.ops),
            "summary": self.summary,
            "verified": self.verified,
            "rounds": self.rounds,
            "removes": self.removes,
            "side_effects": self.side_effects,
            "new_findings": self.new_findings,
            "errors": self.errors,
            "owner_steps": self.owner_steps,
        }


def proves_fixes(snapshot: Any, limit: int) -> bool:
    """Whether an audit of this snapshot proves its fixes by default: at most `limit` users and roles."""
    return len(snapshot.users) + len(snapshot.roles) <= limit


def plan_fix(
    snapshot: Any, finding: Finding, analysis: Analysis | None = None, *, verify: bool = True
) -> FixPlan | None:
    """verify=False: the first cut only, from the analysis at hand, marked not verified (no second analysis)."""
    check = finding.get("check_id")
    if check not in HANDLED:
        return None
    before = analysis or Analysis(snapshot)
    target = finding.get("principal_arn", "")
    plan = _Plan(snapshot, finding)
    current = before
    if not verify:
        plan.extend(current, target)
        return plan.finish(before, current, verified=False, rounds=0)
    for rounds in range(1, MAX_ROUNDS + 1):
        if not plan.extend(current, target):
            return plan.finish(before, current, verified=False, rounds=rounds)
        outcome, after = _round(snapshot, before, plan.ops())
        if outcome.errors:
            plan.errors = [f"{e.operation}: {e.code}: {e.message}" for e in outcome.errors]
            return plan.finish(before, current, verified=False, rounds=rounds)
        current = after
        if not _still_there(current, finding):
            return plan.finish(before, current, verified=True, rounds=rounds)
    return plan.finish(before, current, verified=False, rounds=MAX_ROUNDS)


def _passable(analysis: Analysis, pattern: str) -> int:
    """How many roles the pattern covers that are not and cannot become administrator (once per analysis)."""
    counts: dict[str, int] = analysis.__dict__.setdefault("_passable", {})
    if pattern not in counts:
        covered = analysis.account.role_arns_matching_set(pattern)
        counts[pattern] = len(covered) - sum(a in covered for a in analysis.graph.escalations)
    return counts[pattern]


def _round(snapshot: Any, before: Analysis, ops: list[dict]) -> tuple[Any, Analysis]:
    """The what-if of these ops and the analysis after it. Findings of one principal often get the same change set
    (a dormant administrator's fix is its admin fix), so the last few rounds on `before` are kept by their ops."""
    kept: dict[str, tuple[Any, Analysis]] = before.__dict__.setdefault("_proof_rounds", {})
    key = f"{id(snapshot)} {json.dumps(ops, sort_keys=True, default=str)}"
    found = kept.pop(key, None)
    if found is None:
        outcome = apply_ops(snapshot, ops)
        found = (outcome, _after(before, outcome))
    kept[key] = found
    while len(kept) > ROUNDS_KEPT:
        del kept[next(iter(kept))]
    return found


def _after(before: Analysis, outcome: Any) -> Analysis:
    """The analysis after a round's change set; its findings are read for their checks and evidence, never for
    their fixes, so none are written."""
    analysis = incremental.after(before, outcome)
    analysis.fixes = False
    return analysis


def as_fix(plan: FixPlan, fallback: Fix) -> Fix:
    """The finding's "fix": the change set and its renderings, the proof, and the documentation links of the
    check's own fix (audits.iam.remediation); the policy shown is the one the change writes."""
    out: Fix = {**fallback, **plan.to_dict()}
    written = [op.get("PolicyDocument") for op in plan.ops if isinstance(op.get("PolicyDocument"), dict)]
    out["policy"] = written[-1] if written else None
    if not plan.ops:
        out["cli"] = []
        out["terraform"] = ""
    return out


def _still_there(analysis: Analysis, finding: Finding, seen: dict[str, list[Finding]] | None = None) -> bool:
    """The risk is still on the principal: the same check, or (after admin rights go) a new way back to admin.
    `seen` keeps each principal's findings for the next finding on the same principal (plan_account)."""
    principal = _principal(analysis, finding["principal_arn"], finding.get("principal_type", ""))
    if principal is None:
        return False
    if principal.type == "policy" and principal.arn not in {p.arn for p in analysis.policy_principals()}:
        return False  # the audit no longer looks at it (an AWS-managed policy attached to nothing)
    checks = {finding["check_id"]}
    if finding["check_id"] in PRINCIPAL_ADMIN:
        checks |= {"principal_privilege_escalation"}
    if finding["check_id"] in ESCALATION:
        checks |= ESCALATION_FAMILY
    if seen is None:
        return any(f["check_id"] in checks for f in analysis.findings(principal))
    if principal.arn not in seen:
        seen[principal.arn] = analysis.findings(principal)
    return any(f["check_id"] in checks for f in seen[principal.arn])


def _principal(analysis: Analysis, arn: str, kind: str):
    if kind == "policy" or ":policy/" in arn:
        return analysis.account.managed_policy_principal(arn) if arn in analysis.account.policies else None
    return analysis.account.by_arn.get(arn)


class _Plan:
    def __init__(self, snapshot: Any, finding: Mapping[str, Any]) -> None:
        self.snapshot = snapshot
        self.finding = finding
        self.removals: list[dict] = []  # detach, leave a group, rewrite or delete a policy
        self.fence: list[dict] = []  # Deny statements for the principal's own inline fence policy
        self.fenced_kind = ""
        self.fenced_name = ""
        self.fenced_arn = ""
        self.removes: list[str] = []
        self.errors: list[str] = []
        self.owner_steps: list[str] = []
        self.cuts = 0
        self.broad = False
        self.rewritten: dict[tuple, dict] = {}  # (kind, holder, policy) -> the op that rewrites it

    def ops(self) -> list[dict]:
        ops = [*self.removals]
        if not self.fence:
            return ops
        document = {"Version": _VERSION, "Statement": self.fence}
        kind, key = _KIND[self.fenced_kind], _NAME_KEY[self.fenced_kind]
        if _size(document) <= INLINE_LIMITS[self.fenced_kind]:
            ops.append({"Operation": f"Put{kind}Policy", key: self.fenced_name, "PolicyName": FENCE_POLICY,
                        "PolicyDocument": document})  # fmt: skip
            return ops
        # Over IAM's inline size for this kind (a user's inline policies share 2,048 characters): a customer-managed
        # policy of its own, attached to the principal, which the principal may neither detach nor rewrite.
        account = self.fenced_arn.split(":")[4]
        name = f"{FENCE_POLICY}-{self.fenced_name}"[:128]
        arn = f"arn:aws:iam::{account}:policy/{name}"
        guard = {
            "Sid": "AegisKeepThisFenceAttached",
            "Effect": "Deny",
            "Action": [
                f"iam:Detach{kind}Policy",
                "iam:CreatePolicyVersion",
                "iam:SetDefaultPolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
            ],
            "Resource": [self.fenced_arn, arn],
        }
        managed = {"Version": _VERSION, "Statement": [*self.fence, guard]}
        ops.append({"Operation": "CreatePolicy", "PolicyName": name, "Path": "/", "PolicyDocument": managed})
        ops.append({"Operation": f"Attach{kind}Policy", key: self.fenced_name, "PolicyArn": arn})
        return ops

    # --- one round's cut -----------------------------------------------------------------------------------------

    def extend(self, analysis: Analysis, arn: str) -> bool:
        """Add the next cut the analysis shows; False when there is nothing left to cut."""
        check = self.finding["check_id"]
        principal = _principal(analysis, arn, self.finding.get("principal_type", ""))
        if principal is None:
            return False
        if check in POLICY_ADMIN:
            return self._policy_admin(analysis, principal)
        if check in GROUP_ADMIN or (check in PRINCIPAL_ADMIN and arn in analysis.admins):
            return self._admin_sources(analysis, principal)
        return self._fence_path(analysis, principal)

    def _fence_path(self, analysis: Analysis, principal) -> bool:
        if self.cuts >= BROAD_AFTER and not self.broad:
            # A principal with this many ways up holds the escalation actions themselves, not one stray grant:
            # one Deny of every such action it holds, on every resource, instead of a cut per path.
            self.broad = True
            held = _escalation_actions_held(analysis, principal)
            if held:
                return self._deny(principal, held, "*", "every escalation method it holds")
        route = analysis.graph.escalations.get(principal.arn)
        edges = list(route.path) if route is not None and route.path else []
        if not edges and self.finding["check_id"] in ESCALATION:
            edges = _grant_edges(analysis, principal)
        if not edges and self.finding["check_id"] in ESCALATION:
            return self._latent_cut(analysis, principal)
        if not edges:
            return False
        edge = edges[0]
        added = False
        for actions, resource in _cuts(edge):
            added |= self._deny(principal, actions, resource, edge.method)
        self.cuts += added
        if added and self.cuts == 1 and self.finding["check_id"] in ESCALATION:
            # Cutting the path leaves the same method latent when its grant also covers resources created later
            # (the analysis would show it next round): cut that too now, and spare the proof a round.
            self._latent_ahead(analysis, principal)
        return added

    def _latent_ahead(self, analysis: Analysis, principal) -> None:
        from audits.iam.latent import latent_methods

        found = latent_methods(analysis.graph, principal)
        if not found:
            return
        first = found[0]
        action = ds.display(first.actions[0])
        if any(s.get("Action") == [action] and s.get("Resource") == "*" for s in self.fence):
            return  # the path's cut already denies it everywhere
        self._cut_latent([ds.display(a) for a in first.actions], first.pattern, first.method, analysis, principal)

    def _latent_cut(self, analysis: Analysis, principal) -> bool:
        """A method with no target today: its first action stays on what exists now and is denied on anything
        created later (passing a role: every role but those it may pass today that lead nowhere)."""
        found = next((f for f in analysis.findings(principal) if f["check_id"] == "principal_latent_escalation"), None)
        if found is None:
            return False
        evidence = found.get("evidence") or {}
        actions = [a for a in evidence.get("actions") or () if a]
        pattern, method = evidence.get("pattern") or "*", evidence.get("method", "")
        return self._cut_latent(actions, pattern, method, analysis, principal)

    def _cut_latent(self, actions: list[str], pattern: str, method: str, analysis: Analysis, principal) -> bool:
        if not actions:
            return False
        first = actions[0]
        if first.lower() == "iam:passrole":
            # Roles that are or can become administrator are the risk itself: never among those kept.
            leading = analysis.graph.escalations
            matching = analysis.account.role_arns_matching(pattern)
            today = list(islice((a for a in matching if a not in leading), KEEP_PASSABLE))
            passable = _passable(analysis, pattern)
            if today:
                statement = {"Effect": "Deny", "Action": ["iam:PassRole"], "NotResource": today}
                if any(s.get("NotResource") == today for s in self.fence):
                    return False
                self._start_fence(principal)
                self.fence.append({"Sid": f"AegisDeny{len(self.fence)}", **statement})
                kept = (
                    f"the {len(today)} role(s) it can pass today"
                    if len(today) == passable
                    else f"{len(today)} of the {passable} roles it can pass today (the first by ARN: list the ones it "
                    "needs instead)"
                )
                self.removes.append(f"{principal.name} may pass only {kept} ({method})")
                self.cuts += 1
                return True
        added = self._deny(principal, [first], pattern, method)
        self.cuts += added
        return added

    def _start_fence(self, principal) -> None:
        if self.fence:
            return
        self.fenced_kind, self.fenced_name, self.fenced_arn = principal.type, principal.name, principal.arn
        # The fence must outlive the principal's own wishes: it may not delete or rewrite it.
        kind = _KIND[principal.type]
        self.fence.append(
            {
                "Sid": "AegisKeepThisFence",
                "Effect": "Deny",
                "Action": [f"iam:Delete{kind}Policy", f"iam:Put{kind}Policy"],
                "Resource": principal.arn,
            }
        )
        self.removes.append(f"{principal.name} may no longer write or delete its own inline policies")

    def _deny(self, principal, actions: list[str], resource: str, method: str) -> bool:
        """One Deny statement in the fence; an action cut again on another resource is cut everywhere instead
        (a principal that can write the policies of many roles loses that write, not one role at a time)."""
        self._start_fence(principal)
        for statement in self.fence[1:]:
            if statement["Action"] == actions and "Resource" in statement:
                if statement["Resource"] in (resource, "*"):
                    return False  # the same cut again: it did not hold, and repeating it cannot help
                statement["Resource"] = "*"
                self.removes.append(f"{principal.name} may no longer {', '.join(actions)} on any resource ({method})")
                return True
        self.fence.append(
            {"Sid": f"AegisDeny{len(self.fence)}", "Effect": "Deny", "Action": actions, "Resource": resource}
        )
        where = f" on {resource}" if resource != "*" else " on any resource"
        self.removes.append(f"{principal.name} may no longer {', '.join(actions)}{where} ({method})")
        return True

    def _admin_sources(self, analysis: Analysis, principal) -> bool:
        if _protected(principal):
            return self._owner_step(principal)
        account = analysis.account
        holders = [principal, *account.member_groups(principal)] if principal.type == "user" else [principal]
        changed = False
        for holder in holders:
            for arn in holder.managed:
                if not _grants_admin(_managed_document(account, arn)):
                    continue
                if holder is principal or principal.type == "group":
                    self._add(
                        {
                            "Operation": f"Detach{_KIND[holder.type]}Policy",
                            _NAME_KEY[holder.type]: holder.name,
                            "PolicyArn": arn,
                        }
                    )
                    self.removes.append(f"{holder.name} no longer holds {arn.rsplit('/', 1)[-1]}")
                else:
                    changed |= self._leave(principal, holder)
                    continue
                changed = True
            for name, document in holder.inline:
                if not _grants_admin(document):
                    continue
                if holder is principal or principal.type == "group":
                    changed |= self._rewrite_inline(holder, name, document)
                else:
                    changed |= self._leave(principal, holder)
        return changed

    def _owner_step(self, role) -> bool:
        """AWS protects IAM Identity Center's roles and service-linked roles: IAM refuses every change to them
        (UnmodifiableEntity). The change belongs to the permission set that made the role."""
        if role.arn in "".join(self.owner_steps):
            return False
        set_name = role.name.removeprefix("AWSReservedSSO_").rsplit("_", 1)[0]
        policies = " ".join(role.managed) or "<policy-arn>"
        self.owner_steps.append(
            f"{role.arn} is protected by AWS and cannot be changed through IAM. Change the IAM Identity Center "
            f"permission set {set_name!r} instead: aws sso-admin detach-managed-policy-from-permission-set "
            f"--instance-arn <instance-arn> --permission-set-arn <permission-set-arn> --managed-policy-arn {policies}, "
            "then aws sso-admin provision-permission-set for the accounts it is assigned to."
        )
        return False

    def _leave(self, user, group) -> bool:
        op = {"Operation": "RemoveUserFromGroup", "GroupName": group.name, "UserName": user.name}
        if op in self.removals:
            return False
        self.removals.append(op)
        self.removes.append(f"{user.name} leaves group {group.name} (and every permission the group gives)")
        return True

    def _rewrite_inline(self, holder, name: str, document: Any) -> bool:
        kept = [s for s in _statements(document) if not _admin_statement(s)]
        key = _NAME_KEY[holder.type]
        if kept:
            op = {
                "Operation": f"Put{_KIND[holder.type]}Policy",
                key: holder.name,
                "PolicyName": name,
                "PolicyDocument": {**document, "Statement": kept},
            }
            self.removes.append(f"{holder.name}'s inline policy {name} loses its admin statement(s); the rest is kept")
        else:
            op = {"Operation": f"Delete{_KIND[holder.type]}Policy", key: holder.name, "PolicyName": name}
            self.removes.append(f"{holder.name}'s inline policy {name}, which only grants admin, is deleted")
        return self._add(op)

    def _policy_admin(self, analysis: Analysis, policy) -> bool:
        arn = policy.arn
        entry = analysis.account.policies.get(arn) or {}
        if policy.type != "policy":  # an inline policy, named by the finding
            document = dict(policy.inline).get(self.finding.get("policy", ""))
            if document is None or not _grants_admin(document):
                return False
            return self._rewrite_inline(policy, self.finding["policy"], document)
        if is_aws_managed(arn):
            changed = False
            for holder in analysis.account.attachments.get(arn, []):
                if _protected(holder):
                    self._owner_step(holder)
                    continue
                changed |= self._add(
                    {
                        "Operation": f"Detach{_KIND[holder.type]}Policy",
                        _NAME_KEY[holder.type]: holder.name,
                        "PolicyArn": arn,
                    }
                )
                self.removes.append(f"{holder.name} no longer holds {policy.name}")
            return changed
        versions = dicts_of(entry.get("PolicyVersionList"))
        default = next((v for v in versions if v.get("IsDefaultVersion")), versions[0] if versions else None)
        if default is None or any(op["Operation"] == "CreatePolicyVersion" for op in self.removals):
            return self._remove_policy(analysis, policy, versions)
        document = default.get("Document")
        kept = [s for s in _statements(document) if not _admin_statement(s)]
        if not kept or not isinstance(document, dict):  # statements come only from a dict document
            return self._remove_policy(analysis, policy, versions)
        stale = [v for v in versions if not v.get("IsDefaultVersion")]
        # Older versions that grant admin go (SetDefaultPolicyVersion would restore them); and room for the new one.
        doomed = [v for v in stale if _grants_admin(v.get("Document"))]
        room = len(versions) - len(doomed) - (MAX_POLICY_VERSIONS - 1)
        doomed += [v for v in stale if v not in doomed][: max(0, room)]
        for version in doomed:
            self._add({"Operation": "DeletePolicyVersion", "PolicyArn": arn, "VersionId": version.get("VersionId")})
        self._add(
            {
                "Operation": "CreatePolicyVersion",
                "PolicyArn": arn,
                "PolicyDocument": {**document, "Statement": kept},
                "SetAsDefault": True,
            }
        )
        self.removes.append(f"{policy.name} loses its admin statement(s); its other {len(kept)} statement(s) are kept")
        return True

    def _remove_policy(self, analysis: Analysis, policy, versions: list[dict]) -> bool:
        """A policy that only grants admin: detached from every holder, its other versions deleted, then itself."""
        if any(op["Operation"] == "DeletePolicy" for op in self.removals):
            return False
        self.removals = [op for op in self.removals if op.get("PolicyArn") != policy.arn]
        for holder in analysis.account.attachments.get(policy.arn, []):
            self._add(
                {
                    "Operation": f"Detach{_KIND[holder.type]}Policy",
                    _NAME_KEY[holder.type]: holder.name,
                    "PolicyArn": policy.arn,
                }
            )
        for version in versions:
            if not version.get("IsDefaultVersion"):
                self._add(
                    {"Operation": "DeletePolicyVersion", "PolicyArn": policy.arn, "VersionId": version.get("VersionId")}
                )
        self._add({"Operation": "DeletePolicy", "PolicyArn": policy.arn})
        self.removes.append(f"{policy.name} only grants admin: detached from its holders and deleted")
        return True

    def _add(self, op: dict) -> bool:
        if op in self.removals:
            return False
        self.removals.append(op)
        return True

    # --- the answer ------------------------------------------------------------------------------------------------

    def finish(self, before: Analysis, after: Analysis, *, verified: bool, rounds: int) -> FixPlan:
        ops = self.ops()
        side, new = _differences(before, after, self.finding) if ops and after is not before else ([], [])
        return FixPlan(
            ops=ops,
            summary=_summary(self.finding, verified, ops, bool(self.owner_steps), rounds),
            verified=verified and not self.errors,
            rounds=rounds,
            removes=list(dict.fromkeys(self.removes)),
            side_effects=side,
            new_findings=new,
            errors=self.errors,
            owner_steps=self.owner_steps,
        )


def _escalation_actions_held(analysis: Analysis, principal) -> list[str]:
    """The escalation methods' actions (changing IAM, passing roles, taking over what runs as a role) that the
    principal's policies allow anywhere. Assuming roles stays: those hops are cut role by role."""
    from audits.iam.graph import INDEXED, MODIFY_ACTIONS, SELF_ACTIONS

    subject = analysis.graph.subject(principal)
    wanted = sorted({*SELF_ACTIONS, *MODIFY_ACTIONS, *INDEXED} - {"sts:assumerole"})
    return sorted({ds.display(a) for a in wanted if analysis.authz.patterns(subject, a)})


def _cuts(edge) -> list[tuple[list[str], str]]:
    """(actions, resource) pairs whose Deny takes this hop away. Passing the role is the hop of every PassRole
    method; an IAM or STS action acts on the hop's own resource; another service's action (a takeover of a
    function or stack the snapshot does not list) can only be denied on every resource."""
    shown = sorted(dict.fromkeys(edge.display_actions())) or ["*"]
    via = edge.via if edge.via.startswith("arn:") else "*"
    if "iam:PassRole" in shown:
        return [(["iam:PassRole"], via)]
    own = [a for a in shown if a.split(":", 1)[0] in ("iam", "sts") and _acts_on(a, via)]
    other = [a for a in shown if a not in own]
    return [(actions, resource) for actions, resource in ((own, via), (other, "*")) if actions]


def _acts_on(action: str, arn: str) -> bool:
    """Does this IAM or STS action take the hop's resource as its own? (CreatePolicyVersion acts on a policy,
    not on the user who holds it.)"""
    name = action.split(":", 1)[1]
    for noun, marker in (("PolicyVersion", ":policy/"), ("Policy", ":policy/"), ("User", ":user/"),
                         ("Role", ":role/"), ("Group", ":group/"), ("LoginProfile", ":user/"),
                         ("AccessKey", ":user/")):  # fmt: skip
        if name.endswith(noun) or name.startswith(("Create" + noun, "Delete" + noun, "Update" + noun)):
            if noun == "Policy" and name.endswith(("UserPolicy", "RolePolicy", "GroupPolicy")):
                continue  # PutUserPolicy and its kin act on the user, role or group
            return marker in arn
    return True


@dataclass(frozen=True)
class _Grant:
    """The hop of a principal_grants_admin finding, shaped like a graph edge for _cuts."""

    method: str
    via: str
    actions: tuple[str, ...]

    def display_actions(self) -> list[str]:
        return list(self.actions)


def _grant_edges(analysis: Analysis, principal) -> list:
    """How the principal makes another one administrator, as the analysis reports it now."""
    for f in analysis.findings(principal):
        if f["check_id"] == "principal_grants_admin":
            evidence = f.get("evidence") or {}
            return [
                _Grant(evidence.get("method", ""), evidence.get("target", ""), tuple(evidence.get("actions") or ()))
            ]
    return []


def _differences(before: Analysis, after: Analysis, finding: Mapping[str, Any]) -> tuple[list[str], list[dict]]:
    """Who else loses admin or escalation, and which findings the change creates."""
    own = finding["principal_arn"]
    side = []
    lost_admin = sorted(set(before.admins) - set(after.admins) - {own})
    lost_path = sorted(set(before.graph.escalations) - set(after.graph.escalations) - set(before.admins) - {own})
    if lost_admin:
        side.append("no longer administrator: " + ", ".join(a.rsplit("/", 1)[-1] for a in lost_admin[:10]))
    if lost_path:
        side.append("no longer able to escalate: " + ", ".join(a.rsplit("/", 1)[-1] for a in lost_path[:10]))
    touched = {own} | set(lost_admin) | set(lost_path)
    new, downgraded = [], []
    for arn in sorted(touched):
        old_p = _principal(before, arn, "")
        new_p = _principal(after, arn, "")
        if new_p is None:
            continue
        old = {f["fingerprint"] for f in before.findings(old_p)} if old_p is not None else set()
        for f in after.findings(new_p):
            if f["fingerprint"] in old:
                continue
            if arn in lost_path and arn != own and f["check_id"] == "principal_latent_escalation":
                # It escalated through what the fix takes away; what is left is the latent form of the same risk.
                downgraded.append(arn.rsplit("/", 1)[-1])
                continue
            new.append({k: f.get(k) for k in ("check_id", "severity", "principal_arn", "title")})
    if downgraded:
        side.append(
            "escalates no more, but keeps a latent method (a target created later would complete it): "
            + ", ".join(downgraded[:10])
            + (f" (+{len(downgraded) - 10} more)" if len(downgraded) > 10 else "")
        )
    return side, new


def _summary(finding: Mapping[str, Any], verified: bool, ops: list[dict], owner_steps: bool, rounds: int) -> str:
    name = finding.get("principal_name") or finding.get("principal_arn", "")
    if not ops and owner_steps:
        return f"No IAM change can cut this risk of {name}: AWS protects the role. The steps below are the owner's."
    if not ops:
        return f"No change set found that cuts this risk of {name}; review it by hand."
    if verified:
        state = "Verified: applied to the snapshot, the audit no longer finds it."
    elif rounds == 0:
        state = "Not verified yet: it cuts the path shown; other paths, if any, are not checked."
    else:
        state = "Not verified: applied to the snapshot, the audit still finds it."
    return f"{len(ops)} IAM change(s) for {name}. {state}"


# --- policy documents ------------------------------------------------------------------------------------------------


def _managed_document(account, arn: str) -> Any:
    return account.policy_document(arn)


def _statements(document: Any) -> list[dict]:
    if not isinstance(document, dict):
        return []
    return dicts_of(document.get("Statement"))


def _size(document: dict) -> int:
    """Characters as IAM counts them, whitespace excluded (compact JSON has whitespace only inside strings)."""
    text = json.dumps(document, separators=(",", ":"))
    return len(text) - sum(text.count(space) for space in " \t\n\r")


def _protected(principal) -> bool:
    path = str(principal.entry.get("Path", "")) if principal.type == "role" else ""
    return path.startswith(("/aws-reserved/", "/aws-service-role/"))


def _admin_statement(statement: dict) -> bool:
    """An Allow of every action ("*" or "*:*") on every resource: what makes a policy an administrator's."""
    if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
        return False
    actions = statement.get("Action")
    resources = statement.get("Resource")
    actions = actions if isinstance(actions, list) else [actions]
    resources = resources if isinstance(resources, list) else [resources]
    return any(a in ("*", "*:*") for a in actions) and "*" in resources


def _grants_admin(document: Any) -> bool:
    return any(_admin_statement(s) for s in _statements(document))


# --- one plan for many findings --------------------------------------------------------------------------------------

# Where admin comes from is cut first: an escalation whose target is no longer an administrator needs no cut of its own.
TIERS = (POLICY_ADMIN, GROUP_ADMIN, PRINCIPAL_ADMIN, ESCALATION)
_FENCE_KEEP = "AegisKeepThisFence"
_FENCE_GUARD = "AegisKeepThisFenceAttached"


@dataclass
class CombinedPlan:
    ops: list[dict]
    targets: list[Finding]  # every admin and escalation finding the plan must remove
    gone: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    outside_iam: list[Finding] = field(default_factory=list)  # left: no IAM change can cut them (owner_steps can)
    owner_steps: list[str] = field(default_factory=list)
    separate_ops: int = 0  # the sum of the findings' own fixes, one by one
    rounds: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every admin and escalation finding is gone after the plan."""
        return not self.remaining and not self.outside_iam and not self.errors

    def to_dict(self) -> dict:
        return {
            "ops": self.ops,
            "cli": changeset.cli_lines(self.ops),
            "terraform": changeset.terraform(self.ops),
            "operations": len(self.ops),
            "separate_operations": self.separate_ops,
            "findings": len(self.targets),
            "gone": [_brief(f) for f in self.gone],
            "remaining": [_brief(f) for f in self.remaining],
            "outside_iam": [_brief(f) for f in self.outside_iam],
            "owner_steps": self.owner_steps,
            "complete": self.complete,
            "rounds": self.rounds,
            "errors": self.errors,
        }


def plan_account(snapshot: Any, findings: list[Finding], analysis: Analysis | None = None) -> CombinedPlan:
    """One change set for every admin and escalation finding: the findings' own fixes merged (one fence policy per
    principal, removals once, one rewrite per policy), applied once and proven against a new analysis.

    Tier by tier (policies that grant admin, groups, principals, then escalations), only the fixes of findings still
    present after the tiers before are added; what is left after that gets a cut planned on the changed account,
    round by round, as plan_fix does for one finding."""
    before = analysis or Analysis(snapshot)
    targets = [f for f in findings if f.get("check_id") in HANDLED and f.get("principal_arn")]
    plan = CombinedPlan(ops=[], targets=targets)
    own = {id(f): _own_ops(snapshot, f, before) for f in targets}
    plan.separate_ops = sum(len(ops) for ops in own.values())
    pool: list[dict] = []
    current, changed = before, snapshot
    for tier in TIERS:
        seen: dict[str, list[Finding]] = {}
        present = [f for f in targets if f["check_id"] in tier and _still_there(current, f, seen)]
        if not present:
            continue
        for finding in present:
            pool.extend(own[id(finding)])
        plan.rounds += 1
        current, changed = _apply_merged(snapshot, pool, before, plan)
        if plan.errors:
            break
    while not plan.errors and plan.rounds < len(TIERS) + MAX_ROUNDS:
        seen = {}
        left = [f for f in targets if _still_there(current, f, seen)]
        if not left:
            break
        for finding in left:
            cut = plan_fix(changed, finding, current, verify=False)
            pool.extend(cut.ops if cut is not None else [])
        if merge_ops(pool, before) == plan.ops:
            break  # the cuts the analysis shows are already in the plan: nothing more to try
        plan.rounds += 1
        current, changed = _apply_merged(snapshot, pool, before, plan)
    seen = {}
    left = [f for f in targets if _still_there(current, f, seen)]
    plan.gone = [f for f in targets if f not in left]
    for finding in left:
        # AWS protects some roles (IAM Identity Center's, service-linked): only their owner can change them.
        last = plan_fix(changed, finding, current, verify=False)
        if last is not None and not last.ops and last.owner_steps:
            plan.outside_iam.append(finding)
            plan.owner_steps += [step for step in last.owner_steps if step not in plan.owner_steps]
        else:
            plan.remaining.append(finding)
    return plan


def _own_ops(snapshot: Any, finding: Finding, analysis: Analysis) -> list[dict]:
    """The fix the finding carries (what its page shows), else the first cut planned now."""
    ops = (finding.get("fix") or {}).get("ops")
    if isinstance(ops, list) and all(isinstance(op, dict) for op in ops):
        return ops
    planned = plan_fix(snapshot, finding, analysis, verify=False)
    return planned.ops if planned is not None else []


def _apply_merged(snapshot: Any, pool: list[dict], before: Analysis, plan: CombinedPlan) -> tuple[Analysis, Any]:
    plan.ops = merge_ops(pool, before)
    outcome = apply_ops(snapshot, plan.ops)
    plan.errors = [f"{e.operation}: {e.code}: {e.message}" for e in outcome.errors]
    return _after(before, outcome), outcome.snapshot


def merge_ops(ops: list[dict], analysis: Analysis) -> list[dict]:
    """Many fixes' operations as one change set: each principal's fence statements in one fence policy, the same
    operation once, a policy rewritten once (the statements every rewrite keeps), a policy that is deleted not also
    rewritten. Removals first, then rewrites, then the fences, then the deletions of whole policies."""
    fences: dict[tuple[str, str], list[dict]] = {}
    rewrites: dict[tuple, dict] = {}
    deleted_inline: set[tuple] = set()
    deleted_policies: set[str] = set()
    plain: dict[str, dict] = {}
    managed_fences = {
        f"arn:aws:iam::{_account_of(analysis)}:policy/{op['PolicyName']}": op
        for op in ops
        if op.get("Operation") == "CreatePolicy" and str(op.get("PolicyName", "")).startswith(f"{FENCE_POLICY}-")
    }
    for op in ops:
        name = str(op.get("Operation", ""))
        kind = next((k for k in _KIND.values() if name in (f"Put{k}Policy", f"Attach{k}Policy")), "")
        if kind and name.startswith("Put") and op.get("PolicyName") == FENCE_POLICY:
            _add_fence(fences, (kind, str(op.get(f"{kind}Name"))), op.get("PolicyDocument"))
        elif kind and name.startswith("Attach") and op.get("PolicyArn") in managed_fences:
            document = managed_fences[op["PolicyArn"]].get("PolicyDocument")
            _add_fence(fences, (kind, str(op.get(f"{kind}Name"))), document)
        elif op in managed_fences.values():
            continue  # taken in with its attachment, above
        elif kind and name.startswith("Put"):
            key: tuple = (kind, op.get(f"{kind}Name"), op.get("PolicyName"))
            rewrites[key] = _kept_by_both(rewrites.get(key), op)
        elif name == "CreatePolicyVersion":
            key = ("version", op.get("PolicyArn"))
            rewrites[key] = _kept_by_both(rewrites.get(key), op)
        else:
            if name.startswith("Delete") and name.endswith("Policy") and name != "DeletePolicy":
                kind = name.removeprefix("Delete").removesuffix("Policy")
                deleted_inline.add((kind, op.get(f"{kind}Name"), op.get("PolicyName")))
            if name == "DeletePolicy":
                deleted_policies.add(str(op.get("PolicyArn")))
            plain.setdefault(json.dumps(op, sort_keys=True, default=str), op)
    kept_rewrites = [
        op
        for key, op in rewrites.items()
        if key not in deleted_inline and not (key[0] == "version" and key[1] in deleted_policies)
    ]
    last = [op for op in plain.values() if op.get("Operation") == "DeletePolicy"]
    first = [op for op in plain.values() if op.get("Operation") != "DeletePolicy"]
    return [*first, *kept_rewrites, *_fence_ops(fences, analysis), *last]


def _account_of(analysis: Analysis) -> str:
    return str(getattr(analysis.account.snapshot, "account_id", "") or "")


def _add_fence(fences: dict[tuple[str, str], list[dict]], key: tuple[str, str], document: Any) -> None:
    statements = fences.setdefault(key, [])
    known = {_statement_key(s) for s in statements}
    for statement in _statements(document):
        if statement.get("Sid") in (_FENCE_KEEP, _FENCE_GUARD) or _statement_key(statement) in known:
            continue
        known.add(_statement_key(statement))
        statements.append(statement)


def _statement_key(statement: dict) -> str:
    return json.dumps({k: v for k, v in statement.items() if k != "Sid"}, sort_keys=True, default=str)


def _fence_ops(fences: dict[tuple[str, str], list[dict]], analysis: Analysis) -> list[dict]:
    """Each principal's merged Deny statements as one fence, written the way plan_fix writes one (inline within
    IAM's size limit, else a managed policy of its own)."""
    out: list[dict] = []
    for (kind, name), statements in fences.items():
        lower = kind.lower()
        principal = next(
            (p for p in (*analysis.account.users, *analysis.account.roles) if p.type == lower and p.name == name), None
        )
        if principal is None:
            continue  # a principal the account does not have: the single fixes could not have named it either
        kept = _widened(statements)
        writer = _Plan(analysis.account.snapshot, {})
        writer._start_fence(principal)
        writer.fence += [{**s, "Sid": f"AegisDeny{i}"} for i, s in enumerate(kept, 1)]
        out += writer.ops()
    return out


def _widened(statements: list[dict]) -> list[dict]:
    """plan_fix's rule across fixes: an action cut on two resources is cut on every resource, in one statement."""
    resources: dict[str, set[str]] = {}
    for statement in statements:
        if isinstance(statement.get("Resource"), str) and "Condition" not in statement:
            resources.setdefault(json.dumps(statement.get("Action"), sort_keys=True), set()).add(statement["Resource"])
    out: list[dict] = []
    widened: set[str] = set()
    for statement in statements:
        action = json.dumps(statement.get("Action"), sort_keys=True)
        if len(resources.get(action, ())) < 2 or "Condition" in statement or "Resource" not in statement:
            out.append(statement)
        elif action not in widened:
            widened.add(action)
            out.append({**statement, "Resource": "*"})
    return out


def _kept_by_both(earlier: dict | None, op: dict) -> dict:
    """Two rewrites of one policy: the statements both keep (each took away what it had to); an inline policy left
    with none is deleted, as plan_fix deletes one that only grants admin."""
    if earlier is None:
        return op
    document = op.get("PolicyDocument")
    theirs = {_statement_key(s) for s in _statements(earlier.get("PolicyDocument"))}
    kept = [s for s in _statements(document) if _statement_key(s) in theirs]
    name = str(op.get("Operation", ""))
    if not kept and name.startswith("Put"):
        kind = name.removeprefix("Put").removesuffix("Policy")
        key = f"{kind}Name"
        return {"Operation": f"Delete{kind}Policy", key: op.get(key), "PolicyName": op.get("PolicyName")}
    if not kept or not isinstance(document, dict):
        return earlier  # a managed policy's version keeps the first rewrite rather than become empty
    return {**earlier, "PolicyDocument": {**document, "Statement": kept}}


def _brief(finding: Finding) -> dict:
    return {k: finding.get(k) for k in ("check_id", "severity", "principal_arn", "policy", "title", "fingerprint")}
