"""Permission risks: what one policy allows on its own, and what a principal's policies allow together.

Each function returns finding specs (check_id, policy, discriminator, detail, evidence, conditioned, severity)
rather than findings, so principals with identical permissions share one analysis.
"""

from __future__ import annotations

from audits.iam import actions as ds
from audits.iam import escalation
from audits.iam.checks import CHECKS, Spec, lower
from audits.iam.policy import ActionGrant, Permissions, Statement, statement_evidence

# Read actions that return data or secrets (Cloudsplaining's set plus RDS snapshot copies).
DATA_EXFILTRATION_ACTIONS = frozenset(
    {
        "s3:getobject",
        "s3:getobjectversion",
        "ssm:getparameter",
        "ssm:getparameters",
        "ssm:getparametersbypath",
        "secretsmanager:getsecretvalue",
        "rds:copydbsnapshot",
        "rds:createdbsnapshot",
        "dynamodb:scan",
        "dynamodb:exporttabletopointintime",
        "ec2:getpassworddata",
        "ebs:getsnapshotblock",
        "kms:decrypt",
    }
)
# Actions whose response carries credentials (after github.com/kmcquade's list used by Cloudsplaining).
CREDENTIAL_ACTIONS = frozenset(
    {
        "airflow:createclitoken",
        "airflow:createweblogintoken",
        "appsync:createapikey",
        "chime:createapikey",
        "cloud9:createenvironmenttoken",
        "codeartifact:getauthorizationtoken",
        "codepipeline:pollforjobs",
        "cognito-identity:getopenidtoken",
        "cognito-identity:getopenidtokenfordeveloperidentity",
        "cognito-identity:getcredentialsforidentity",
        "connect:getfederationtoken",
        "ec2:getpassworddata",
        "ecr:getauthorizationtoken",
        "ecr-public:getauthorizationtoken",
        "gamelift:requestuploadcredentials",
        "iam:createaccesskey",
        "iam:createloginprofile",
        "iam:createservicespecificcredential",
        "iam:resetservicespecificcredential",
        "iam:updateaccesskey",
        "lightsail:getinstanceaccessdetails",
        "lightsail:getrelationaldatabasemasteruserpassword",
        "mediapackage:rotatechannelcredentials",
        "mediapackage:rotateingestendpointcredentials",
        "rds-db:connect",
        "redshift:getclustercredentials",
        "redshift:getclustercredentialswithiam",
        "sts:assumerole",
        "sts:assumerolewithsaml",
        "sts:assumerolewithwebidentity",
        "sts:getfederationtoken",
        "sts:getsessiontoken",
        "storagegateway:describechapcredentials",
    }
)
# Actions that blind monitoring: logging, detection and their alarms.
DEFENSE_EVASION_ACTIONS = frozenset(
    {
        "cloudtrail:stoplogging",
        "cloudtrail:deletetrail",
        "cloudtrail:updatetrail",
        "cloudtrail:puteventselectors",
        "guardduty:deletedetector",
        "guardduty:updatedetector",
        "guardduty:disassociatefromadministratoraccount",
        "guardduty:deletemembers",
        "guardduty:createfilter",
        "guardduty:updateipset",
        "config:stopconfigurationrecorder",
        "config:deleteconfigurationrecorder",
        "config:deletedeliverychannel",
        "logs:deleteloggroup",
        "logs:deletelogstream",
        "logs:deletesubscriptionfilter",
        "ec2:deleteflowlogs",
        "securityhub:disablesecurityhub",
        "securityhub:batchupdatefindings",
        "access-analyzer:deleteanalyzer",
        "organizations:leaveorganization",
        "cloudwatch:deletealarms",
        "cloudwatch:disablealarmactions",
        "detective:deletegraph",
        "inspector2:disable",
        "macie2:disablemacie",
        "s3:putbucketlogging",
    }
)
# Our own expectations: a role an attacker reaches through admin is covered by the admin finding.
_SAMPLE = 15


def _named(grants: dict[str, ActionGrant]) -> tuple[list[str], list[Statement], bool]:
    actions = sorted(ds.display(a) for a in grants)
    stmts = [s for g in grants.values() for s in g.statements]
    return actions, stmts, all(g.conditioned for g in grants.values())


def _wildcard_grants(perms: Permissions, service: str) -> list[Statement]:
    """Allow statements granting `service:*` on all resources (what Prowler's kms:*/cloudtrail:* checks mean)."""
    return [s for s in perms.allows if not s.not_action and f"{service}:*" in s.patterns and "*" in s.resources]


def _still_writes(perms: Permissions, wildcard: str) -> bool:
    """A 'service:*' whose write and permission actions are all denied is a read grant, not a wildcard."""
    changing = ds.expand(wildcard) - ds.actions_at_level("L") - ds.actions_at_level("R")
    if not perms.denies:
        return True
    return bool(perms.grants(changing)) if changing else False


