"""Ask the evaluator who can do something, offline, on a snapshot: what PMapper's query and the IAM policy
simulator answer. Every user and role gets its decision (allowed / conditional / denied), the statements that
allow and deny, and the conditions left open. The snapshot's organization (SCPs, RCPs, aws:PrincipalOrgID) and the
resource's own policy (a role's trust, a bucket's, key's, queue's, topic's, function's, secret's or repository's
policy in the bundle) take part, as AWS applies them. Used by `manage.py audit query`, the API and the
"Who can...?" page.
"""

from __future__ import annotations

import re
import time

from audits.iam import actions as ds
from audits.iam import arns
from audits.iam.account import Account
from audits.iam.authz import Authz, display_refs
from audits.iam.credentials import now_of
from audits.iam.evaluator import ALLOWED, CONDITIONAL, DENIED

VERDICT_ORDER = {ALLOWED: 0, CONDITIONAL: 1, DENIED: 2}
_ACTION = re.compile(r"^[a-z0-9-]+:[a-z0-9*?]+$", re.IGNORECASE)
# IAM's own limits: an action name is well under 128 characters, an ARN at most 2048.
MAX_ACTION_CHARS = 128
MAX_ARN_CHARS = 2048
_TRUST_ACTIONS = (
    "sts:assumerole",
    "sts:assumerolewithwebidentity",
    "sts:assumerolewithsaml",
    "sts:tagsession",
    "sts:setsourceidentity",
)


class QueryError(ValueError):
    """Shown to the user as-is (a 400 in the API, exit code 2 in the CLI)."""


class QueryTimeoutError(QueryError):
    """The answer took longer than the caller's time limit."""


def check_action(action: str) -> str:
    action = (action or "").strip()
    if len(action) > MAX_ACTION_CHARS:
        raise QueryError(f"action is longer than {MAX_ACTION_CHARS} characters")
    if not _ACTION.match(action):
        raise QueryError("action must look like 'service:Action', e.g. iam:PassRole")
    if "*" not in action and "?" not in action and not ds.known(action):
        raise QueryError(f"unknown action {action!r} (not in the IAM action dataset {ds.describe()})")
    return action


def check_question(action: str, resource: str | None, principal: str | None) -> tuple[str, str, str]:
    """(action, resource, principal) cleaned, or QueryError: cheap, so callers ask before reading a snapshot."""
    action = check_action(action)
    resource = (resource or "").strip() or "*"
    if resource != "*" and not resource.startswith("arn:"):
        raise QueryError("resource must be an ARN or '*'")
    if len(resource) > MAX_ARN_CHARS:
        raise QueryError(f"resource is longer than {MAX_ARN_CHARS} characters, more than any ARN")
    principal = (principal or "").strip()
    if len(principal) > MAX_ARN_CHARS:
        raise QueryError(f"principal is longer than {MAX_ARN_CHARS} characters, more than any ARN")
    return action, resource, principal


def who_can(
    snapshot,
    action: str,
    resource: str | None = None,
    principal: str | None = None,
    *,
    time_limit: float | None = None,
) -> list[dict]:
    """Every user's and role's decision; past `time_limit` seconds a QueryError instead of an answer."""
    deadline = time.monotonic() + time_limit if time_limit is not None else None
    action, resource, principal = check_question(action, resource, principal)
    account = Account(snapshot)
    authz = Authz(
        account, snapshot.account_id or "", now_of(snapshot.collected_at), getattr(snapshot, "organization", None)
    )
    principals = [*account.users, *account.roles]
    if principal:
        principals = [p for p in principals if principal in (p.arn, p.name)]
        if not principals:
            raise QueryError(f"no user or role {principal!r} in this snapshot")
    resource_policy = None
    policy_doc: dict = {}
    target = account.by_arn.get(resource)
    if target is not None and target.type == "role" and action.lower() in _TRUST_ACTIONS:
        policy_doc = target.entry.get("AssumeRolePolicyDocument") or {}
        resource_policy = authz.compile(policy_doc, f"role/{target.name}:trust", "trust")
    else:
        owner = holding_resource(getattr(snapshot, "resources", None) or [], resource)
        if owner is not None:
            policy_doc = owner["policy"]
            resource_policy = authz.compile(policy_doc, f"{owner['type']} {owner['name']}", "resource")
    rows = []
    for p in principals:
        if deadline is not None and time.monotonic() > deadline:
            raise QueryTimeoutError(
                f"The question took longer than {time_limit:g} s on this snapshot; ask about one principal "
                "(principal=) or one resource."
            )
        decision = authz.decide(authz.subject(p), action.lower(), resource, resource_policy=resource_policy)
        rows.append(
            {
                "principal": p.arn,
                "type": p.type,
                "name": p.name,
                "decision": decision.verdict,
                "conditions": [c.to_dict() for c in decision.conditions],
                "statements": display_refs(p, decision.allowing),
                "denying": display_refs(p, decision.denying),
                "reason": decision.reason,
            }
        )
    if resource_policy is not None and not principal:
        rows.extend(_outside_rows(authz, snapshot, action.lower(), resource, resource_policy, policy_doc))
    rows.sort(key=lambda r: (VERDICT_ORDER.get(str(r["decision"]), 3), str(r["principal"])))
    return rows


