"""Build the literature account: a get-account-authorization-details export (account 111122223333) holding every
privilege-escalation method of the public literature as a positive and the near-misses that must stay quiet, plus
expected.json saying, per principal ARN, what a correct engine concludes and why.

    .venv/bin/python tests/iam/scenarios/build_literature_account.py          # rewrites both files
    .venv/bin/python tests/iam/scenarios/build_literature_account.py --check  # exit 1 if they are stale

Sources (read, not copied: every document here is written for this account):
- RHINO: Rhino Security Labs, "AWS IAM Privilege Escalation - Methods and Mitigation" (Spencer Gietzen), 21 methods.
- IAMV: BishopFox/iam-vulnerable, modules/free-resources/privesc-paths/*.tf and tool-testing/{fn,fp}*.tf: each
  scenario as a user and as a role holding the same managed policy, named as there.
- PMAPPER: nccgroup/PMapper principalmapper/graphing/*_edges.py (edge checks) and its admin definition.
- PATHFINDING: pathfinding.cloud (Datadog) paths beyond Rhino's list (change sets, AddPermission, ECS, Glue jobs).
- AWSDOCS: IAM User Guide, "Policy evaluation logic", "Permissions boundaries", "IAM JSON policy elements:
  Condition / NotResource", "Policy variables" and the service authorization reference (resourceless actions).

Expectations: "positive" principals can become admin or gain strictly more rights (admin principals count: they
must carry admin_access); "near-miss" principals must stay quiet, neither on themselves nor on a managed policy they
hold. "indirect" principals (the role variants of iam-vulnerable's user/group-only methods, and the user variants of
its role-only methods) can hand rights to others but cannot use them themselves: recorded, not asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCOUNT = "111122223333"
OUTSIDER = "444455556666"  # iam-vulnerable's var.aws_assume_role_arn: the tester's own account
A = f"arn:aws:iam::{ACCOUNT}"
CREATED = "2025-06-01T00:00:00Z"

RHINO = "Rhino Security Labs, AWS IAM privilege escalation methods"
IAMV = "BishopFox/iam-vulnerable modules/free-resources/privesc-paths"
IAMV_TT = "BishopFox/iam-vulnerable modules/free-resources/tool-testing"
PMAPPER = "nccgroup/PMapper principalmapper/graphing"
PATHFINDING = "pathfinding.cloud"
AWSDOCS = "AWS IAM User Guide, policy evaluation logic"

POSITIVE, NEAR_MISS, INDIRECT = "positive", "near-miss", "indirect"
# Holds an escalation method whose Resource covers targets created later, with no target today: reported as
# principal_latent_escalation (what would complete it), never as an escalation now nor as "cancelled".
LATENT = "latent"
CHAINS = "engine issue: self-changes followed to a fixpoint"


def allow(actions, resources="*", **extra) -> dict:
    key = "NotResource" if extra.pop("not_resource", False) else "Resource"
    return {"Effect": "Allow", "Action": actions, key: resources, **extra}


def deny(actions, resources="*", **extra) -> dict:
    key = "NotResource" if extra.pop("not_resource", False) else "Resource"
    return {"Effect": "Deny", "Action": actions, key: resources, **extra}


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ADMIN_DOC = doc(allow("*"))
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
AWS_MANAGED = {"AdministratorAccess", "CloudWatchReadOnlyAccess"}  # policy names stored under arn:aws:iam::aws
READ_ACTIONS = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "logs:DescribeLogGroups"]
READ_DOC = doc(allow(READ_ACTIONS))


@dataclass
class Scenario:
    """One literature case, instantiated as a user and/or a role holding the managed policy `name`."""

    name: str
    method: str
    source: str
    document: dict | None = None  # None: the scenario holds no managed policy of its own
    user: str | None = POSITIVE  # expectation for the user variant, None: no user variant
    role: str | None = POSITIVE
    reason: str = ""  # near-miss / indirect: why it must stay quiet
    extra_policies: tuple[str, ...] = ()  # further managed policy names (declared in EXTRA_POLICIES)
    inline: dict | None = None  # inline policy on the principal
    boundary: str | None = None  # managed policy name used as permissions boundary
    groups: tuple[str, ...] = ()  # groups the user variant joins
    versions: list[dict] = field(default_factory=list)  # extra non-default versions of the scenario policy
    default_version: str = "v1"
    tags: dict[str, str] = field(default_factory=dict)  # principal tags (aws:PrincipalTag/*)


def v(number: int, document: dict) -> dict:
    return {"VersionId": f"v{number}", "Document": document}


SCENARIOS: list[Scenario] = [
    # --- IAM permission methods (Rhino 1-14, iam-vulnerable privesc1-14) -------------------------------------------
    Scenario(
        "privesc1-CreateNewPolicyVersion",
        "iam:CreatePolicyVersion",
        f"{RHINO} #1; {IAMV}",
        doc(allow("iam:CreatePolicyVersion")),
    ),
    Scenario(
        "privesc2-SetExistingDefaultPolicyVersion",
        "iam:SetDefaultPolicyVersion",
        f"{RHINO} #2; {IAMV}",
        doc(allow("iam:SetDefaultPolicyVersion")),
        versions=[v(2, ADMIN_DOC)],
    ),
    Scenario(
        "privesc3-CreateEC2WithExistingInstanceProfile",
        "iam:PassRole + ec2:RunInstances",
        f"{RHINO} #3; {IAMV}",
        doc(allow(["iam:PassRole", "ec2:RunInstances", "ec2:DescribeInstances"])),
    ),
    Scenario(
        "privesc4-CreateAccessKey", "iam:CreateAccessKey", f"{RHINO} #4; {IAMV}", doc(allow("iam:CreateAccessKey"))
    ),
    Scenario(
        "privesc5-CreateLoginProfile",
        "iam:CreateLoginProfile",
        f"{RHINO} #5; {IAMV}",
        doc(allow("iam:CreateLoginProfile")),
    ),
    Scenario(
        "privesc6-UpdateLoginProfile",
        "iam:UpdateLoginProfile",
        f"{RHINO} #6; {IAMV}",
        doc(allow("iam:UpdateLoginProfile")),
    ),
    Scenario(
        "privesc7-AttachUserPolicy",
        "iam:AttachUserPolicy",
        f"{RHINO} #7; {IAMV}",
        doc(allow("iam:AttachUserPolicy")),
        role=INDIRECT,
        reason="a role can attach policies to users only, and it cannot become any user",
    ),
    Scenario(
        "privesc8-AttachGroupPolicy",
        "iam:AttachGroupPolicy",
        f"{RHINO} #8; {IAMV}",
        doc(allow("iam:AttachGroupPolicy")),
        role=INDIRECT,
        groups=("privesc8-AttachGroupPolicy-group",),
        reason="a role is never a group member, so a policy attached to a group gives it nothing",
    ),
    Scenario(
        "privesc9-AttachRolePolicy",
        "iam:AttachRolePolicy",
        f"{RHINO} #9; {IAMV}",
        doc(allow("iam:AttachRolePolicy")),
        user=INDIRECT,
        reason="the user can attach policies to roles but may assume none of them (no sts:AssumeRole, "
        "no trust names it)",
    ),
    Scenario(
        "privesc10-PutUserPolicy",
        "iam:PutUserPolicy",
        f"{RHINO} #10; {IAMV}",
        doc(allow("iam:PutUserPolicy")),
        role=INDIRECT,
        reason="a role can write inline policies on users only, and it cannot become any user",
    ),
    Scenario(
        "privesc11-PutGroupPolicy",
        "iam:PutGroupPolicy",
        f"{RHINO} #11; {IAMV}",
        doc(allow("iam:PutGroupPolicy")),
        role=INDIRECT,
        groups=("privesc11-PutGroupPolicy-group",),
        reason="a role is never a group member, so a group's inline policy gives it nothing",
    ),
    Scenario(
        "privesc12-PutRolePolicy",
        "iam:PutRolePolicy",
        f"{RHINO} #12; {IAMV}",
        doc(allow("iam:PutRolePolicy")),
        user=INDIRECT,
        reason="the user can write role policies but may assume no role",
    ),
    Scenario(
        "privesc13-AddUserToGroup",
        "iam:AddUserToGroup",
        f"{RHINO} #13; {IAMV}",
        doc(allow("iam:AddUserToGroup")),
        role=INDIRECT,
        reason="a role cannot be added to a group",
    ),
    Scenario(
        "privesc14-UpdatingAssumeRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        f"{RHINO} #14; {IAMV}",
        doc(allow("iam:UpdateAssumeRolePolicy")),
    ),
    # --- PassRole to a new compute resource (Rhino 15-21, iam-vulnerable privesc15-21) -----------------------------
    Scenario(
        "privesc15-PassExistingRoleToNewLambdaThenInvoke",
        "iam:PassRole + lambda:CreateFunction + lambda:InvokeFunction",
        f"{RHINO} #15; {IAMV}",
        doc(allow(["lambda:CreateFunction", "iam:PassRole", "lambda:InvokeFunction"])),
    ),
    Scenario(
        "privesc16-PassRoleToNewLambdaThenTriggerWithNewDynamo",
        "iam:PassRole + lambda:CreateFunction + lambda:CreateEventSourceMapping",
        f"{RHINO} #16; {IAMV}",
        doc(
            allow(
                [
                    "lambda:CreateFunction",
                    "iam:PassRole",
                    "lambda:CreateEventSourceMapping",
                    "dynamodb:CreateTable",
                    "dynamodb:PutItem",
                ]
            )
        ),
    ),
    Scenario(
        "privesc17-EditExistingLambdaFunctionWithRole",
        "lambda:UpdateFunctionCode",
        f"{RHINO} #17; {IAMV}",
        doc(allow(["lambda:UpdateFunctionCode", "lambda:ListFunctions", "lambda:InvokeFunction"])),
    ),
    Scenario(
        "privesc18-PassExistingRoleToNewGlueDevEndpoint",
        "iam:PassRole + glue:CreateDevEndpoint",
        f"{RHINO} #18; {IAMV}",
        doc(allow(["iam:PassRole", "glue:CreateDevEndpoint", "glue:GetDevEndpoint"])),
    ),
    Scenario(
        "privesc19-UpdateExistingGlueDevEndpoint",
        "glue:UpdateDevEndpoint",
        f"{RHINO} #19; {IAMV}",
        doc(allow(["glue:UpdateDevEndpoint", "glue:GetDevEndpoint", "glue:GetDevEndpoints"])),
    ),
    Scenario(
        "privesc20-PassExistingRoleToCloudFormation",
        "iam:PassRole + cloudformation:CreateStack",
        f"{RHINO} #20; {IAMV}",
        doc(allow(["iam:PassRole", "cloudformation:CreateStack", "cloudformation:DescribeStacks"])),
    ),
    Scenario(
        "privesc21-PassExistingRoleToNewDataPipeline",
        "iam:PassRole + datapipeline:CreatePipeline + datapipeline:PutPipelineDefinition",
        f"{RHINO} #21; {IAMV}",
        doc(
            allow(
                [
                    "iam:PassRole",
                    "datapipeline:CreatePipeline",
                    "datapipeline:PutPipelineDefinition",
                    "datapipeline:ActivatePipeline",
                ]
            )
        ),
    ),
    # --- iam-vulnerable's non-Rhino paths and PMapper's edge checks -------------------------------------------------
    Scenario(
        "privesc-AssumeRole",
        "sts:AssumeRole (admin role trusting the account root)",
        f"{IAMV}; {PMAPPER} sts_edges",
        doc(allow("sts:AssumeRole")),
    ),
    Scenario(
        "privesc-cloudFormationUpdateStack",
        "cloudformation:UpdateStack",
        f"{IAMV}; {PMAPPER} cloudformation_edges",
        doc(allow(["cloudformation:UpdateStack", "cloudformation:DescribeStacks"])),
    ),
    Scenario(
        "privesc-codeBuildCreateProjectPassRole",
        "iam:PassRole + codebuild:CreateProject + codebuild:StartBuild",
        f"{IAMV}; {PMAPPER} codebuild_edges",
        doc(allow(["iam:PassRole", "codebuild:CreateProject", "codebuild:StartBuild"])),
    ),
    Scenario(
        "privesc-ec2InstanceConnect",
        "ec2-instance-connect:SendSSHPublicKey",
        f"{IAMV}",
        doc(allow(["ec2-instance-connect:SendSSHPublicKey", "ec2:DescribeInstances"])),
    ),
    Scenario(
        "privesc-sageMakerCreateNotebookPassRole",
        "iam:PassRole + sagemaker:CreateNotebookInstance + sagemaker:CreatePresignedNotebookInstanceUrl",
        f"{IAMV}; {PMAPPER} sagemaker_edges",
        doc(
            allow(["iam:PassRole", "sagemaker:CreateNotebookInstance", "sagemaker:CreatePresignedNotebookInstanceUrl"])
        ),
    ),
    Scenario(
        "privesc-sageMakerCreatePresignedNotebookURL",
        "sagemaker:CreatePresignedNotebookInstanceUrl",
        f"{IAMV}",
        doc(allow(["sagemaker:CreatePresignedNotebookInstanceUrl", "sagemaker:ListNotebookInstances"])),
    ),
    Scenario(
        "privesc-sageMakerCreateProcessingJob",
        "iam:PassRole + sagemaker:CreateProcessingJob",
        f"{IAMV}",
        doc(allow(["iam:PassRole", "sagemaker:CreateProcessingJob"])),
    ),
    Scenario(
        "privesc-sageMakerCreateTrainingJob",
        "iam:PassRole + sagemaker:CreateTrainingJob",
        f"{IAMV}",
        doc(allow(["iam:PassRole", "sagemaker:CreateTrainingJob"])),
    ),
    Scenario(
        "privesc-ssmSendCommand",
        "ssm:SendCommand",
        f"{IAMV}; {PMAPPER} ssm_edges",
        doc(allow(["ssm:SendCommand", "ssm:ListCommandInvocations", "ec2:DescribeInstances"])),
    ),
    Scenario(
        "privesc-ssmStartSession",
        "ssm:StartSession",
        f"{IAMV}; {PMAPPER} ssm_edges",
        doc(allow(["ssm:StartSession", "ec2:DescribeInstances"])),
    ),
    # --- pathfinding.cloud paths beyond Rhino's list -----------------------------------------------------------------
    Scenario(
        "pf-lambdaAddPermission",
        "iam:PassRole + lambda:CreateFunction + lambda:AddPermission",
        f"{PATHFINDING} lambda",
        doc(allow(["iam:PassRole", "lambda:CreateFunction", "lambda:AddPermission"])),
    ),
    Scenario(
        "pf-glueCreateJob",
        "iam:PassRole + glue:CreateJob + glue:StartJobRun",
        f"{PATHFINDING} glue",
        doc(allow(["iam:PassRole", "glue:CreateJob", "glue:StartJobRun"])),
    ),
    Scenario(
        "pf-ecsRunTask",
        "iam:PassRole + ecs:RegisterTaskDefinition + ecs:RunTask",
        f"{PATHFINDING} ecs",
        doc(allow(["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:RunTask"])),
    ),
    Scenario(
        "pf-cloudFormationChangeSet",
        "cloudformation:CreateChangeSet + cloudformation:ExecuteChangeSet",
        f"{PATHFINDING} cloudformation",
        doc(
            allow(
                ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DescribeStacks"]
            )
        ),
    ),
    Scenario(
        "pf-codeBuildStartBuildOverride",
        "codebuild:StartBuild (buildspec override on an existing project)",
        f"{PATHFINDING} codebuild",
        doc(allow(["codebuild:StartBuild", "codebuild:BatchGetBuilds"])),
    ),
    Scenario(
        "pf-codeBuildUpdateProject",
        "iam:PassRole + codebuild:UpdateProject + codebuild:StartBuild",
        f"{PATHFINDING} codebuild",
        doc(allow(["iam:PassRole", "codebuild:UpdateProject", "codebuild:StartBuild"])),
    ),
    # pathfinding.cloud's further paths: new resources running a passed role, takeovers of existing ones
    *(
        Scenario(f"pf-{name}", " + ".join(actions), f"{PATHFINDING} {path}", doc(allow(list(actions))))
        for name, path, actions in (
            ("ecsRunTaskOverride", "ecs-008", ("iam:PassRole", "ecs:RunTask")),
            ("ecsStartTaskOverride", "ecs-009", ("iam:PassRole", "ecs:StartTask")),
            ("glueInteractiveSession", "glue-007", ("iam:PassRole", "glue:CreateSession", "glue:RunStatement")),
            (
                "emrServerlessJob",
                "emrserverless-001",
                ("iam:PassRole", "emr-serverless:CreateApplication", "emr-serverless:StartJobRun"),
            ),
            (
                "flinkApplication",
                "kinesisanalytics-001",
                ("iam:PassRole", "kinesisanalytics:CreateApplication", "kinesisanalytics:StartApplication"),
            ),
            ("braketJob", "braket-001", ("iam:PassRole", "braket:CreateJob")),
            ("omicsWorkflow", "omics-001", ("iam:PassRole", "omics:CreateWorkflow", "omics:StartRun", "s3:GetObject")),
            (
                "gameLiftFleet",
                "gamelift-001",
                ("iam:PassRole", "gamelift:CreateBuild", "gamelift:CreateFleet", "gamelift:RequestUploadCredentials"),
            ),
            (
                "imageBuilderImage",
                "imagebuilder-001",
                (
                    "iam:PassRole",
                    "imagebuilder:CreateComponent",
                    "imagebuilder:CreateImageRecipe",
                    "imagebuilder:CreateInfrastructureConfiguration",
                    "imagebuilder:CreateImage",
                ),
            ),
            ("ssmAutomation", "ssm-003", ("iam:PassRole", "ssm:CreateDocument", "ssm:StartAutomationExecution")),
            (
                "agentCoreRuntime",
                "bedrock-003",
                (
                    "iam:PassRole",
                    "bedrock-agentcore:CreateAgentRuntime",
                    "bedrock-agentcore:CreateAgentRuntimeEndpoint",
                    "bedrock-agentcore:CreateWorkloadIdentity",
                    "bedrock-agentcore:InvokeAgentRuntimeCommand",
                ),
            ),
            (
                "agentCoreBrowser",
                "bedrock-006",
                (
                    "iam:PassRole",
                    "bedrock-agentcore:CreateBrowser",
                    "bedrock-agentcore:StartBrowserSession",
                    "bedrock-agentcore:ConnectBrowserAutomationStream",
                ),
            ),
            (
                "cognitoIdentityPoolRoles",
                "cognitoidentity-001",
                ("iam:PassRole", "cognito-identity:SetIdentityPoolRoles"),
            ),
            ("appRunnerUpdateService", "apprunner-002", ("apprunner:UpdateService",)),
            ("batchSubmitJob", "batch-002", ("batch:SubmitJob",)),
            ("agentCoreRuntimeCommand", "bedrock-004", ("bedrock-agentcore:InvokeAgentRuntimeCommand",)),
            (
                "agentCoreBrowserSession",
                "bedrock-007",
                ("bedrock-agentcore:StartBrowserSession", "bedrock-agentcore:ConnectBrowserAutomationStream"),
            ),
            (
                "agentCoreInterpreterSession",
                "bedrock-002",
                ("bedrock-agentcore:StartCodeInterpreterSession", "bedrock-agentcore:InvokeCodeInterpreter"),
            ),
            ("ec2LaunchTemplateVersion", "ec2-004", ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate")),
            (
                "codeDeployDeployment",
                "codedeploy-001",
                (
                    "codedeploy:CreateDeployment",
                    "codedeploy:RegisterApplicationRevision",
                    "codedeploy:GetDeploymentConfig",
                ),
            ),
        )
    ),
    Scenario(
        "nm-pf-ecsRunTaskPassRoleToLambdaOnly",
        "iam:PassRole only to lambda.amazonaws.com + ecs:RunTask",
        f"{PATHFINDING} ecs-008; {AWSDOCS}: iam:PassedToService",
        doc(
            allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
            allow("ecs:RunTask"),
        ),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the task role override needs PassRole to ECS tasks; it may pass roles to Lambda only",
    ),
    Scenario(
        "nm-pf-braketWithoutPassRole",
        "braket:CreateJob without iam:PassRole",
        f"{PATHFINDING} braket-001",
        doc(allow(["braket:CreateJob", "braket:GetJob"])),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="a Braket job runs with the role it is given, and it may pass none",
    ),
    Scenario(
        "nm-pf-cognitoPassRoleToEc2Only",
        "iam:PassRole only to ec2.amazonaws.com + cognito-identity:SetIdentityPoolRoles",
        f"{PATHFINDING} cognitoidentity-001; {AWSDOCS}: iam:PassedToService",
        doc(
            allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
            allow("cognito-identity:SetIdentityPoolRoles"),
        ),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="setting a pool's role passes it to Cognito, and it may pass roles to EC2 only",
    ),
    Scenario(
        "nm-pf-ssmAutomationHalf",
        "iam:PassRole + ssm:StartAutomationExecution, no ssm:CreateDocument",
        f"{PATHFINDING} ssm-003",
        doc(allow(["iam:PassRole", "ssm:StartAutomationExecution"])),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="without its own document an Automation run executes only documents it did not write",
    ),
    Scenario(
        "nm-pf-launchTemplateVersionOnly",
        "ec2:CreateLaunchTemplateVersion without ec2:ModifyLaunchTemplate",
        f"{PATHFINDING} ec2-004",
        doc(allow(["ec2:CreateLaunchTemplateVersion", "ec2:DescribeLaunchTemplates"])),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="a new version that is not made the default launches nothing",
    ),
    # --- resource scopes, conditions and policy shapes (issue 8, iam-vulnerable fn*, AWS docs) -----------------------
    Scenario(
        "scoped-CreatePolicyVersionOnOwnPolicy",
        "iam:CreatePolicyVersion (own attached policy ARN only)",
        "issue 8; iam-vulnerable fn2",
        doc(allow("iam:CreatePolicyVersion", f"{A}:policy/scoped-CreatePolicyVersionOnOwnPolicy")),
    ),
    Scenario(
        "scoped-PassRoleToAdminEc2",
        "iam:PassRole (admin role ARN only) + ec2:RunInstances",
        "issue 8",
        doc(allow("iam:PassRole", f"{A}:role/target-admin-ec2"), allow("ec2:RunInstances")),
    ),
    Scenario(
        "fn1-privesc3-multiple-policies",
        "iam:PassRole + ec2:RunInstances across two policies",
        IAMV_TT,
        doc(allow("iam:PassRole")),
        extra_policies=("fn1-ec2RunInstances",),
    ),
    Scenario(
        "fn2-exploitableResourceConstraint",
        "iam:CreatePolicyVersion (policy/fn2-* covers its own)",
        IAMV_TT,
        doc(allow("iam:CreatePolicyVersion", "arn:aws:iam::*:policy/fn2-*")),
    ),
    Scenario(
        "fn3-exploitableConditionConstraint",
        "iam:CreatePolicyVersion (aws:TokenIssueTime after 2020)",
        IAMV_TT,
        doc(
            allow(
                "iam:CreatePolicyVersion", Condition={"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}
            )
        ),
    ),
    Scenario(
        "fn4-exploitableNotAction",
        "NotAction iam:Update*/Create*/Attach* leaves iam:Put*Policy and PassRole",
        IAMV_TT,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "NotAction": ["iam:Update*", "iam:Create*", "iam:Attach*"], "Resource": "*"}
            ],
        },
    ),
    Scenario(
        "docs-NotResourceAllow",
        "iam:CreateAccessKey via NotResource (every user but one)",
        f"{AWSDOCS}: NotResource",
        doc(allow("iam:CreateAccessKey", f"{A}:user/nobody", not_resource=True)),
    ),
    Scenario(
        "docs-MfaConditioned",
        "iam:CreateAccessKey only with MFA (conditional)",
        f"{AWSDOCS}: Condition",
        doc(allow("iam:CreateAccessKey", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
    ),
    Scenario(
        "docs-CurrentTimeAlwaysTrue",
        "iam:CreatePolicyVersion (aws:CurrentTime after 2020: always true)",
        f"{AWSDOCS}: Condition",
        doc(
            allow("iam:CreatePolicyVersion", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})
        ),
    ),
    Scenario(
        "boundary-DeletePermissionsBoundary",
        "iam:DeleteUserPermissionsBoundary / iam:DeleteRolePermissionsBoundary (boundary removal)",
        f"{PATHFINDING} iam; {AWSDOCS}: boundaries",
        ADMIN_DOC,
        boundary="boundary-allows-boundary-removal",
    ),
    Scenario(
        "trust-NamedInAdminTrust",
        "sts:AssumeRole (admin role trust names the principal)",
        f"{AWSDOCS}: same-account resource policy; {PMAPPER} sts_edges",
        doc(allow("s3:ListAllMyBuckets")),
    ),
    # --- near-misses: iam-vulnerable fp*, Deny scopes, boundaries, conditions, scopes, versions ----------------------
    Scenario(
        "fp1-allow-and-deny",
        "iam:* allowed and denied in one policy",
        IAMV_TT,
        doc(allow("iam:*"), deny("iam:*")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="explicit Deny iam:* in the same policy wins",
    ),
    Scenario(
        "fp2-allow-all",
        "allow-all cancelled by a deny-all policy",
        IAMV_TT,
        ADMIN_DOC,
        user=NEAR_MISS,
        role=NEAR_MISS,
        extra_policies=("deny-all",),
        reason="deny-all on every holder cancels the allow-all policy: no holder is admin",
    ),
    Scenario(
        "fp3-deny-iam",
        "Deny iam:* only",
        IAMV_TT,
        doc(deny("iam:*")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="grants nothing at all",
    ),
    Scenario(
        "fp4-nonExploitableResourceConstraint",
        "iam:CreatePolicyVersion on arn:aws:iam::aws:policy/fp4-*",
        IAMV_TT,
        doc(allow("iam:CreatePolicyVersion", "arn:aws:iam::aws:policy/fp4-*")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="AWS managed policies cannot be versioned by a customer, and no such policy is attached to it",
    ),
    Scenario(
        "fp5-nonExploitableConditionConstraint",
        "iam:CreatePolicyVersion with aws:TokenIssueTime before 2020",
        IAMV_TT,
        doc(
            allow("iam:CreatePolicyVersion", Condition={"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}})
        ),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="no session today was issued before 2020: never true",
    ),
    Scenario(
        "nm-DenyUserStar",
        "iam:CreateAccessKey allowed, denied on user/*",
        "issue 8",
        doc(allow("iam:CreateAccessKey"), deny("iam:CreateAccessKey", f"{A}:user/*")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="Deny on arn:aws:iam::111122223333:user/* covers every user",
    ),
    Scenario(
        "nm-DenyNotResource",
        "iam:* allowed, denied with NotResource on one unattached policy",
        f"issue 8; {AWSDOCS}: NotResource",
        doc(allow("iam:*"), deny("iam:*", f"{A}:policy/nm-unattached-policy", not_resource=True)),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the NotResource Deny denies iam:* on every resource but a policy attached to nobody",
    ),
    Scenario(
        "nm-DenyOnGroup",
        "iam:AttachUserPolicy allowed, Deny iam:* on the user's group",
        "issue 8",
        doc(allow("iam:AttachUserPolicy")),
        role=None,
        user=NEAR_MISS,
        groups=("nm-deny-iam-group",),
        reason="the group's Deny iam:* applies to its member",
    ),
    Scenario(
        "nm-BoundaryCutsMethod",
        "iam:CreateAccessKey outside the permissions boundary",
        f"{AWSDOCS}: boundaries",
        doc(allow("iam:CreateAccessKey")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        boundary="boundary-read-only",
        reason="the boundary allows only CloudWatch reads",
    ),
    Scenario(
        "nm-BoundaryCutsAdmin",
        "AdministratorAccess under a read-only boundary",
        f"{AWSDOCS}: boundaries",
        ADMIN_DOC,
        user=NEAR_MISS,
        role=NEAR_MISS,
        boundary="boundary-read-only",
        reason="the boundary allows only CloudWatch reads and not its own removal",
    ),
    Scenario(
        "nm-BoundaryCutsPassRole",
        "iam:PassRole + ec2:RunInstances outside the boundary",
        f"{AWSDOCS}: boundaries",
        doc(allow(["iam:PassRole", "ec2:RunInstances"])),
        user=NEAR_MISS,
        role=NEAR_MISS,
        boundary="boundary-read-only",
        reason="the boundary allows only CloudWatch reads",
    ),
    Scenario(
        "nm-CurrentTimeNever",
        "iam:CreatePolicyVersion with aws:CurrentTime before 2020",
        f"{AWSDOCS}: Condition",
        doc(allow("iam:CreatePolicyVersion", Condition={"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="aws:CurrentTime before 2020 never holds",
    ),
    Scenario(
        "nm-PassRoleHarmlessOnly",
        "iam:PassRole on a harmless role + ec2:RunInstances",
        "issue 8",
        doc(allow("iam:PassRole", f"{A}:role/target-harmless-ec2"), allow("ec2:RunInstances"), allow(READ_ACTIONS)),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the only role it may pass holds the CloudWatch reads it already has",
    ),
    Scenario(
        "nm-PassedToServiceUnusable",
        "iam:PassRole only to lambda.amazonaws.com + ec2:RunInstances",
        "issue 8",
        doc(
            allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
            allow("ec2:RunInstances"),
        ),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="it may pass roles to Lambda only and has no Lambda rights; EC2 cannot receive the role",
    ),
    Scenario(
        "nm-ResourcelessOnArnGlue",
        "iam:PassRole + glue:CreateDevEndpoint granted on one endpoint ARN",
        f"{AWSDOCS}: service authorization reference",
        doc(
            allow("iam:PassRole"),
            allow("glue:CreateDevEndpoint", f"arn:aws:glue:us-east-1:{ACCOUNT}:devEndpoint/dev"),
            allow("glue:GetDevEndpoint", f"arn:aws:glue:us-east-1:{ACCOUNT}:devEndpoint/dev"),
        ),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="glue:CreateDevEndpoint supports no resource-level permissions: an ARN-scoped grant is void",
    ),
    Scenario(
        "nm-ResourcelessOnArnDataPipeline",
        "iam:PassRole + datapipeline:CreatePipeline on one pipeline ARN",
        f"{AWSDOCS}: service authorization reference",
        doc(
            allow("iam:PassRole"),
            allow(
                ["datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition", "datapipeline:ActivatePipeline"],
                f"arn:aws:datapipeline:us-east-1:{ACCOUNT}:pipeline/df-0001",
            ),
        ),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="datapipeline:CreatePipeline supports no resource-level permissions: it cannot create one",
    ),
    Scenario(
        "nm-NonDefaultVersionAdmin",
        "policy whose non-default v2 is admin, default v1 harmless",
        f"{RHINO} #2 (counterpart)",
        READ_DOC,
        versions=[v(2, ADMIN_DOC)],
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="only the default version applies and it cannot change the default",
    ),
    Scenario(
        "nm-CreatePolicyVersionUnattached",
        "iam:CreatePolicyVersion on a policy attached to nobody",
        "issue 8",
        doc(allow(["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"], f"{A}:policy/nm-unattached-policy")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the only policy it may rewrite is attached to no principal",
    ),
    Scenario(
        "nm-AssumeRoleTrustRefuses",
        "sts:AssumeRole on an admin role trusting lambda.amazonaws.com only",
        f"{AWSDOCS}: roles; {PMAPPER} sts_edges",
        doc(allow("sts:AssumeRole", f"{A}:role/target-admin-lambda")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the admin role's trust admits only the Lambda service",
    ),
    Scenario(
        "nm-SingleHolderDenied",
        "allow-all managed policy cancelled by a Deny on its only holder",
        "issue 8",
        ADMIN_DOC,
        role=None,
        user=NEAR_MISS,
        inline={"deny-everything": doc(deny("*"))},
        reason="its only holder denies everything inline: no one is admin through the policy",
    ),
    Scenario(
        "nm-SelfAccessKeyOnly",
        "iam:CreateAccessKey on ${aws:username} only",
        f"{AWSDOCS}: policy variables",
        doc(allow(["iam:CreateAccessKey", "iam:UpdateLoginProfile"], f"{A}:user/${{aws:username}}")),
        role=None,
        user=NEAR_MISS,
        reason="a new key or password for oneself gives no new rights",
    ),
    Scenario(
        "nm-PassRoleAlone",
        "iam:PassRole on * with no service to pass to",
        PMAPPER,
        doc(allow(["iam:PassRole", "iam:GetRole", "iam:ListRoles"])),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="PassRole needs a service action to use the role",
    ),
    Scenario(
        "nm-RunInstancesAlone",
        "ec2:RunInstances without iam:PassRole",
        PMAPPER,
        doc(allow(["ec2:RunInstances", "ec2:DescribeInstances"])),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="an instance without a passed role runs with no AWS rights",
    ),
    # --- variants: the same methods reached through other policy shapes (AWS docs), so a fix cannot fit one form --
    Scenario(
        "var-TagConditionMatches",
        "iam:CreateAccessKey when aws:PrincipalTag/team is platform (it is)",
        f"{AWSDOCS}: ABAC, aws:PrincipalTag",
        doc(allow("iam:CreateAccessKey", Condition={"StringEquals": {"aws:PrincipalTag/team": "platform"}})),
        tags={"team": "platform"},
    ),
    Scenario(
        "var-PassedToServiceEc2",
        "iam:PassRole only to ec2.amazonaws.com + ec2:RunInstances",
        f"{AWSDOCS}: iam:PassedToService",
        doc(
            allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
            allow("ec2:RunInstances"),
        ),
    ),
    Scenario(
        "var-CaseInsensitiveAction",
        "iam:CreateAccessKey written IAM:createACCESSkey",
        f"{AWSDOCS}: Action (names are case-insensitive)",
        doc(allow("IAM:createACCESSkey")),
    ),
    Scenario(
        "var-DenyOnlyWithoutMfa",
        "iam:CreateAccessKey; Deny * when MFA is absent (with MFA: escalates)",
        f"{AWSDOCS}: example policy, deny access without MFA",
        doc(
            allow("iam:CreateAccessKey"), deny("*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})
        ),
    ),
    Scenario(
        "var-AccessKeyOnAdminUserOnly",
        "iam:CreateAccessKey on exactly the admin user's ARN",
        RHINO + " #4",
        doc(allow("iam:CreateAccessKey", f"{A}:user/target-admin-user")),
    ),
    Scenario(
        "var-PassRoleWildcardPath",
        "iam:PassRole on role/target-admin-* + lambda:CreateFunction + lambda:InvokeFunction",
        RHINO + " #15",
        doc(
            allow("iam:PassRole", f"{A}:role/target-admin-*"), allow(["lambda:CreateFunction", "lambda:InvokeFunction"])
        ),
    ),
    Scenario(
        "var-GroupManagedPassRole",
        "iam:PassRole + ec2:RunInstances through a group's managed policy",
        f"{RHINO} #3; AWS groups",
        None,
        role=None,
        groups=("var-group-managed",),
    ),
    Scenario(
        "var-UserInlinePutUserPolicy",
        "iam:PutUserPolicy in the user's own inline policy",
        RHINO + " #10",
        None,
        role=None,
        inline={"self-service": doc(allow("iam:PutUserPolicy", f"{A}:user/${{aws:username}}"))},
    ),
    Scenario(
        "var-RoleInlineAttachRolePolicy",
        "iam:AttachRolePolicy in the role's own inline policy",
        RHINO + " #9",
        None,
        user=None,
        inline={"self-service": doc(allow("iam:AttachRolePolicy"))},
    ),
    Scenario(
        "nm-TagConditionMismatch",
        "iam:CreateAccessKey when aws:PrincipalTag/team is platform (it is web)",
        f"{AWSDOCS}: ABAC, aws:PrincipalTag",
        doc(allow("iam:CreateAccessKey", Condition={"StringEquals": {"aws:PrincipalTag/team": "platform"}})),
        tags={"team": "web"},
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="its own team tag is web: the condition is known to fail",
    ),
    Scenario(
        "nm-DenyNotAction",
        "iam:CreateAccessKey; Deny NotAction s3:*/cloudwatch:*",
        f"{AWSDOCS}: NotAction",
        doc(allow("iam:CreateAccessKey"), {"Effect": "Deny", "NotAction": ["s3:*", "cloudwatch:*"], "Resource": "*"}),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the NotAction Deny denies every action outside S3 and CloudWatch",
    ),
    Scenario(
        "nm-AssumeRoleEmptyRole",
        "sts:AssumeRole on a role trusting the root that holds no policy",
        f"{IAMV_TT} privesc-permissive-role-trust",
        doc(allow("sts:AssumeRole", f"{A}:role/privesc-permissive-role-trust")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the only role it may assume holds nothing",
    ),
    Scenario(
        "nm-PassAdminRoleToWrongService",
        "iam:PassRole on the Lambda admin role + ec2:RunInstances",
        PMAPPER + " ec2_edges",
        doc(allow("iam:PassRole", f"{A}:role/target-admin-lambda"), allow("ec2:RunInstances")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the role it may pass trusts lambda.amazonaws.com only and has no instance profile: EC2 "
        "cannot use it, and it has no Lambda rights",
    ),
    Scenario(
        "nm-UpdateAssumeRoleHarmless",
        "iam:UpdateAssumeRolePolicy on a harmless role only",
        "issue 8",
        doc(allow("iam:UpdateAssumeRolePolicy", f"{A}:role/target-harmless-lambda"), allow(READ_ACTIONS)),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="the only role it may take over holds the CloudWatch reads it already has",
    ),
]

SCENARIOS += [
    # --- chains of self-changes, latent methods, grants to others (engine issue: what-if and fixpoint) -----------
    Scenario(
        "chain-AddUserToGroupThenIamStar",
        "iam:AddUserToGroup on a group granting iam:*, ec2:*, s3:* (then attach AdministratorAccess to oneself)",
        f"{CHAINS}; {RHINO} #13",
        doc(allow("iam:AddUserToGroup", f"{A}:group/chain-poweruser-group")),
        role=None,
    ),
    Scenario(
        "chain-BoundaryAllowsSelfRemoval",
        "iam:* under a boundary allowing only Put*Policy and Delete*PermissionsBoundary on itself",
        f"{CHAINS}; {AWSDOCS}: boundaries",
        doc(allow("iam:*")),
        boundary="chain-boundary-self-removal",
    ),
    Scenario(
        "chain-RoleCreatePolicyVersionOnHeld",
        "iam:CreatePolicyVersion (inline) on a customer-managed policy attached to the role itself",
        f"{CHAINS}; {RHINO} #1",
        None,
        user=None,
        inline={"versions": doc(allow("iam:CreatePolicyVersion", f"{A}:policy/chain-role-held"))},
        extra_policies=("chain-role-held",),
    ),
    Scenario(
        "nm-chain-BoundaryBlocksSecondStep",
        "iam:AddUserToGroup on the iam:* group, under a boundary allowing only iam:AddUserToGroup",
        f"{CHAINS}; {AWSDOCS}: boundaries",
        doc(allow("iam:AddUserToGroup", f"{A}:group/chain-poweruser-group")),
        role=None,
        user=NEAR_MISS,
        boundary="chain-boundary-join-only",
        reason="the boundary still applies after joining: it allows nothing but iam:AddUserToGroup",
    ),
    Scenario(
        "latent-PassRoleToFutureEc2Roles",
        "iam:PassRole on role/app-* + ec2:RunInstances, no role matching app-* exists",
        f"{CHAINS}; {RHINO} #3",
        doc(allow("iam:PassRole", f"{A}:role/app-*"), allow("ec2:RunInstances")),
        user=LATENT,
        role=LATENT,
        reason="any role matching role/app-* that trusts ec2.amazonaws.com and has more rights completes it",
    ),
    Scenario(
        "latent-SetDefaultPolicyVersionNoStoredVersion",
        "iam:SetDefaultPolicyVersion on policy/latent-*, no such policy has a privileged stored version",
        f"{CHAINS}; {RHINO} #2",
        doc(allow("iam:SetDefaultPolicyVersion", f"{A}:policy/latent-*")),
        user=LATENT,
        role=LATENT,
        reason="a held policy matching policy/latent-* with a stored version granting more rights completes it",
    ),
    Scenario(
        "ga-CreatePolicyVersionOnOthers",
        "iam:CreatePolicyVersion on * (inline), holding no customer-managed policy of its own",
        f"{CHAINS}; {RHINO} #1",
        None,
        inline={"versions": doc(allow("iam:CreatePolicyVersion"))},
        user=INDIRECT,
        role=None,
        reason="it rewrites customer-managed policies attached to other users and roles: grants admin to others",
    ),
    Scenario(
        "nm-AwsManagedPolicyVersions",
        "iam:CreatePolicyVersion + SetDefaultPolicyVersion on arn:aws:iam::aws:policy/*, holding an AWS policy",
        f"{CHAINS}; {AWSDOCS}: AWS managed policies",
        doc(allow(["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"], "arn:aws:iam::aws:policy/*")),
        extra_policies=("CloudWatchReadOnlyAccess",),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="AWS-managed policies cannot be changed by a customer (UnmodifiableEntity)",
    ),
    Scenario(
        "nm-ProtectedRoleTarget",
        "iam:PutRolePolicy + sts:AssumeRole on role/aws-reserved/* (an IAM Identity Center role trusting the account)",
        f"{CHAINS}; {AWSDOCS}: IAM Identity Center roles",
        doc(allow(["iam:PutRolePolicy", "iam:AttachRolePolicy", "sts:AssumeRole"], f"{A}:role/aws-reserved/*")),
        user=NEAR_MISS,
        role=NEAR_MISS,
        reason="roles under /aws-reserved/ cannot be changed through IAM (UnmodifiableEntity)",
    ),
]

# Principals that are the methods' targets, or plain cases of AWS semantics, declared directly.
EXTRA_POLICIES = {
    "fn1-ec2RunInstances": doc(allow(["ec2:RunInstances", "ec2:DescribeInstances"])),
    "deny-all": doc(deny("*")),
    "boundary-read-only": READ_DOC,
    "boundary-allows-boundary-removal": doc(
        allow(["iam:DeleteUserPermissionsBoundary", "iam:DeleteRolePermissionsBoundary"]),
        allow(["cloudwatch:GetMetricData"]),
    ),
    "nm-unattached-policy": READ_DOC,
    "target-read-only": READ_DOC,
    "group-inline-readonly": READ_DOC,
    "var-groupManagedPassRoleEc2": doc(allow(["iam:PassRole", "ec2:RunInstances"])),
    "chain-poweruser": doc(allow(["iam:*", "ec2:*", "s3:*"])),
    "chain-boundary-self-removal": doc(
        allow(
            ["iam:PutUserPolicy", "iam:DeleteUserPermissionsBoundary"], f"{A}:user/chain-BoundaryAllowsSelfRemoval-user"
        ),
        allow(
            ["iam:PutRolePolicy", "iam:DeleteRolePermissionsBoundary"], f"{A}:role/chain-BoundaryAllowsSelfRemoval-role"
        ),
    ),
    "chain-boundary-join-only": doc(allow("iam:AddUserToGroup")),
    "chain-role-held": READ_DOC,
    "CloudWatchReadOnlyAccess": READ_DOC,
    "unattached-admin": ADMIN_DOC,  # attached to no one: admin_access, medium
}
# Customer-managed policies that are findings of their own: ARN -> the check and severity a correct engine gives.
POLICY_EXPECTATIONS = {
    f"{A}:policy/unattached-admin": {
        "check_id": "policy_admin_access",
        "severity": "medium",
        "source": "Prowler iam_customer_unattached_policy_no_administrative_privileges",
    },
}

SERVICE_ADMINS = {  # admin roles a PassRole / take-over method reaches, by the service they trust
    "target-admin-ec2": ["ec2.amazonaws.com"],
    "target-admin-lambda": ["lambda.amazonaws.com"],
    "target-admin-glue": ["glue.amazonaws.com"],
    "target-admin-cloudformation": ["cloudformation.amazonaws.com"],
    "target-admin-sagemaker": ["sagemaker.amazonaws.com"],
    "target-admin-codebuild": ["codebuild.amazonaws.com"],
    "target-admin-datapipeline": ["datapipeline.amazonaws.com", "elasticmapreduce.amazonaws.com"],
    "target-admin-ecs": ["ecs-tasks.amazonaws.com"],
    "target-admin-emr-serverless": ["emr-serverless.amazonaws.com"],
    "target-admin-flink": ["kinesisanalytics.amazonaws.com"],
    "target-admin-braket": ["braket.amazonaws.com"],
    "target-admin-omics": ["omics.amazonaws.com"],
    "target-admin-gamelift": ["gamelift.amazonaws.com"],
    "target-admin-ssm": ["ssm.amazonaws.com"],
    "target-admin-apprunner": ["tasks.apprunner.amazonaws.com"],
    "target-admin-agentcore": ["bedrock-agentcore.amazonaws.com"],
}


def trust(principal: dict, condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return doc(statement)


# iam-vulnerable's scenario roles trust the tester (another account); an ExternalId keeps that trust tidy.
SCENARIO_TRUST = trust(
    {"AWS": f"arn:aws:iam::{OUTSIDER}:root"}, {"StringEquals": {"sts:ExternalId": "iam-vulnerable-tester"}}
)


def managed(name: str, document: dict, versions: list[dict], default: str = "v1", attachments: int = 0) -> dict:
    arn = policy_arn(name)
    listed = [{"VersionId": "v1", "Document": document}, *versions]
    return {
        "PolicyName": name,
        "PolicyId": "ANPA" + _id(name),
        "Arn": arn,
        "Path": "/",
        "DefaultVersionId": default,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": CREATED,
        "UpdateDate": CREATED,
        "PolicyVersionList": [
            {**entry, "IsDefaultVersion": entry["VersionId"] == default, "CreateDate": CREATED} for entry in listed
        ],
    }


def policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}" if name in AWS_MANAGED else f"{A}:policy/{name}"


def _id(name: str) -> str:
    # Deterministic 17-character ids from the name (AWS's unique ids are opaque; tools only compare them).
    return hashlib.sha256(name.encode()).hexdigest()[:17].upper()


def _attached(names) -> list[dict]:
    return [{"PolicyName": n, "PolicyArn": policy_arn(n)} for n in names]


def _boundary(name: str | None) -> dict:
    if not name:
        return {}
    return {
        "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": f"{A}:policy/{name}"}
    }


def _inline(policies: dict | None, key: str) -> dict:
    return {key: [{"PolicyName": n, "PolicyDocument": d} for n, d in (policies or {}).items()]}


def _tags(tags: dict | None) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def make_user(name: str, policies=(), groups=(), inline=None, boundary=None, tags=None) -> dict:
    return {
        "Path": "/",
        "UserName": name,
        "UserId": "AIDA" + _id(name),
        "Arn": f"{A}:user/{name}",
        "CreateDate": CREATED,
        "GroupList": list(groups),
        "AttachedManagedPolicies": _attached(policies),
        "Tags": _tags(tags),
        **_inline(inline, "UserPolicyList"),
        **_boundary(boundary),
    }


def make_role(
    name: str, trust_doc: dict, policies=(), inline=None, boundary=None, profile: bool = False, tags=None
) -> dict:
    role = {
        "Path": "/",
        "RoleName": name,
        "RoleId": "AROA" + _id(name),
        "Arn": f"{A}:role/{name}",
        "CreateDate": CREATED,
        "AssumeRolePolicyDocument": trust_doc,
        "AttachedManagedPolicies": _attached(policies),
        "Tags": _tags(tags),
        "RoleLastUsed": {"LastUsedDate": "2026-11-01T00:00:00Z", "Region": "us-east-1"},
        "InstanceProfileList": [],
        **_inline(inline, "RolePolicyList"),
        **_boundary(boundary),
    }
    if profile:
        role["InstanceProfileList"] = [
            {
                "Path": "/",
                "InstanceProfileName": name,
                "InstanceProfileId": "AIPA" + _id(name),
                "Arn": f"{A}:instance-profile/{name}",
                "CreateDate": CREATED,
                "Roles": [
                    {
                        k: role[k]
                        for k in ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument")
                    }
                ],
            }
        ]
    return role


def make_group(name: str, policies=(), inline=None) -> dict:
    return {
        "Path": "/",
        "GroupName": name,
        "GroupId": "AGPA" + _id(name),
        "Arn": f"{A}:group/{name}",
        "CreateDate": CREATED,
        "AttachedManagedPolicies": _attached(policies),
        **_inline(inline, "GroupPolicyList"),
    }


def build() -> tuple[dict, dict]:
    users, roles, groups, expected = [], [], [], {}
    documents: dict[str, tuple[dict, list[dict], str]] = {"AdministratorAccess": (ADMIN_DOC, [], "v1")}
    documents.update({name: (d, [], "v1") for name, d in EXTRA_POLICIES.items()})

    def expect(
        arn: str, kind: str, method: str, source: str, reason: str = "", policies=(), scenario: str = ""
    ) -> None:
        # The scenario's own name after its prefix is the literature's name for it (iam-vulnerable / Rhino).
        named = scenario.split("-", 1)[1] if "-" in scenario else ""
        entry = {
            "expect": kind,
            "escalates": kind == POSITIVE,
            "methods": [method, *([named] if named else [])],
            "scenario": scenario or arn.rsplit("/", 1)[1],
            "source": source,
            "managed_policies": sorted(policy_arn(p) for p in policies),
        }
        if kind != POSITIVE:
            entry["reason"] = reason
        expected[arn] = entry

    for s in SCENARIOS:
        if s.document is not None:
            documents[s.name] = (s.document, s.versions, s.default_version)
        held = (s.name, *s.extra_policies) if s.document is not None else s.extra_policies
        if s.user:
            name = f"{s.name}-user"
            users.append(make_user(name, held, s.groups, s.inline, s.boundary, s.tags))
            expect(f"{A}:user/{name}", s.user, s.method, s.source, s.reason, held, s.name)
        if s.role:
            name = f"{s.name}-role"
            roles.append(
                make_role(name, SCENARIO_TRUST, held, s.inline if s.user is None else None, s.boundary, tags=s.tags)
            )
            expect(f"{A}:role/{name}", s.role, s.method, s.source, s.reason, held, s.name)

    # Targets the methods need.
    admin = "admin (can do every action on every resource)"
    for name, services in SERVICE_ADMINS.items():
        roles.append(
            make_role(
                name,
                trust({"Service": services if len(services) > 1 else services[0]}),
                ("AdministratorAccess",),
                profile=name == "target-admin-ec2",
            )
        )
        expect(f"{A}:role/{name}", POSITIVE, admin, f"{RHINO} (targets); {PMAPPER}", policies=("AdministratorAccess",))
    roles.append(
        make_role("target-admin-root-trust", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), ("AdministratorAccess",))
    )
    expect(
        f"{A}:role/target-admin-root-trust",
        POSITIVE,
        admin,
        f"{IAMV_TT} privesc-permissive-role-trust",
        policies=("AdministratorAccess",),
    )
    # An identity pool's role: trusts Cognito's federated principal (pathfinding.cloud cognitoidentity-001).
    cognito_trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "cognito-identity.amazonaws.com:aud": "us-east-1:0d1b2c3d-aaaa-bbbb-cccc-111122223333"
                },
                "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"},
            },
        }
    )
    roles.append(make_role("target-admin-cognito", cognito_trust, ("AdministratorAccess",)))
    expect(
        f"{A}:role/target-admin-cognito",
        POSITIVE,
        admin,
        f"{PATHFINDING} cognitoidentity-001",
        policies=("AdministratorAccess",),
    )
    named = [f"{A}:user/trust-NamedInAdminTrust-user", f"{A}:role/trust-NamedInAdminTrust-role"]
    roles.append(make_role("target-admin-named-trust", trust({"AWS": named}), ("AdministratorAccess",)))
    expect(f"{A}:role/target-admin-named-trust", POSITIVE, admin, AWSDOCS, policies=("AdministratorAccess",))
    users.append(make_user("target-admin-user", ("AdministratorAccess",), ("target-admin-group",)))
    expect(f"{A}:user/target-admin-user", POSITIVE, admin, f"{RHINO} #4-6 (target)", policies=("AdministratorAccess",))
    users.append(make_user("admin-inline-user", inline={"everything": ADMIN_DOC}))
    expect(f"{A}:user/admin-inline-user", POSITIVE, admin, PMAPPER)
    for name, service in (
        ("target-harmless-ec2", "ec2.amazonaws.com"),
        ("target-harmless-lambda", "lambda.amazonaws.com"),
    ):
        roles.append(make_role(name, trust({"Service": service}), ("target-read-only",), profile=name.endswith("ec2")))
        expect(
            f"{A}:role/{name}",
            NEAR_MISS,
            "none (CloudWatch reads)",
            "issue 8 (harmless target)",
            "holds CloudWatch reads only",
            ("target-read-only",),
        )
    sso = make_role(
        "AWSReservedSSO_ReadOnly_0123456789abcdef",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        ("target-read-only",),
    )
    sso["Path"] = "/aws-reserved/sso.amazonaws.com/"
    sso["Arn"] = f"{A}:role/aws-reserved/sso.amazonaws.com/{sso['RoleName']}"
    roles.append(sso)
    expect(
        sso["Arn"],
        NEAR_MISS,
        "none (CloudWatch reads; protected by IAM Identity Center)",
        f"{CHAINS} (protected target)",
        "holds CloudWatch reads only",
        ("target-read-only",),
    )
    roles.append(make_role("privesc-permissive-role-trust", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})))
    expect(
        f"{A}:role/privesc-permissive-role-trust",
        NEAR_MISS,
        "none (no policies)",
        f"{IAMV_TT} privesc-permissive-role-trust",
        "it holds no policy: trusting the root is a trust note, not an escalation",
    )
    # Group inline escalation, attributed to the member (issue 8).
    users.append(
        make_user("group-inline-escalation-user", ("group-inline-readonly",), ("group-inline-escalation-group",))
    )
    expect(
        f"{A}:user/group-inline-escalation-user",
        POSITIVE,
        "iam:CreateAccessKey via the group's inline policy",
        "issue 8; AWS groups",
        policies=("group-inline-readonly",),
    )

    groups += [
        make_group("target-admin-group", ("AdministratorAccess",)),
        make_group("privesc8-AttachGroupPolicy-group"),
        make_group("privesc11-PutGroupPolicy-group"),
        make_group("group-inline-escalation-group", inline={"keys-for-anyone": doc(allow("iam:CreateAccessKey"))}),
        make_group("nm-deny-iam-group", inline={"no-iam": doc(deny("iam:*"))}),
        make_group("var-group-managed", ("var-groupManagedPassRoleEc2",)),
        make_group("chain-poweruser-group", ("chain-poweruser",)),
    ]

    attachments: dict[str, int] = {}
    boundary_uses: dict[str, int] = {}
    for principal in [*users, *roles, *groups]:
        for attached in principal["AttachedManagedPolicies"]:
            attachments[attached["PolicyName"]] = attachments.get(attached["PolicyName"], 0) + 1
        if "PermissionsBoundary" in principal:
            name = principal["PermissionsBoundary"]["PermissionsBoundaryArn"].rsplit("/", 1)[1]
            boundary_uses[name] = boundary_uses.get(name, 0) + 1
    policies = []
    for name, (document, versions, default) in documents.items():
        policy = managed(name, document, versions, default, attachments.get(name, 0))
        policy["PermissionsBoundaryUsageCount"] = boundary_uses.get(name, 0)
        policies.append(policy)

    account = {"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": roles, "Policies": policies}
    counts = {k: sum(e["expect"] == k for e in expected.values()) for k in (POSITIVE, NEAR_MISS, INDIRECT, LATENT)}
    return account, {"account_id": ACCOUNT, "counts": counts, "principals": expected, "policies": POLICY_EXPECTATIONS}


def _dump(value: dict) -> str:
    return json.dumps(value, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the files differ from what this builds")
    args = parser.parse_args(argv)
    account, expected = build()
    outputs = {HERE / "literature_account.json": _dump(account), HERE / "expected.json": _dump(expected)}
    stale = [p.name for p, text in outputs.items() if not p.exists() or p.read_text() != text]
    if args.check:
        if stale:
            print(f"stale: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