def grants_alone(perms: Permissions) -> tuple[bool, list[escalation.MethodHit]]:
    """What the policy would grant a holder with nothing else: admin ('*:*'), and named escalation methods."""
    found = perms.cache.get("alone")
    if found is None:
        found = perms.cache["alone"] = (perms.is_admin(), escalation.methods(perms))
    return found  # type: ignore[return-value]


def hygiene_specs(
    perms: Permissions, label: str, *, attached: bool = True, aws_managed: bool = False, admin: bool = False
) -> list[Spec]:
    """The broad-grant notes on one policy (admin and escalation are judged on its holders, in analysis).

    AWS-managed read-only policies (ReadOnlyAccess, SecurityAudit, …) do read data by design: choosing one is an
    access decision reviewed on the principal, not a defect of the policy, so they raise nothing here.
    """
    if aws_managed and perms.read_only():
        return []
    specs: list[Spec] = []
    assume = None if admin else perms.grant("sts:assumerole")  # granted only on '*' or every role ('role/*')
    if assume:
        specs.append(
            Spec(
                "policy_permissive_role_assumption",
                label,
                "",
                "Allows sts:AssumeRole on every role: each role that trusts this account can be assumed.",
                {"statements": statement_evidence(assume.statements)},
                assume.conditioned,
            )
        )
    if not admin:
        specs.extend(_category_specs(perms, label))
    if not attached:
        specs = [
            s._replace(
                severity=lower(s.severity or CHECKS[s.check_id].severity),
                detail=s.detail + " The policy is not attached to anyone; rated one level lower.",
            )
            for s in specs
        ]
    return specs


def _category_specs(perms: Permissions, label: str) -> list[Spec]:
    specs = []
    for check_id, candidates, what in (
        ("policy_data_exfiltration", DATA_EXFILTRATION_ACTIONS, "read data or secrets from every resource"),
        ("policy_credentials_exposure", CREDENTIAL_ACTIONS, "obtain credentials"),
        ("policy_defense_evasion", DEFENSE_EVASION_ACTIONS, "disable logging or threat detection"),
    ):
        grants = perms.grants(candidates)
        if grants:
            actions, stmts, conditioned = _named(grants)
            specs.append(
                Spec(
                    check_id,
                    label,
                    "",
                    f"Allows actions that {what}: {', '.join(actions[:8])}"
                    + (f" (+{len(actions) - 8} more)." if len(actions) > 8 else "."),
                    {"actions": actions, "statements": statement_evidence(stmts)},
                    conditioned,
                )
            )
    for check_id, level, what in (
        ("policy_resource_exposure", "P", "permissions-management"),
        ("policy_infrastructure_modification", "W", "write"),
    ):
        actions, stmts = perms.level_grants(level)
        mitigated = False
        if not actions:
            actions, stmts = perms.level_grants(level, conditioned=True)
            mitigated = bool(actions)
        if actions:
            shown = [ds.display(a) for a in sorted(actions)[:_SAMPLE]]
            services = sorted({a.partition(":")[0] for a in actions})
            specs.append(
                Spec(
                    check_id,
                    label,
                    "",
                    f"Allows {len(actions)} {what} actions on unrestricted resources across "
                    f"{len(services)} service(s) ({', '.join(services[:6])}).",
                    {
                        "count": len(actions),
                        "services": services,
                        "actions": shown,
                        "statements": statement_evidence(stmts),
                    },
                    mitigated,
                )
            )
    wildcards = sorted(
        {
            p
            for s in perms.allows
            if not s.not_action
            for p in s.patterns
            if p.endswith(":*") and p != "*:*" and _still_writes(perms, p)
        }
    )
    if wildcards:
        stmts = [s for s in perms.allows if any(p in wildcards for p in s.patterns)]
        specs.append(
            Spec(
                "policy_service_wildcard",
                label,
                "",
                f"Grants every action of {len(wildcards)} service(s): {', '.join(wildcards)}.",
                {"wildcards": wildcards, "statements": statement_evidence(stmts)},
                all(s.condition for s in stmts),
            )
        )
    for check_id, service in (("policy_full_kms_access", "kms"), ("policy_full_cloudtrail_access", "cloudtrail")):
        stmts = _wildcard_grants(perms, service)
        if stmts:
            specs.append(
                Spec(
                    check_id,
                    label,
                    "",
                    f"Grants {service}:* on all resources.",
                    {"statements": statement_evidence(stmts)},
                    all(s.condition for s in stmts),
                )
            )
    market = perms.grant("aws-marketplace:subscribe")
    if market:
        specs.append(
            Spec(
                "policy_marketplace_subscribe",
                label,
                "",
                "Allows aws-marketplace:Subscribe on all resources.",
                {"statements": statement_evidence(market.statements)},
                market.conditioned,
            )
        )
    return specs