def _outside_rows(authz: Authz, snapshot, action: str, resource: str, statements, policy: dict) -> list[dict]:
    """Who outside the account's users and roles the resource's own policy lets in: anyone (the public), any
    principal of an account it names, a service it names — asked of the evaluator as the external-access checks ask
    (an outsider's own policies allow everything; the resource policy, RCPs and conditions decide)."""
    from audits.iam import external_access

    own = snapshot.account_id or ""
    org = getattr(snapshot, "organization", None)
    trusted = external_access.trusted_accounts(own, org)
    org_id = (org or {}).get("id") or ""
    account = arns.account_of(resource) or own
    rows = []
    for who, name, subject, context in external_access.outsiders(
        policy, trusted, org_id, account, authz.rcps, authz.now
    ):
        decision = authz.evaluator.evaluate(subject, action, resource, context, statements, account)
        if decision.verdict == DENIED:
            continue  # the question is who CAN: an outsider the policy keeps out is not listed
        label = {"public": "anyone (the public)", "account": f"any principal of account {name}"}.get(
            who, f"the service {name}"
        )
        rows.append(
            {
                "principal": name,
                "type": {"public": "anyone", "account": "account", "service": "service"}.get(who, who),
                "name": label,
                "decision": decision.verdict,
                "conditions": [c.to_dict() for c in decision.conditions],
                # The outsider's own allow-everything policy stands in for policies we cannot see: not evidence.
                "statements": [dict(r) for r in decision.allowing if r.get("policy") != external_access.OWN_POLICY],
                "denying": [],
                "reason": decision.reason,
            }
        )
    return rows


def holding_resource(resources: list[dict], arn: str) -> dict | None:
    """The bundle's resource whose policy governs `arn`: the resource itself, or the bucket of an S3 object."""
    if arn == "*":
        return None
    bucket = arn.split("/", 1)[0] if arn.startswith("arn:aws:s3:::") else None
    for resource in resources:
        if resource.get("policy") and resource.get("arn") in (arn, bucket):
            return resource
    return None


def as_text(rows: list[dict], action: str, resource: str | None) -> str:
    lines = [f"Who can {action} on {resource or '*'}?"]
    for r in rows:
        lines.append(f"{r['decision'].upper():<12} {r['type']} {r['name']} ({r['principal']})")
        for ref in r["statements"]:
            lines.append(f"    allowed by {_ref(ref)}")
        for ref in r["denying"]:
            lines.append(f"    denied by {_ref(ref)}")
        for c in r["conditions"]:
            lines.append(f"    only if {c.get('text') or _condition_text(c)}")
        if r["decision"] == DENIED and not r["denying"] and r["reason"]:
            lines.append(f"    {r['reason']}")
    counts = {v: sum(r["decision"] == v for r in rows) for v in (ALLOWED, CONDITIONAL, DENIED)}
    lines.append(f"{counts[ALLOWED]} allowed, {counts[CONDITIONAL]} conditional, {counts[DENIED]} denied")
    return "\n".join(lines) + "\n"


def _ref(ref: dict) -> str:
    where = f"statement {ref.get('index')}" + (f" ({ref['sid']})" if ref.get("sid") else "")
    return f"{ref.get('policy')} {where}"


def _condition_text(c: dict) -> str:
    text = f"{c.get('key')} {c.get('operator')} {', '.join(map(str, c.get('values') or ()))}"
    return f"not ({text})" if c.get("negated") else text
