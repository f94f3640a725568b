"""Escalation probes from the public literature, one small account each: a principal that escalates by a published
method (Rhino Security Labs' list, BishopFox iam-vulnerable's privesc paths, PMapper's edges, pathfinding.cloud's
paths), and near-misses of the same shape with one thing missing or blocking, which must stay quiet on the
principal and on every managed policy it holds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from audits.iam import organization
from audits.iam.finding_types import Finding
from audits.iam.snapshot import AccountSnapshot
from tests.iam.builders import (
    ACCOUNT,
    allow,
    arn,
    deny,
    doc,
    findings,
    group,
    healthy,
    managed,
    report_row,
    role,
    trust_doc,
    user,
)

ESCALATES = "principal_privilege_escalation"
GRANTS = "principal_grants_admin"
LATENT = "principal_latent_escalation"
QUIET = None
LOUD = {"admin_access", "privilege_escalation"}

ADMIN = managed("AdministratorAccess", doc(allow("*")), aws=True)
READ = managed("reader", doc(allow(["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"])))
NEVER = {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}  # a condition that cannot hold today
PROFILE = [{"InstanceProfileName": "p", "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/p", "Roles": []}]


def trusting(service: str) -> dict:
    return trust_doc({"Service": service})


def service_role(name: str, service: str, *, rights: dict = ADMIN, profile: bool | None = None) -> dict:
    """A role a service runs with; profile: True/False for an instance profile listed or none (EC2's roles)."""
    out = role(name, trust=trusting(service), policies=(rights,))
    if profile is not None:
        out["InstanceProfileList"] = PROFILE if profile else []
    return out


def role_arn(name: str) -> str:
    return arn("role", name)


def account(*, users=(), roles=(), groups=(), policies=(), report=None, scp: dict | None = None) -> AccountSnapshot:
    """A healthy account holding what the probe adds; AdministratorAccess and the reader policy always listed."""
    held = {p["Arn"]: p for p in (ADMIN, READ, *policies)}
    kwargs = {}
    if report is not None:
        kwargs["report"] = [report_row("<root_account>")] + [
            report_row(u["UserName"], **report.get(u["UserName"], {})) for u in users
        ]
    snap = healthy(users=list(users), roles=list(roles), groups=list(groups), policies=list(held.values()), **kwargs)
    return dataclasses.replace(snap, organization=_org(scp)) if scp else snap


def _org(guard: dict) -> dict | None:
    full = {"id": "p-full", "type": organization.SCP, "name": "FullAWSAccess", "document": doc(allow("*"))}
    guard = {"id": "p-guard", "type": organization.SCP, "name": "guard", "document": guard}
    return organization.parse_organization(
        {
            "id": "o-example123",
            "management_account_id": "999988887777",
            "nodes": [
                {"id": "r-root", "type": "ROOT", "name": "Root", "policies": ["p-full", "p-guard"]},
                {"id": ACCOUNT, "type": "ACCOUNT", "name": "prod", "parent": "r-root", "policies": ["p-full"]},
            ],
            "policies": [full, guard],
        }
    )


def me(*statements: dict, name: str = "probe", kind: str = "user", boundary: dict | None = None, **extra):
    """The probe principal, holding its statements in one managed policy (so that policy is checked too)."""
    policy = managed(f"{name}-policy", doc(*statements))
    if kind == "user":
        who = user(name, policies=(policy, *extra.pop("policies", ())), boundary=boundary, **extra)
    else:
        who = role(
            name,
            trust=trust_doc({"AWS": arn("user", "operator")}),
            policies=(policy, *extra.pop("policies", ())),
            boundary=boundary,
            **extra,
        )
    return who, policy


@dataclass(frozen=True)
class Probe:
    name: str
    source: str  # where the method is published
    build: Callable[[], AccountSnapshot]
    expect: str | None  # the finding kind on the principal; None: a near-miss, quiet
    method: str = ""  # the method name the finding's path should show
    principal: str = "probe"


# --- builders of the common shapes: one escalating principal and what it acts on ----------------------------------


def passrole(service: str, actions: list[str], *, target: str = "svc-admin", **kw) -> Callable[[], AccountSnapshot]:
    """PassRole on a named role trusting `service` plus the actions that make the service run one's code."""
    profile = True if service == "ec2.amazonaws.com" else None
    rights = kw.pop("rights", ADMIN)
    pass_condition = kw.pop("pass_condition", None)
    trusted = kw.pop("trusted", service)
    extra = kw.pop("extra", ())
    scp = kw.pop("scp", None)
    boundary = kw.pop("boundary", None)
    no_profile = kw.pop("no_profile", False)

    def build() -> AccountSnapshot:
        passing = allow("iam:PassRole", role_arn(target), **({"Condition": pass_condition} if pass_condition else {}))
        who, policy = me(passing, allow(actions), *extra, boundary=boundary)
        target_role = service_role(target, trusted, rights=rights, profile=False if no_profile else profile)
        policies = [policy, rights] + ([boundary] if boundary else [])
        return account(users=[who], roles=[target_role], policies=policies, scp=scp)

    return build


def takeover(service: str, actions: list[str], *, rights: dict = ADMIN, **kw) -> Callable[[], AccountSnapshot]:
    """Actions on existing resources (functions, stacks, instances...) that run with a role trusting `service`."""
    profile = kw.pop("profile", True if service == "ec2.amazonaws.com" else None)
    extra = kw.pop("extra", ())
    scp = kw.pop("scp", None)
    trust = kw.pop("trust", None)

    def build() -> AccountSnapshot:
        who, policy = me(allow(actions), *extra)
        target_role = service_role("svc-admin", service, rights=rights, profile=profile)
        if trust:
            target_role["AssumeRolePolicyDocument"] = trust
        return account(users=[who], roles=[target_role], policies=[policy, rights], scp=scp)

    return build


def on_user(action: str, *, target_rights: dict = ADMIN, password: bool = True, extra=()) -> Callable:
    """An action on the user `boss` (an administrator unless told otherwise)."""

    def build() -> AccountSnapshot:
        who, policy = me(allow(action, arn("user", "boss")), *extra)
        boss = user("boss", policies=(target_rights,))
        report = {"boss": {"password_enabled": "true" if password else "false"}}
        return account(users=[who, boss], policies=[policy, target_rights], report=report)

    return build


def on_self(statements: Callable[[], list[dict]], *, kind: str = "user", boundary: dict | None = None, **kw):
    def build() -> AccountSnapshot:
        who, policy = me(*statements(), kind=kind, boundary=boundary)
        users = [who] if kind == "user" else [user("operator", policies=(READ,))]
        roles = [who] if kind == "role" else []
        return account(
            users=users,
            roles=roles,
            policies=[policy] + ([boundary] if boundary else []),
            scp=kw.get("scp"),
        )

    return build


def in_group(statements: list[dict], *, group_rights: tuple = (READ,), extra=(), scp=None) -> Callable:
    """probe is in the group `team` (read rights) and holds `statements`."""

    def build() -> AccountSnapshot:
        who, policy = me(*statements, *extra, groups=("team",))
        return account(users=[who], groups=[group("team", policies=group_rights)], policies=[policy], scp=scp)

    return build


def join(group_rights: dict, condition: dict | None = None) -> Callable:
    def build() -> AccountSnapshot:
        extra = {"Condition": condition} if condition else {}
        who, policy = me(allow("iam:AddUserToGroup", arn("group", "admins"), **extra))
        return account(users=[who], groups=[group("admins", policies=(group_rights,))], policies=[policy, group_rights])

    return build


def trust_rewrite(*, target_rights: dict = ADMIN, path: str = "/", extra=()) -> Callable:
    def build() -> AccountSnapshot:
        target = role("ops", trust=trusting("ec2.amazonaws.com"), policies=(target_rights,), path=path)
        who, policy = me(allow("iam:UpdateAssumeRolePolicy", target["Arn"]), *extra)
        return account(users=[who], roles=[target], policies=[policy, target_rights])

    return build


def assume(trust: dict, *, action_resource: str = role_arn("ops"), rights: dict = ADMIN, extra=()) -> Callable:
    def build() -> AccountSnapshot:
        who, policy = me(allow("sts:AssumeRole", action_resource), *extra)
        return account(users=[who], roles=[role("ops", trust=trust, policies=(rights,))], policies=[policy, rights])

    return build


def chain(second_rights: dict = ADMIN) -> Callable:
    """probe -> role hop (trusts probe by name) -> role ops (trusts hop by name)."""

    def build() -> AccountSnapshot:
        who, policy = me(allow("sts:AssumeRole", role_arn("hop")))
        hop_policy = managed("hop-policy", doc(allow("sts:AssumeRole", role_arn("ops"))))
        hop = role("hop", trust=trust_doc({"AWS": arn("user", "probe")}), policies=(hop_policy,))
        ops = role("ops", trust=trust_doc({"AWS": role_arn("hop")}), policies=(second_rights,))
        return account(users=[who], roles=[hop, ops], policies=[policy, hop_policy, second_rights])

    return build


def versions(*, stored: dict, held_by_probe: bool = True, action: str = "iam:SetDefaultPolicyVersion") -> Callable:
    """A customer-managed policy `tools` with a read-only default and a second stored version `stored`."""

    def build() -> AccountSnapshot:
        tools = managed("tools", READ["PolicyVersionList"][0]["Document"])
        tools["PolicyVersionList"].append({"VersionId": "v2", "IsDefaultVersion": False, "Document": stored})
        who, policy = me(allow(action, tools["Arn"]), policies=(tools,) if held_by_probe else ())
        users = [who] if held_by_probe else [who, user("victim", policies=(tools,))]
        return account(users=users, policies=[policy, tools])

    return build


def boundary_chain(boundary_doc: dict, identity: list[str]) -> Callable:
    def build() -> AccountSnapshot:
        fence = managed("fence", boundary_doc)
        who, policy = me(allow(identity), boundary=fence)
        return account(users=[who], policies=[policy, fence])

    return build


def create_role(attach_condition: dict | None = None) -> Callable:
    def build() -> AccountSnapshot:
        extra = {"Condition": attach_condition} if attach_condition else {}
        who, policy = me(
            allow("iam:CreateRole", role_arn("new-*")),
            allow("iam:AttachRolePolicy", role_arn("new-*"), **extra),
        )
        return account(users=[who], policies=[policy])

    return build


def create_user(with_key: bool) -> Callable:
    def build() -> AccountSnapshot:
        actions = ["iam:CreateUser", "iam:AttachUserPolicy"] + (["iam:CreateAccessKey"] if with_key else [])
        who, policy = me(allow(actions, arn("user", "new-*")))
        return account(users=[who], policies=[policy])

    return build


def write_other(action: str, *, kind: str = "user", condition: dict | None = None) -> Callable:
    """A write on another principal (user `victim` or role `victim`, read rights only) that probe cannot become."""

    def build() -> AccountSnapshot:
        extra = {"Condition": condition} if condition else {}
        who, policy = me(allow(action, arn(kind, "victim"), **extra))
        victim = (
            user("victim", policies=(READ,))
            if kind == "user"
            else role("victim", trust=trusting("ec2.amazonaws.com"), policies=(READ,))
        )
        users = [who] + ([victim] if kind == "user" else [])
        return account(users=users, roles=[victim] if kind == "role" else [], policies=[policy])

    return build


def version_other(*, aws_managed: bool = False, attached: bool = True) -> Callable:
    """CreatePolicyVersion on a policy held by user `victim` (or by nobody)."""

    def build() -> AccountSnapshot:
        target = (
            managed("ReadOnlyAccess", doc(allow(["s3:Get*", "ec2:Describe*"])), aws=True)
            if aws_managed
            else managed("victim-tools", doc(allow("cloudwatch:GetMetricData")))
        )
        who, policy = me(allow("iam:CreatePolicyVersion", target["Arn"]))
        users = [who] + ([user("victim", policies=(target,))] if attached else [])
        return account(users=users, policies=[policy, target])

    return build


def own_aws_managed(action: str) -> Callable:
    """A version write on an AWS-managed policy the probe itself holds: AWS refuses it (customers cannot version
    AWS-managed policies)."""

    def build() -> AccountSnapshot:
        readonly = managed("ReadOnlyAccess", doc(allow(["s3:Get*", "ec2:Describe*"])), aws=True)
        readonly["PolicyVersionList"].append(
            {"VersionId": "v0", "IsDefaultVersion": False, "Document": doc(allow("*"))}
        )
        who, policy = me(allow(action, readonly["Arn"]), policies=(readonly,))
        return account(users=[who], policies=[policy, readonly])

    return build


def service_linked(action: str) -> Callable:
    """An action on a service-linked role with broad rights: AWS refuses trust and policy changes on them."""

    def build() -> AccountSnapshot:
        broad = managed("AWSServiceRoleBroadPolicy", doc(allow("*")), aws=True)
        slr = role(
            "AWSServiceRoleForExample",
            trust=trusting("example.amazonaws.com"),
            policies=(broad,),
            path="/aws-service-role/example.amazonaws.com/",
        )
        who, policy = me(allow(action, slr["Arn"]))
        return account(users=[who], roles=[slr], policies=[policy, broad])

    return build


def two_keys(actions: list[str], extra=()) -> Callable:
    """boss (an administrator) already has two access keys, AWS's limit: a new one needs one deleted first."""

    def build() -> AccountSnapshot:
        who, policy = me(allow(actions, arn("user", "boss")), *extra)
        boss = user("boss", policies=(ADMIN,))
        both = {"access_key_2_active": "true", "access_key_2_last_rotated": "2026-10-01T00:00:00+00:00"}
        return account(users=[who, boss], policies=[policy], report={"boss": both})

    return build


def on_boss(statement: dict, *, boss_boundary: dict | None = None, boss_extra: tuple = ()) -> Callable:
    """One statement of probe's, acting on user boss (AdministratorAccess, limited as told)."""

    def build() -> AccountSnapshot:
        who, policy = me(statement)
        boss = user("boss", policies=(ADMIN, *boss_extra), boundary=boss_boundary)
        extra = [boss_boundary] if boss_boundary else []
        return account(users=[who, boss], policies=[policy, *extra, *boss_extra])

    return build


def in_admins(statement: dict) -> Callable:
    """boss is an administrator through the group admins."""

    def build() -> AccountSnapshot:
        who, policy = me(statement)
        boss = user("boss", groups=("admins",))
        return account(users=[who, boss], groups=[group("admins", policies=(ADMIN,))], policies=[policy])

    return build


def pass_to(trust: dict, *, boundary: dict | None = None, statements: tuple = ()) -> Callable:
    """PassRole + lambda:CreateFunction + InvokeFunction, to role fn-admin (AdministratorAccess) with `trust`."""

    def build() -> AccountSnapshot:
        grants = statements or (
            allow("iam:PassRole", role_arn("fn-admin")),
            allow(["lambda:CreateFunction", "lambda:InvokeFunction"]),
        )
        who, policy = me(*grants)
        target = role("fn-admin", trust=trust, policies=(ADMIN,), boundary=boundary)
        harmless = role("harmless", trust=trusting(LAMBDA), policies=(READ,))
        return account(users=[who], roles=[target, harmless], policies=[policy] + ([boundary] if boundary else []))

    return build


def joins_self_changing_group() -> Callable:
    """AddUserToGroup into a group whose policy lets its members write their own group's policy."""

    def build() -> AccountSnapshot:
        who, policy = me(allow("iam:AddUserToGroup", arn("group", "editors")))
        editing = managed("editing", doc(allow("iam:PutGroupPolicy", arn("group", "editors"))))
        return account(users=[who], groups=[group("editors", policies=(editing,))], policies=[policy, editing])

    return build


def role_joins_users(group_rights: dict) -> Callable:
    """A role (it cannot be in a group) that may add any user to the group admins."""

    def build() -> AccountSnapshot:
        who, policy = me(allow("iam:AddUserToGroup", arn("group", "admins")), kind="role")
        return account(
            users=[user("operator", policies=(READ,))],
            roles=[who],
            groups=[group("admins", policies=(group_rights,))],
            policies=[policy, group_rights],
        )

    return build


def role_rewrites_trust() -> Callable:
    def build() -> AccountSnapshot:
        target = role("ops", trust=trusting(EC2), policies=(ADMIN,))
        who, policy = me(allow("iam:UpdateAssumeRolePolicy", target["Arn"]), kind="role")
        return account(users=[user("operator", policies=(READ,))], roles=[who, target], policies=[policy])

    return build


def role_boundary_swap() -> Callable:
    """A role whose boundary lets it replace the boundary and attach policies to itself."""

    def build() -> AccountSnapshot:
        actions = ["iam:PutRolePermissionsBoundary", "iam:AttachRolePolicy"]
        fence = managed("rfence", doc(allow(actions)))
        who, policy = me(allow(actions, role_arn("probe")), kind="role", boundary=fence)
        return account(users=[user("operator", policies=(READ,))], roles=[who], policies=[policy, fence])

    return build


def bounded_versions() -> Callable:
    """CreatePolicyVersion on a held policy, under a boundary that allows only that and reads."""

    def build() -> AccountSnapshot:
        fence = managed("fence", doc(allow(["iam:CreatePolicyVersion", "cloudwatch:GetMetricData"])))
        who, policy = me(allow("iam:CreatePolicyVersion", arn("policy", "probe-policy")), boundary=fence)
        return account(users=[who], policies=[policy, fence])

    return build


EC2, LAMBDA, GLUE, CFN = (
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "glue.amazonaws.com",
    "cloudformation.amazonaws.com",
)
SAGEMAKER, CODEBUILD, ECS = "sagemaker.amazonaws.com", "codebuild.amazonaws.com", "ecs-tasks.amazonaws.com"
APPRUNNER, AGENTCORE = "tasks.apprunner.amazonaws.com", "bedrock-agentcore.amazonaws.com"
RHINO, IAMV, PMAPPER, PF = "Rhino", "iam-vulnerable", "PMapper", "pathfinding.cloud"
AWS = "AWS IAM User Guide (policy evaluation, service limits)"
FENCE_READ = doc(allow(["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"]))
BOUNDARY_READ = managed("boundary-read", doc(allow(["iam:PutUserPolicy", "cloudwatch:GetMetricData"])))
ROLE_BOUNDARY_READ = managed("role-boundary-read", doc(allow(["iam:AttachRolePolicy", "cloudwatch:GetMetricData"])))
ONLY_READONLY = {"ArnEquals": {"iam:PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}}
OTHER_SOURCE = {"StringEquals": {"aws:SourceAccount": "444455556666"}}  # the service acting for another account
TO_LAMBDA = {"StringEquals": {"iam:PassedToService": LAMBDA}}
TO_EC2 = {"StringEquals": {"iam:PassedToService": EC2}}
ROOT_TRUST = trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
AGENTCORE_RUN = [
    "bedrock-agentcore:CreateCodeInterpreter",
    "bedrock-agentcore:StartCodeInterpreterSession",
    "bedrock-agentcore:InvokeCodeInterpreter",
]

POSITIVES = [
    # IAM on other users: their credentials
    Probe("create-access-key", RHINO, on_user("iam:CreateAccessKey"), ESCALATES, "CreateAccessKey"),
    Probe(
        "create-login-profile",
        RHINO,
        on_user("iam:CreateLoginProfile", password=False),
        ESCALATES,
        "CreateLoginProfile",
    ),
    Probe("update-login-profile", RHINO, on_user("iam:UpdateLoginProfile"), ESCALATES, "UpdateLoginProfile"),
    # IAM on oneself and one's groups
    Probe(
        "attach-user-policy",
        RHINO,
        on_self(lambda: [allow("iam:AttachUserPolicy", arn("user", "probe"))]),
        ESCALATES,
        "AttachUserPolicy",
    ),
    Probe(
        "put-user-policy",
        RHINO,
        on_self(lambda: [allow("iam:PutUserPolicy", arn("user", "probe"))]),
        ESCALATES,
        "PutUserPolicy",
    ),
    Probe(
        "attach-role-policy",
        RHINO,
        on_self(lambda: [allow("iam:AttachRolePolicy", role_arn("probe"))], kind="role"),
        ESCALATES,
        "AttachRolePolicy",
    ),
    Probe(
        "put-role-policy",
        RHINO,
        on_self(lambda: [allow("iam:PutRolePolicy", role_arn("probe"))], kind="role"),
        ESCALATES,
        "PutRolePolicy",
    ),
    Probe(
        "attach-group-policy",
        RHINO,
        in_group([allow("iam:AttachGroupPolicy", arn("group", "team"))]),
        ESCALATES,
        "AttachGroupPolicy",
    ),
    Probe(
        "put-group-policy",
        RHINO,
        in_group([allow("iam:PutGroupPolicy", arn("group", "team"))]),
        ESCALATES,
        "PutGroupPolicy",
    ),
    Probe("add-user-to-admin-group", RHINO, join(ADMIN), ESCALATES, "AddUserToGroup"),
    Probe("update-assume-role-policy", RHINO, trust_rewrite(), ESCALATES, "UpdateRolePolicyToAssumeIt"),
    Probe(
        "create-policy-version-own",
        RHINO,
        versions(stored=READ["PolicyVersionList"][0]["Document"], action="iam:CreatePolicyVersion"),
        ESCALATES,
        "CreateNewPolicyVersion",
    ),
    Probe(
        "set-default-policy-version-own",
        RHINO,
        versions(stored=doc(allow("*"))),
        ESCALATES,
        "SetExistingDefaultPolicyVersion",
    ),
    Probe(
        "delete-boundary-then-put-policy",
        IAMV,
        boundary_chain(
            doc(allow(["iam:DeleteUserPermissionsBoundary", "cloudwatch:GetMetricData"], arn("user", "probe"))),
            ["iam:DeleteUserPermissionsBoundary", "iam:PutUserPolicy"],
        ),
        ESCALATES,
        "DeletePermissionsBoundary",
    ),
    Probe(
        "put-boundary-then-attach",
        IAMV,
        boundary_chain(
            doc(allow(["iam:PutUserPermissionsBoundary", "cloudwatch:GetMetricData"])),
            ["iam:PutUserPermissionsBoundary", "iam:AttachUserPolicy"],
        ),
        ESCALATES,
        "PutPermissionsBoundary",
    ),
    Probe("create-role-attach-assume", PMAPPER, create_role(), ESCALATES, "CreateRoleThenAttachAndAssume"),
    Probe(
        "create-user-attach-key",
        IAMV,
        create_user(with_key=True),
        ESCALATES,
        "CreateUserThenAttachAndCreateAccessKey",
    ),
    # STS
    Probe("assume-admin-role-root-trust", PMAPPER, assume(ROOT_TRUST), ESCALATES, "AssumeRole"),
    Probe(
        "assume-admin-role-named-trust",
        PMAPPER,
        assume(trust_doc({"AWS": arn("user", "probe")}), action_resource=role_arn("elsewhere")),
        ESCALATES,
        "AssumeRole",
    ),
    Probe("assume-role-chain", PMAPPER, chain(), ESCALATES, "AssumeRole"),
    # Grants administrator to another principal without becoming it
    Probe("attach-user-policy-other", IAMV, write_other("iam:AttachUserPolicy"), GRANTS),
    Probe("put-role-policy-other", IAMV, write_other("iam:PutRolePolicy", kind="role"), GRANTS),
    Probe("create-policy-version-other", RHINO, version_other(), GRANTS),
    # PassRole to a service that runs one's code
    Probe("ec2-run-instances", RHINO, passrole(EC2, ["ec2:RunInstances"]), ESCALATES, "CreateEC2WithExistingIP"),
    Probe(
        "ec2-spot-instances",
        PF,
        passrole(EC2, ["ec2:RequestSpotInstances"]),
        ESCALATES,
        "PassExistingRoleToNewEC2SpotInstance",
    ),
    Probe(
        "autoscaling-launch-configuration",
        PF,
        passrole(EC2, ["autoscaling:CreateLaunchConfiguration", "autoscaling:CreateAutoScalingGroup"]),
        ESCALATES,
        "PassRoleToNewAutoScalingGroup",
    ),
    Probe(
        "autoscaling-launch-template",
        PF,
        passrole(EC2, ["ec2:CreateLaunchTemplate", "autoscaling:CreateAutoScalingGroup"]),
        ESCALATES,
        "PassRoleToNewAutoScalingGroup",
    ),
    Probe(
        "lambda-create-invoke",
        RHINO,
        passrole(LAMBDA, ["lambda:CreateFunction", "lambda:InvokeFunction"]),
        ESCALATES,
        "PassExistingRoleToNewLambdaThenInvoke",
    ),
    Probe(
        "lambda-create-event-source",
        RHINO,
        passrole(LAMBDA, ["lambda:CreateFunction", "lambda:CreateEventSourceMapping"]),
        ESCALATES,
        "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
    ),
    Probe(
        "lambda-create-add-permission",
        PF,
        passrole(LAMBDA, ["lambda:CreateFunction", "lambda:AddPermission"]),
        ESCALATES,
        "PassExistingRoleToNewLambdaThenAddPermission",
    ),
    Probe(
        "lambda-passed-to-service-condition",
        AWS,
        passrole(LAMBDA, ["lambda:CreateFunction", "lambda:InvokeFunction"], pass_condition=TO_LAMBDA),
        ESCALATES,
        "PassExistingRoleToNewLambdaThenInvoke",
    ),
    Probe(
        "glue-dev-endpoint",
        RHINO,
        passrole(GLUE, ["glue:CreateDevEndpoint"]),
        ESCALATES,
        "PassExistingRoleToNewGlueDevEndpoint",
    ),
    Probe(
        "glue-job",
        PF,
        passrole(GLUE, ["glue:CreateJob", "glue:StartJobRun"]),
        ESCALATES,
        "PassExistingRoleToNewGlueJobThenRun",
    ),
    Probe(
        "cloudformation-create-stack",
        RHINO,
        passrole(CFN, ["cloudformation:CreateStack"]),
        ESCALATES,
        "PassExistingRoleToCloudFormation",
    ),
    Probe(
        "datapipeline",
        RHINO,
        passrole("datapipeline.amazonaws.com", ["datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"]),
        ESCALATES,
        "PassExistingRoleToNewDataPipeline",
    ),
    Probe(
        "sagemaker-notebook",
        IAMV,
        passrole(SAGEMAKER, ["sagemaker:CreateNotebookInstance"]),
        ESCALATES,
        "PassExistingRoleToNewSageMakerNotebookInstance",
    ),
    Probe(
        "sagemaker-training-job",
        PF,
        passrole(SAGEMAKER, ["sagemaker:CreateTrainingJob"]),
        ESCALATES,
        "PassExistingRoleToNewSageMakerTrainingJob",
    ),
    Probe(
        "sagemaker-processing-job",
        PF,
        passrole(SAGEMAKER, ["sagemaker:CreateProcessingJob"]),
        ESCALATES,
        "PassExistingRoleToNewSageMakerProcessingJob",
    ),
    Probe(
        "codebuild-new-project",
        IAMV,
        passrole(CODEBUILD, ["codebuild:CreateProject", "codebuild:StartBuild"]),
        ESCALATES,
        "PassExistingRoleToNewCodeBuildProjectThenBuild",
    ),
    Probe(
        "ecs-register-run",
        PF,
        passrole(ECS, ["ecs:RegisterTaskDefinition", "ecs:RunTask"]),
        ESCALATES,
        "PassExistingRoleToNewECSTask",
    ),
    Probe(
        "ecs-run-task-override",
        PF,
        passrole(ECS, ["ecs:RunTask"]),
        ESCALATES,
        "PassRoleToExistingECSTaskDefinitionWithOverride",
    ),
    Probe(
        "apprunner-create-service",
        PF,
        passrole(APPRUNNER, ["apprunner:CreateService"]),
        ESCALATES,
        "PassExistingRoleToNewAppRunnerService",
    ),
    Probe(
        "agentcore-code-interpreter",
        PF,
        passrole(AGENTCORE, AGENTCORE_RUN),
        ESCALATES,
        "PassExistingRoleToNewBedrockCodeInterpreter",
    ),
    Probe(
        "step-functions",
        PF,
        passrole("states.amazonaws.com", ["states:CreateStateMachine", "states:StartExecution"]),
        ESCALATES,
        "PassRoleToNewStepFunction",
    ),
    # Existing resources that run with a role
    Probe(
        "lambda-update-function-code",
        RHINO,
        takeover(LAMBDA, ["lambda:UpdateFunctionCode"]),
        ESCALATES,
        "EditExistingLambdaFunctionWithRole",
    ),
    Probe(
        "glue-update-dev-endpoint",
        RHINO,
        takeover(GLUE, ["glue:UpdateDevEndpoint"]),
        ESCALATES,
        "UpdateExistingGlueDevEndpoint",
    ),
    Probe(
        "cloudformation-update-stack",
        IAMV,
        takeover(CFN, ["cloudformation:UpdateStack"]),
        ESCALATES,
        "UpdateExistingCloudFormationStack",
    ),
    Probe(
        "cloudformation-change-set",
        PF,
        takeover(CFN, ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"]),
        ESCALATES,
        "ExecuteCloudFormationChangeSet",
    ),
    Probe(
        "codebuild-buildspec-override",
        PF,
        takeover(CODEBUILD, ["codebuild:StartBuild"]),
        ESCALATES,
        "StartBuildWithBuildspecOverride",
    ),
    Probe("ssm-send-command", IAMV, takeover(EC2, ["ssm:SendCommand"]), ESCALATES, "SSMSendCommand"),
    Probe("ssm-start-session", IAMV, takeover(EC2, ["ssm:StartSession"]), ESCALATES, "SSMStartSession"),
    Probe(
        "ec2-instance-connect",
        IAMV,
        takeover(EC2, ["ec2-instance-connect:SendSSHPublicKey"]),
        ESCALATES,
        "EC2InstanceConnectSendSSHPublicKey",
    ),
    Probe(
        "ec2-user-data-restart",
        PF,
        takeover(EC2, ["ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances"]),
        ESCALATES,
        "ModifyEC2InstanceUserDataThenRestart",
    ),
    Probe(
        "sagemaker-presigned-url",
        IAMV,
        takeover(SAGEMAKER, ["sagemaker:CreatePresignedNotebookInstanceUrl"]),
        ESCALATES,
        "CreatePresignedSageMakerNotebookUrl",
    ),
    Probe(
        "ecs-execute-command",
        PF,
        takeover(ECS, ["ecs:ExecuteCommand"]),
        ESCALATES,
        "ECSExecuteCommandOnRunningTask",
    ),
    Probe(
        "apprunner-update-service",
        PF,
        takeover(APPRUNNER, ["apprunner:UpdateService"]),
        ESCALATES,
        "UpdateExistingAppRunnerService",
    ),
    Probe(
        "ec2-new-instance-profile",
        PMAPPER,
        passrole(
            EC2,
            ["ec2:RunInstances", "iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"],
            no_profile=True,
        ),
        ESCALATES,
        "CreateEC2WithExistingIP",
    ),
    Probe(
        "create-access-key-two-keys-delete-first",
        PF,
        two_keys(["iam:CreateAccessKey", "iam:DeleteAccessKey"]),
        ESCALATES,
        "CreateAccessKey",
    ),
    Probe(
        "attach-user-policy-policy-variable",
        AWS,
        on_self(lambda: [allow("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")]),
        ESCALATES,
        "AttachUserPolicy",
    ),
    Probe(
        "create-access-key-mixed-case-action",
        AWS,
        on_boss(allow("IAM:createACCESSkey", arn("user", "boss"))),
        ESCALATES,
        "CreateAccessKey",
    ),
    Probe("create-access-key-action-wildcard", AWS, on_boss(allow("iam:*AccessKey*")), ESCALATES, "CreateAccessKey"),
    Probe(
        "create-access-key-single-char-wildcard",
        AWS,
        on_boss(allow("iam:CreateAccessKey", arn("user", "bos?"))),
        ESCALATES,
        "CreateAccessKey",
    ),
    Probe(
        "create-access-key-admin-through-group",
        RHINO,
        in_admins(allow("iam:CreateAccessKey", arn("user", "boss"))),
        ESCALATES,
        "CreateAccessKey",
    ),
    Probe(
        "create-access-key-mfa-condition",
        RHINO,
        on_boss(allow("iam:CreateAccessKey", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
        ESCALATES,
        "CreateAccessKey",
    ),
    Probe(
        "lambda-update-code-not-action",
        AWS,
        takeover(LAMBDA, [], extra=({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"},)),
        ESCALATES,
    ),
    Probe(
        "pass-role-not-resource",
        AWS,
        pass_to(
            trusting(LAMBDA),
            statements=(
                {"Effect": "Allow", "Action": "iam:PassRole", "NotResource": role_arn("harmless")},
                allow(["lambda:CreateFunction", "lambda:InvokeFunction"]),
            ),
        ),
        ESCALATES,
        "PassExistingRoleToNewLambdaThenInvoke",
    ),
    Probe(
        "assume-role-external-id",
        PMAPPER,
        assume(trust_doc({"AWS": arn("user", "probe")}, condition={"StringEquals": {"sts:ExternalId": "x1"}})),
        ESCALATES,
        "AssumeRole",
    ),
    Probe("add-user-to-self-changing-group", IAMV, joins_self_changing_group(), ESCALATES, "AddUserToGroup"),
    Probe("role-rewrites-admin-role-trust", RHINO, role_rewrites_trust(), ESCALATES, "UpdateRolePolicyToAssumeIt"),
    Probe("put-role-boundary-then-attach", IAMV, role_boundary_swap(), ESCALATES, "PutPermissionsBoundary"),
    Probe(
        "glue-update-job",
        PF,
        passrole(GLUE, ["glue:UpdateJob", "glue:StartJobRun"]),
        ESCALATES,
        "PassExistingRoleToUpdatedGlueJobThenRun",
    ),
    Probe(
        "codebuild-start-build-batch",
        PF,
        takeover(CODEBUILD, ["codebuild:StartBuildBatch"]),
        ESCALATES,
        "StartBuildWithBuildspecOverride",
    ),
    Probe(
        "ec2-launch-template-version",
        PF,
        takeover(EC2, ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"]),
        ESCALATES,
        "ModifyExistingEC2LaunchTemplate",
    ),
    # NotResource covers roles created later: no target today, latent (what completes it is named)
    Probe(
        "pass-role-not-resource-latent",
        AWS,
        pass_to(
            trusting(LAMBDA),
            statements=(
                {"Effect": "Allow", "Action": "iam:PassRole", "NotResource": role_arn("fn-*")},
                allow(["lambda:CreateFunction", "lambda:InvokeFunction"]),
            ),
        ),
        LATENT,
    ),
    Probe("role-adds-users-to-admin-group", IAMV, role_joins_users(ADMIN), GRANTS),
    Probe(
        "set-default-version-other",
        RHINO,
        versions(stored=doc(allow("*")), held_by_probe=False),
        GRANTS,
    ),
]

NEAR_MISSES = [
    # IAM on other users
    Probe("create-access-key-on-equal-user", RHINO, on_user("iam:CreateAccessKey", target_rights=READ), QUIET),
    Probe(
        "create-access-key-denied",
        RHINO,
        on_user("iam:CreateAccessKey", extra=(deny("iam:CreateAccessKey", arn("user", "boss")),)),
        QUIET,
    ),
    Probe(
        "create-access-key-condition-never",
        RHINO,
        on_user(
            "iam:CreateAccessKey", extra=(deny("iam:CreateAccessKey", Condition={"Null": {"aws:username": "false"}}),)
        ),
        QUIET,
    ),
    # AWS refuses CreateLoginProfile for a user that has a password, UpdateLoginProfile for one that has none.
    Probe("create-login-profile-has-password", RHINO, on_user("iam:CreateLoginProfile", password=True), QUIET),
    Probe("update-login-profile-no-password", RHINO, on_user("iam:UpdateLoginProfile", password=False), QUIET),
    # IAM on oneself
    Probe(
        "attach-user-policy-readonly-only",
        RHINO,
        on_self(lambda: [allow("iam:AttachUserPolicy", arn("user", "probe"), Condition=ONLY_READONLY)]),
        QUIET,
    ),
    Probe(
        "put-user-policy-in-boundary",
        AWS,
        on_self(lambda: [allow("iam:PutUserPolicy", arn("user", "probe"))], boundary=BOUNDARY_READ),
        QUIET,
    ),
    Probe(
        "attach-role-policy-in-boundary",
        AWS,
        on_self(lambda: [allow("iam:AttachRolePolicy", role_arn("probe"))], kind="role", boundary=ROLE_BOUNDARY_READ),
        QUIET,
    ),
    Probe(
        "put-role-policy-scp-denied",
        AWS,
        on_self(
            lambda: [allow("iam:PutRolePolicy", role_arn("probe"))], kind="role", scp=doc(deny("iam:PutRolePolicy"))
        ),
        QUIET,
    ),
    Probe(
        "put-user-policy-on-someone-else-only",
        RHINO,
        on_self(lambda: [allow("iam:PutUserPolicy", arn("user", "nobody"))]),
        QUIET,
    ),
    Probe(
        "attach-group-policy-denied",
        RHINO,
        in_group([allow("iam:AttachGroupPolicy", arn("group", "team"))], extra=(deny("iam:AttachGroupPolicy"),)),
        QUIET,
    ),
    Probe(
        "put-group-policy-scp-denied",
        RHINO,
        in_group([allow("iam:PutGroupPolicy", arn("group", "team"))], scp=doc(deny("iam:PutGroupPolicy"))),
        QUIET,
    ),
    Probe(
        "put-group-policy-other-group",
        RHINO,
        in_group([allow("iam:PutGroupPolicy", arn("group", "elsewhere"))]),
        QUIET,
    ),
    Probe("add-user-to-read-group", RHINO, join(READ), QUIET),
    Probe("add-user-to-admin-group-condition-never", RHINO, join(ADMIN, NEVER), QUIET),
    Probe("update-assume-role-policy-equal-role", RHINO, trust_rewrite(target_rights=READ), QUIET),
    Probe(
        "update-assume-role-policy-denied",
        RHINO,
        trust_rewrite(extra=(deny("iam:UpdateAssumeRolePolicy", role_arn("ops")),)),
        QUIET,
    ),
    Probe("update-assume-role-policy-service-linked", AWS, service_linked("iam:UpdateAssumeRolePolicy"), QUIET),
    Probe("attach-role-policy-service-linked", AWS, service_linked("iam:AttachRolePolicy"), QUIET),
    Probe(
        "create-policy-version-own-denied",
        RHINO,
        on_self(
            lambda: [
                allow("iam:CreatePolicyVersion", arn("policy", "probe-policy")),
                deny("iam:CreatePolicyVersion"),
            ]
        ),
        QUIET,
    ),
    Probe("create-policy-version-aws-managed", AWS, own_aws_managed("iam:CreatePolicyVersion"), QUIET),
    Probe("set-default-version-aws-managed", AWS, own_aws_managed("iam:SetDefaultPolicyVersion"), QUIET),
    Probe("create-policy-version-unattached", RHINO, version_other(attached=False), QUIET),
    Probe("set-default-version-stored-is-read", RHINO, versions(stored=doc(allow("cloudwatch:ListMetrics"))), QUIET),
    Probe(
        "delete-boundary-identity-is-read",
        IAMV,
        boundary_chain(
            doc(allow(["iam:DeleteUserPermissionsBoundary", "cloudwatch:GetMetricData"], arn("user", "probe"))),
            ["iam:DeleteUserPermissionsBoundary", "cloudwatch:GetMetricData"],
        ),
        QUIET,
    ),
    Probe("iam-star-outside-boundary", AWS, boundary_chain(FENCE_READ, ["iam:*", "cloudwatch:GetMetricData"]), QUIET),
    Probe("create-role-attach-readonly-only", PMAPPER, create_role(ONLY_READONLY), QUIET),
    Probe("create-user-without-credentials", IAMV, create_user(with_key=False), QUIET),
    Probe(
        "attach-user-policy-other-readonly-only",
        IAMV,
        write_other("iam:AttachUserPolicy", condition=ONLY_READONLY),
        QUIET,
    ),
    # STS
    Probe(
        "assume-admin-role-trusting-someone-else",
        PMAPPER,
        assume(trust_doc({"AWS": arn("user", "someone-else")})),
        QUIET,
    ),
    Probe(
        "assume-root-trust-without-permission", PMAPPER, assume(ROOT_TRUST, action_resource=role_arn("other")), QUIET
    ),
    Probe(
        "assume-trust-condition-never",
        AWS,
        assume(
            trust_doc(
                {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                condition={"StringEquals": {"aws:PrincipalArn": arn("user", "someone-else")}},
            )
        ),
        QUIET,
    ),
    Probe(
        "assume-named-trust-identity-deny",
        AWS,
        assume(trust_doc({"AWS": arn("user", "probe")}), extra=(deny("sts:AssumeRole"),)),
        QUIET,
    ),
    Probe("assume-role-chain-to-read-role", PMAPPER, chain(READ), QUIET),
    # PassRole
    Probe("ec2-role-trusts-lambda", RHINO, passrole(EC2, ["ec2:RunInstances"], trusted=LAMBDA), QUIET),
    Probe("ec2-role-without-instance-profile", RHINO, passrole(EC2, ["ec2:RunInstances"], no_profile=True), QUIET),
    Probe("ec2-passed-to-lambda-only", AWS, passrole(EC2, ["ec2:RunInstances"], pass_condition=TO_LAMBDA), QUIET),
    Probe("ec2-role-with-read-rights", RHINO, passrole(EC2, ["ec2:RunInstances"], rights=READ), QUIET),
    Probe("lambda-create-without-invoke", RHINO, passrole(LAMBDA, ["lambda:CreateFunction"]), QUIET),
    Probe(
        "lambda-passed-to-ec2-only",
        AWS,
        passrole(LAMBDA, ["lambda:CreateFunction", "lambda:InvokeFunction"], pass_condition=TO_EC2),
        QUIET,
    ),
    Probe(
        "lambda-scp-denies-create",
        AWS,
        passrole(LAMBDA, ["lambda:CreateFunction", "lambda:InvokeFunction"], scp=doc(deny("lambda:CreateFunction"))),
        QUIET,
    ),
    Probe(
        "autoscaling-without-group",
        PF,
        passrole(EC2, ["autoscaling:CreateLaunchConfiguration"]),
        QUIET,
    ),
    Probe("glue-dev-endpoint-role-trusts-ec2", RHINO, passrole(GLUE, ["glue:CreateDevEndpoint"], trusted=EC2), QUIET),
    Probe("glue-job-without-run", PF, passrole(GLUE, ["glue:CreateJob"]), QUIET),
    Probe(
        "cloudformation-create-stack-denied",
        RHINO,
        passrole(CFN, ["cloudformation:CreateStack"], extra=(deny("cloudformation:CreateStack"),)),
        QUIET,
    ),
    Probe(
        "sagemaker-notebook-scp-denied",
        AWS,
        passrole(SAGEMAKER, ["sagemaker:CreateNotebookInstance"], scp=doc(deny("sagemaker:*"))),
        QUIET,
    ),
    Probe(
        "sagemaker-training-job-boundary",
        AWS,
        passrole(
            SAGEMAKER,
            ["sagemaker:CreateTrainingJob"],
            boundary=managed("sm-boundary", doc(allow("sagemaker:CreateTrainingJob"))),
        ),
        QUIET,
    ),
    Probe("codebuild-project-without-build", IAMV, passrole(CODEBUILD, ["codebuild:CreateProject"]), QUIET),
    Probe("ecs-register-without-run", PF, passrole(ECS, ["ecs:RegisterTaskDefinition"]), QUIET),
    Probe(
        "apprunner-access-role-not-instance-role",
        PF,
        passrole(APPRUNNER, ["apprunner:CreateService"], trusted="build.apprunner.amazonaws.com"),
        QUIET,
    ),
    Probe(
        "agentcore-without-invoke",
        PF,
        passrole(AGENTCORE, AGENTCORE_RUN[:2]),
        QUIET,
    ),
    # Existing resources
    Probe("lambda-update-code-read-role", RHINO, takeover(LAMBDA, ["lambda:UpdateFunctionCode"], rights=READ), QUIET),
    Probe("glue-update-endpoint-no-glue-role", RHINO, takeover(EC2, ["glue:UpdateDevEndpoint"]), QUIET),
    Probe(
        "cloudformation-update-stack-scp",
        IAMV,
        takeover(CFN, ["cloudformation:UpdateStack"], scp=doc(deny("cloudformation:UpdateStack"))),
        QUIET,
    ),
    Probe(
        "cloudformation-change-set-without-execute",
        PF,
        takeover(CFN, ["cloudformation:CreateChangeSet"]),
        QUIET,
    ),
    Probe(
        "codebuild-start-build-denied",
        PF,
        takeover(CODEBUILD, ["codebuild:StartBuild"], extra=(deny("codebuild:StartBuild"),)),
        QUIET,
    ),
    Probe("ssm-send-command-no-instance-profile", IAMV, takeover(EC2, ["ssm:SendCommand"], profile=False), QUIET),
    Probe("ssm-start-session-lambda-role", IAMV, takeover(LAMBDA, ["ssm:StartSession"]), QUIET),
    Probe(
        "ec2-user-data-without-stop",
        PF,
        takeover(EC2, ["ec2:ModifyInstanceAttribute", "ec2:StartInstances"]),
        QUIET,
    ),
    Probe(
        "sagemaker-presigned-url-condition-never",
        IAMV,
        takeover(
            SAGEMAKER,
            [],
            extra=(allow("sagemaker:CreatePresignedNotebookInstanceUrl", Condition=NEVER),),
        ),
        QUIET,
    ),
    Probe("create-access-key-two-keys", PF, two_keys(["iam:CreateAccessKey"]), QUIET),
    Probe(
        "create-access-key-own-only",
        AWS,
        on_boss(allow("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")),
        QUIET,
    ),
    Probe(
        "create-access-key-boss-bounded",
        AWS,
        on_boss(allow("iam:CreateAccessKey", arn("user", "boss")), boss_boundary=managed("boss-fence", FENCE_READ)),
        QUIET,
    ),
    Probe(
        "create-access-key-boss-denied-everything",
        AWS,
        on_boss(allow("iam:CreateAccessKey", arn("user", "boss")), boss_extra=(managed("boss-deny", doc(deny("*"))),)),
        QUIET,
    ),
    Probe(
        "create-access-key-for-someone-else-only",
        AWS,
        on_boss(
            allow(
                "iam:CreateAccessKey",
                arn("user", "boss"),
                Condition={"StringEquals": {"aws:PrincipalArn": arn("user", "someone-else")}},
            )
        ),
        QUIET,
    ),
    Probe(
        "create-access-key-other-username",
        AWS,
        on_boss(allow("iam:CreateAccessKey", Condition={"StringEquals": {"aws:username": "someone-else"}})),
        QUIET,
    ),
    Probe(
        "create-access-key-other-account-only",
        AWS,
        on_boss(allow("iam:CreateAccessKey", Condition={"StringEquals": {"aws:PrincipalAccount": "444455556666"}})),
        QUIET,
    ),
    Probe(
        "pass-role-deny-not-resource",
        AWS,
        pass_to(
            trusting(LAMBDA),
            statements=(
                allow("iam:PassRole", role_arn("fn-admin")),
                {"Effect": "Deny", "Action": "iam:PassRole", "NotResource": role_arn("harmless")},
                allow(["lambda:CreateFunction", "lambda:InvokeFunction"]),
            ),
        ),
        QUIET,
    ),
    Probe("pass-role-target-bounded", AWS, pass_to(trusting(LAMBDA), boundary=managed("fn-fence", FENCE_READ)), QUIET),
    Probe(
        "pass-role-service-trust-other-account",
        AWS,
        pass_to(trust_doc({"Service": LAMBDA}, condition=OTHER_SOURCE)),
        QUIET,
    ),
    Probe(
        "pass-role-service-trust-denied",
        AWS,
        pass_to(
            doc(
                {"Effect": "Allow", "Principal": {"Service": LAMBDA}, "Action": "sts:AssumeRole"},
                {"Effect": "Deny", "Principal": {"Service": LAMBDA}, "Action": "sts:AssumeRole"},
            )
        ),
        QUIET,
    ),
    Probe("role-adds-users-to-read-group", IAMV, role_joins_users(READ), QUIET),
    Probe(
        "ec2-new-instance-profile-without-add-role",
        PMAPPER,
        passrole(EC2, ["ec2:RunInstances", "iam:CreateInstanceProfile"], no_profile=True),
        QUIET,
    ),
    Probe(
        "create-access-key-two-keys-delete-denied",
        PMAPPER,
        two_keys(["iam:CreateAccessKey", "iam:DeleteAccessKey"], extra=(deny("iam:DeleteAccessKey"),)),
        QUIET,
    ),
    Probe(
        "ssm-send-command-trust-other-account",
        AWS,
        takeover(EC2, ["ssm:SendCommand"], trust=trust_doc({"Service": EC2}, condition=OTHER_SOURCE)),
        QUIET,
    ),
    Probe("create-policy-version-own-bounded", AWS, bounded_versions(), QUIET),
    Probe(
        "set-default-version-other-read",
        RHINO,
        versions(stored=doc(allow("cloudwatch:ListMetrics")), held_by_probe=False),
        QUIET,
    ),
]


def _loud(found: list[Finding], names: set[str]) -> list[tuple[str, str]]:
    return [
        (f["principal_name"], f["check_id"]) for f in found if f["category"] in LOUD and f["principal_name"] in names
    ]


@pytest.mark.parametrize("probe", POSITIVES, ids=lambda p: p.name)
def test_it_flags_the_escalating_principal(probe: Probe):
    found = [f for f in findings(probe.build()) if f["principal_name"] == probe.principal]
    kinds = [f["check_id"] for f in found]
    assert probe.expect in kinds, f"{probe.name} ({probe.source}): expected {probe.expect}, got {kinds}"
    if probe.method:
        [finding] = [f for f in found if f["check_id"] == probe.expect]
        methods = [hop["method"] for hop in finding["evidence"]["path"]]
        assert probe.method in methods, f"{probe.name}: path {methods}"


@pytest.mark.parametrize("probe", NEAR_MISSES, ids=lambda p: p.name)
def test_it_keeps_the_near_miss_quiet(probe: Probe):
    snap = probe.build()
    principal = next(u for u in [*snap.users, *snap.roles] if probe.principal in (u.get("UserName"), u.get("RoleName")))
    held = {p["PolicyName"] for p in principal["AttachedManagedPolicies"]}
    loud = _loud(findings(snap), {probe.principal} | held)
    assert not loud, f"{probe.name} ({probe.source}) must stay quiet: {loud}"


def test_it_keeps_both_sides_large():
    assert len(POSITIVES) >= 40 and len(NEAR_MISSES) >= len(POSITIVES)
    assert len({p.name for p in POSITIVES + NEAR_MISSES}) == len(POSITIVES) + len(NEAR_MISSES)
