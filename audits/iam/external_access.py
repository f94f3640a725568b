"""Who outside the account (or the organization) can reach a resource through its resource-based policy.

Like IAM Access Analyzer's external access findings, with the zone of trust being the organization when the
snapshot has one (else the account). Each resource policy is asked, through the evaluator, about three outsiders:
- anyone: an anonymous caller, and a principal of an unknown account outside the organization;
- each account the policy names that lies outside the zone of trust;
- each AWS service the policy names, acting for another account (aws:SourceAccount / aws:SourceArn of an
  outsider): a confused deputy.
An outsider controls its own identity policies, so its side allows everything; what decides is the resource policy,
the organization's RCPs, and the conditions. The outsiders' context is what is known of them: they are not in our
organization (aws:PrincipalOrgID is not ours), not our account, and come from no endpoint or network of ours
(aws:SourceVpce / aws:SourceVpc absent). Conditions that still cannot be decided (an IP range, say) are named in
the finding, which is then rated lower. S3 Block Public Access (account or bucket RestrictPublicBuckets) is applied
before a bucket is called public: it then admits only the owner account's principals and AWS services.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from audits.iam import organization as org_tree
from audits.iam.conditions import Condition, Context
from audits.iam.evaluator import Evaluator, Subject, compile_policy
from audits.iam.finding_types import StatementRef

OUTSIDE_ACCOUNT = "000000000000"  # an account that is neither ours nor in the organization
OUTSIDE_ORG = "o-outsider00000"
# The sensitive actions asked of each resource type: read and write of the data, and taking over the policy.
ACTIONS = {
    "s3:bucket": ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:PutBucketPolicy"),
    "kms:key": ("kms:Decrypt", "kms:Encrypt", "kms:CreateGrant", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"),
    "sqs:queue": ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SetQueueAttributes"),
    "sns:topic": ("sns:Publish", "sns:Subscribe", "sns:SetTopicAttributes"),
    "lambda:function": ("lambda:InvokeFunction", "lambda:UpdateFunctionCode", "lambda:GetFunction"),
    "secretsmanager:secret": (
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:PutResourcePolicy",
    ),
    "ecr:repository": ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:PutImage", "ecr:SetRepositoryPolicy"),
}
OBJECT_ACTIONS = frozenset({"s3:getobject", "s3:putobject", "s3:deleteobject"})
# Conditions that narrow who can use a grant (named in findings as what limits the access).
LIMITING_KEYS = frozenset(
    {
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:sourcevpce",
        "aws:sourcevpc",
        "aws:sourceip",
        "aws:userid",
        "aws:username",
        "kms:calleraccount",
        "kms:viaservice",
        "lambda:functionurlauthtype",
    }
)


@dataclass(frozen=True)
class Access:
    resource: dict
    who: str  # "public" | "account" | "service"
    principal: str  # "*", an account id, or a service principal
    actions: tuple[str, ...]
    conditions: tuple[Condition, ...]
    statements: tuple[StatementRef, ...]
    blocked_by_bpa: bool = False


def trusted_accounts(own_account: str, org: dict | None) -> set[str]:
    accounts = {own_account} if own_account else set()
    if org is not None:
        accounts |= {n["id"] for n in org_tree.accounts(org)}
    return accounts


def analyse(
    resources: Iterable[dict],
    own_account: str,
    org: dict | None,
    now: datetime,
    account_block: dict | None = None,
    evaluator: Evaluator | None = None,
) -> list[Access]:
    evaluator = evaluator or Evaluator(now=now)
    trusted = trusted_accounts(own_account, org)
    org_id = (org or {}).get("id") or ""
    found: list[Access] = []
    for resource in resources:
        policy = resource.get("policy")
        if not policy:
            continue
        statements = compile_policy(
            policy, f"{resource['type']} {resource['name']}", kind="resource", memo=evaluator.compiled
        )
        account = _account_of(resource, own_account)
        rcps = _levels(evaluator, org, account, org_tree.RCP)
        blocked = resource["type"] == "s3:bucket" and _restricts_public(account_block, resource)
        for who, principal, subject, context in outsiders(policy, trusted, org_id, account, rcps, now):
            granted: list[str] = []
            conditions: set[Condition] = set()
            refs: list[StatementRef] = []
            for action in ACTIONS[resource["type"]]:
                for target in _targets(resource, action, policy):
                    decision = evaluator.evaluate(subject, action, target, context, statements, account)
                    if decision.possible:
                        granted.append(action)
                        conditions.update(decision.conditions)
                        refs.extend(r for r in decision.allowing if r not in refs)
                        break
            if granted:
                found.append(
                    Access(
                        resource,
                        who,
                        principal,
                        tuple(granted),
                        tuple(sorted(conditions, key=lambda c: (c.key, c.operator, c.values))),
                        tuple(refs),
                        blocked,
                    )
                )
    return found


def _account_of(resource: dict, own_account: str) -> str:
    parts = resource["arn"].split(":")
    return parts[4] if len(parts) > 4 and parts[4] else own_account  # S3 ARNs carry no account


def _levels(evaluator: Evaluator, org: dict | None, account: str, kind: str) -> tuple:
    return tuple(
        tuple(s for label, doc in level for s in evaluator.compile(doc, label, kind=_KIND[kind]))
        for level in org_tree.control_levels(org, account, kind)
    )


_KIND = {org_tree.SCP: "scp", org_tree.RCP: "rcp"}


def _restricts_public(account_block: dict | None, resource: dict) -> bool:
    bucket = resource.get("block_public_access") or {}
    return bool((account_block or {}).get("RestrictPublicBuckets") or bucket.get("RestrictPublicBuckets"))


def outsiders(policy: dict, trusted: set[str], org_id: str, account: str, rcps: tuple, now: datetime):
    """(who, principal, Subject, Context) for each outsider worth asking about this policy."""
    # None: known to be absent. Without a known organization, aws:PrincipalOrgID stays open (named in findings).
    outsider_keys: dict = {"aws:sourcevpce": None, "aws:sourcevpc": None, "aws:principalisawsservice": ["false"]}
    if org_id:
        outsider_keys["aws:principalorgid"] = [OUTSIDE_ORG]
    anyone = Subject(
        arn=f"arn:aws:iam::{OUTSIDE_ACCOUNT}:role/outsider",
        account=OUTSIDE_ACCOUNT,
        type="role",
        identity=_ALLOW_ALL,
        rcps=rcps,
    )
    yield "public", "*", anyone, Context.for_subject(anyone, now, **outsider_keys)
    named = _named_principals(policy)
    for value in sorted(named["accounts"] - trusted - {OUTSIDE_ACCOUNT}):
        subject = Subject(
            arn=f"arn:aws:iam::{value}:role/outsider", account=value, type="role", identity=_ALLOW_ALL, rcps=rcps
        )
        yield "account", value, subject, Context.for_subject(subject, now, **outsider_keys)
    for service in sorted(named["services"]):
        subject = Subject(arn=service, type="service", rcps=rcps)
        context = Context(
            {
                "aws:sourceaccount": [OUTSIDE_ACCOUNT],
                "aws:sourcearn": [f"arn:aws:s3:::outsider-{OUTSIDE_ACCOUNT}"],
                "aws:sourceorgid": [OUTSIDE_ORG] if org_id else None,
                "aws:principalisawsservice": ["true"],
            },
            now,
        )
        yield "service", service, subject, context


OWN_POLICY = "outsider's own policy"
_ALLOW_ALL = compile_policy(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, OWN_POLICY
)


def _named_principals(policy: dict) -> dict[str, set[str]]:
    accounts: set[str] = set()
    services: set[str] = set()
    for statement in policy.get("Statement", []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if not isinstance(principal, dict):
            continue
        for value in _list(principal.get("AWS")):
            text = str(value)
            account = text if text.isdigit() else (text.split(":")[4] if text.count(":") >= 5 else "")
            if len(account) == 12:
                accounts.add(account)
        services.update(str(v) for v in _list(principal.get("Service")))
    return {"accounts": accounts, "services": services}


def _list(value: object) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _targets(resource: dict, action: str, policy: dict) -> list[str]:
    """Concrete ARNs to ask about: the resource itself, and for object actions one object under each prefix
    the policy names (a grant on 'bucket/public/*' opens those objects, not 'bucket/other')."""
    if resource["type"] != "s3:bucket" or action.lower() not in OBJECT_ACTIONS:
        return [resource["arn"]]
    prefix = resource["arn"] + "/"
    out = []
    for statement in policy.get("Statement", []):
        if not isinstance(statement, dict):
            continue
        for pattern in _list(statement.get("Resource")):
            text = str(pattern)
            if text == "*" or text.startswith(prefix) or text.startswith("arn:aws:s3:::*"):
                concrete = prefix + (text[len(prefix) :] if text.startswith(prefix) else "*")
                concrete = concrete.replace("*", "aegis-probe").replace("?", "a")
                if concrete not in out:
                    out.append(concrete)
    return out or [prefix + "aegis-probe"]


def limiting(conditions: Iterable[Condition]) -> list[Condition]:
    return [c for c in conditions if c.key.lower() in LIMITING_KEYS]
