"""Privilege escalation: named methods a set of permissions allows, and role-assumption paths between principals.

Methods follow Rhino Security Labs' list and pathfinding.cloud (the set Cloudsplaining 0.9 checks), plus a few
more (SSM, EC2 Instance Connect, boundaries, Batch, EMR, Step Functions, Auto Scaling). Each method is a list of
requirements; a requirement is met by any one of its actions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from audits.iam.policy import ActionGrant, Permissions

# Which service principal runs what a PassRole method creates, keyed by the creating action's service.
PASS_TARGETS = {
    "ec2": ("ec2.amazonaws.com",),
    "autoscaling": ("ec2.amazonaws.com",),
    "lambda": ("lambda.amazonaws.com",),
    "glue": ("glue.amazonaws.com",),
    "cloudformation": ("cloudformation.amazonaws.com",),
    "datapipeline": ("datapipeline.amazonaws.com", "elasticmapreduce.amazonaws.com"),
    "sagemaker": ("sagemaker.amazonaws.com",),
    "codebuild": ("codebuild.amazonaws.com",),
    "ecs": ("ecs-tasks.amazonaws.com",),
    "apprunner": ("tasks.apprunner.amazonaws.com",),
    "bedrock-agentcore": ("bedrock-agentcore.amazonaws.com",),
    "batch": ("ecs-tasks.amazonaws.com",),
    "elasticmapreduce": ("elasticmapreduce.amazonaws.com", "ec2.amazonaws.com"),
    "states": ("states.amazonaws.com",),
    "emr-serverless": ("emr-serverless.amazonaws.com",),
    "kinesisanalytics": ("kinesisanalytics.amazonaws.com",),
    "braket": ("braket.amazonaws.com",),
    "omics": ("omics.amazonaws.com",),
    "gamelift": ("gamelift.amazonaws.com",),
    "imagebuilder": ("ec2.amazonaws.com",),  # the build instance runs with the passed instance profile's role
    "ssm": ("ssm.amazonaws.com",),  # Automation runs its steps as the passed AutomationAssumeRole
}


@dataclass(frozen=True)
class Method:
    name: str
    requires: tuple[tuple[str, ...], ...]
    how: str

    @property
    def passes_to(self) -> tuple[str, ...]:
        """Service principals a role passed by this method must trust (empty for methods without PassRole)."""
        if ("iam:passrole",) not in self.requires:
            return ()
        services = {a.partition(":")[0] for req in self.requires for a in req} - {"iam", "dynamodb"}
        return tuple(sorted({svc for s in services for svc in PASS_TARGETS.get(s, ())}))


def _m(name: str, how: str, *requires: str | tuple[str, ...]) -> Method:
    return Method(name, tuple((r,) if isinstance(r, str) else r for r in requires), how)


P = "iam:passrole"
METHODS: tuple[Method, ...] = (
    # IAM permissions on other principals and policies
    _m("CreateAccessKey", "create an access key for another (more privileged) user", "iam:createaccesskey"),
    _m("CreateLoginProfile", "set a console password for a user that has none", "iam:createloginprofile"),
    _m("UpdateLoginProfile", "change another user's console password", "iam:updateloginprofile"),
    _m("AddUserToGroup", "add oneself to a more privileged group", "iam:addusertogroup"),
    _m(
        "CreateNewPolicyVersion", "write a new default version of a managed policy one holds", "iam:createpolicyversion"
    ),
    _m(
        "SetExistingDefaultPolicyVersion",
        "switch a policy back to a more permissive old version",
        "iam:setdefaultpolicyversion",
    ),
    _m("AttachUserPolicy", "attach AdministratorAccess to oneself", "iam:attachuserpolicy"),
    _m("AttachGroupPolicy", "attach an admin policy to one's own group", "iam:attachgrouppolicy"),
    _m("AttachRolePolicy", "attach an admin policy to a role one can use", "iam:attachrolepolicy"),
    _m("PutUserPolicy", "write an inline admin policy on oneself", "iam:putuserpolicy"),
    _m("PutGroupPolicy", "write an inline admin policy on one's group", "iam:putgrouppolicy"),
    _m("PutRolePolicy", "write an inline admin policy on a role one can use", "iam:putrolepolicy"),
    _m(
        "UpdateRolePolicyToAssumeIt",
        "rewrite a privileged role's trust policy to trust oneself",
        "iam:updateassumerolepolicy",
    ),
    _m(
        "DeletePermissionsBoundary",
        "remove the permissions boundary that limits oneself",
        ("iam:deleteuserpermissionsboundary", "iam:deleterolepermissionsboundary"),
    ),
    _m(
        "PutPermissionsBoundary",
        "replace one's permissions boundary with a permissive one",
        ("iam:putuserpermissionsboundary", "iam:putrolepermissionsboundary"),
    ),
    _m(
        "CreateAndRotateAccessKey",
        "delete and recreate another user's access key",
        "iam:createaccesskey",
        "iam:deleteaccesskey",
    ),
    _m(
        "AttachUserPolicyThenCreateAccessKey",
        "grant a user admin and mint its key",
        "iam:attachuserpolicy",
        "iam:createaccesskey",
    ),
    _m(
        "PutUserPolicyThenCreateAccessKey",
        "grant a user admin inline and mint its key",
        "iam:putuserpolicy",
        "iam:createaccesskey",
    ),
    _m(
        "CreatePolicyVersionThenAssumeRole",
        "rewrite a role's policy, then assume the role",
        "iam:createpolicyversion",
        "sts:assumerole",
    ),
    _m(
        "AttachRolePolicyThenUpdateAssumeRolePolicy",
        "make a role admin and trust oneself",
        "iam:attachrolepolicy",
        "iam:updateassumerolepolicy",
    ),
    _m(
        "CreatePolicyVersionThenUpdateAssumeRolePolicy",
        "rewrite a role's policy and trust oneself",
        "iam:createpolicyversion",
        "iam:updateassumerolepolicy",
    ),
    _m(
        "PutRolePolicyThenUpdateAssumeRolePolicy",
        "write an admin inline policy on a role and trust oneself",
        "iam:putrolepolicy",
        "iam:updateassumerolepolicy",
    ),
    _m(
        "CreateRoleThenAttachAndAssume",
        "create a role trusting oneself, make it admin, assume it",
        "iam:createrole",
        ("iam:attachrolepolicy", "iam:putrolepolicy"),
        "sts:assumerole",
    ),
    # iam:PassRole to a new compute resource that runs the attacker's code with the passed role
    _m("CreateEC2WithExistingIP", "launch an instance with a privileged instance profile", P, "ec2:runinstances"),
    _m(
        "PassExistingRoleToNewEC2SpotInstance",
        "request a spot instance with a privileged profile",
        P,
        "ec2:requestspotinstances",
    ),
    _m(
        "PassRoleToNewAutoScalingGroup",
        "launch instances through Auto Scaling with a privileged profile",
        P,
        ("autoscaling:createlaunchconfiguration", "ec2:createlaunchtemplate"),
        "autoscaling:createautoscalinggroup",
    ),
    _m(
        "PassExistingRoleToNewLambdaThenInvoke",
        "create a Lambda with a privileged role and invoke it",
        P,
        "lambda:createfunction",
        "lambda:invokefunction",
    ),
    _m(
        "PassExistingRoleToNewLambdaThenTriggerWithNewDynamo",
        "create a Lambda and trigger it from a new table",
        P,
        "lambda:createfunction",
        "lambda:createeventsourcemapping",
        "dynamodb:createtable",
        "dynamodb:putitem",
    ),
    _m(
        "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
        "create a Lambda and trigger it from an existing stream",
        P,
        "lambda:createfunction",
        "lambda:createeventsourcemapping",
    ),
    _m(
        "PassExistingRoleToNewLambdaThenAddPermission",
        "create a Lambda and let oneself invoke it",
        P,
        "lambda:createfunction",
        "lambda:addpermission",
    ),
    _m(
        "PassExistingRoleToNewGlueDevEndpoint",
        "create a Glue dev endpoint with a privileged role",
        P,
        "glue:createdevendpoint",
    ),
    _m(
        "PassExistingRoleToNewGlueJobThenRun",
        "create and run a Glue job with a privileged role",
        P,
        "glue:createjob",
        ("glue:startjobrun", "glue:createtrigger"),
    ),
    _m(
        "PassExistingRoleToUpdatedGlueJobThenRun",
        "repoint a Glue job at a privileged role and run it",
        P,
        "glue:updatejob",
        ("glue:startjobrun", "glue:createtrigger"),
    ),
    _m(
        "PassExistingRoleToCloudFormation",
        "create a stack that runs with a privileged role",
        P,
        "cloudformation:createstack",
    ),
    _m(
        "PassExistingRoleToNewCloudFormationStackSet",
        "create a stack set with a privileged role",
        P,
        "cloudformation:createstackset",
        "cloudformation:createstackinstances",
    ),
    _m(
        "PassRoleToUpdateCloudFormationStackSet",
        "update a stack set to use a privileged role",
        P,
        "cloudformation:updatestackset",
    ),
    _m(
        "PassExistingRoleToNewDataPipeline",
        "create a Data Pipeline that runs with a privileged role",
        P,
        "datapipeline:createpipeline",
    ),
    _m(
        "PassExistingRoleToNewSageMakerNotebookInstance",
        "create a notebook with a privileged role",
        P,
        "sagemaker:createnotebookinstance",
    ),
    _m(
        "PassExistingRoleToNewSageMakerTrainingJob",
        "run a training job with a privileged role",
        P,
        "sagemaker:createtrainingjob",
    ),
    _m(
        "PassExistingRoleToNewSageMakerProcessingJob",
        "run a processing job with a privileged role",
        P,
        "sagemaker:createprocessingjob",
    ),
    _m(
        "PassExistingRoleToNewCodeBuildProjectThenBuild",
        "create a CodeBuild project with a privileged role",
        P,
        "codebuild:createproject",
        ("codebuild:startbuild", "codebuild:startbuildbatch"),
    ),
    _m(
        "PassExistingRoleToNewECSTask",
        "register a task definition with a privileged role and run it",
        P,
        "ecs:registertaskdefinition",
        ("ecs:runtask", "ecs:starttask", "ecs:createservice", "ecs:updateservice"),
    ),
    _m(
        "PassExistingRoleToNewAppRunnerService",
        "create an App Runner service with a privileged role",
        P,
        "apprunner:createservice",
    ),
    _m(
        "PassExistingRoleToNewBedrockCodeInterpreter",
        "create a Bedrock code interpreter with a privileged role",
        P,
        "bedrock-agentcore:createcodeinterpreter",
        "bedrock-agentcore:startcodeinterpretersession",
        "bedrock-agentcore:invokecodeinterpreter",
    ),
    _m(
        "PassRoleToNewBatchJob",
        "submit a Batch job running with a privileged role",
        P,
        "batch:registerjobdefinition",
        "batch:submitjob",
    ),
    _m("PassRoleToNewEMRCluster", "start an EMR cluster with a privileged role", P, "elasticmapreduce:runjobflow"),
    # pathfinding.cloud's further new-resource paths
    _m(
        "PassRoleToExistingECSTaskDefinitionWithOverride",
        "run an existing task definition with a privileged task role override",
        P,
        ("ecs:runtask", "ecs:starttask"),
    ),
    _m(
        "PassExistingRoleToNewGlueInteractiveSession",
        "run code in a Glue interactive session with a privileged role",
        P,
        "glue:createsession",
        "glue:runstatement",
    ),
    _m(
        "PassExistingRoleToNewBedrockAgentRuntime",
        "run a command in a new AgentCore runtime with a privileged role",
        P,
        "bedrock-agentcore:createagentruntime",
        "bedrock-agentcore:createagentruntimeendpoint",
        "bedrock-agentcore:createworkloadidentity",
        "bedrock-agentcore:invokeagentruntimecommand",
    ),
    _m(
        "PassExistingRoleToNewBedrockBrowser",
        "drive a new AgentCore browser with a privileged role",
        P,
        "bedrock-agentcore:createbrowser",
        "bedrock-agentcore:startbrowsersession",
        "bedrock-agentcore:connectbrowserautomationstream",
    ),
    _m(
        "PassExistingRoleToNewEMRServerlessJob",
        "run an EMR Serverless job with a privileged role",
        P,
        "emr-serverless:createapplication",
        "emr-serverless:startjobrun",
    ),
    _m(
        "PassExistingRoleToNewFlinkApplication",
        "run a Managed Flink application with a privileged role",
        P,
        "kinesisanalytics:createapplication",
        "kinesisanalytics:startapplication",
    ),
    _m("PassExistingRoleToNewBraketJob", "run a Braket hybrid job with a privileged role", P, "braket:createjob"),
    _m(
        "PassExistingRoleToNewOmicsWorkflowRun",
        "run a HealthOmics workflow with a privileged role",
        P,
        "omics:createworkflow",
        "omics:startrun",
        "s3:getobject",
    ),
    _m(
        "PassExistingRoleToNewGameLiftFleet",
        "create a GameLift fleet with a privileged role",
        P,
        "gamelift:createbuild",
        "gamelift:createfleet",
        "gamelift:requestuploadcredentials",
    ),
    _m(
        "PassExistingRoleToNewImageBuilderImage",
        "build an image with one's component and a privileged instance profile",
        P,
        "imagebuilder:createcomponent",
        "imagebuilder:createimagerecipe",
        "imagebuilder:createinfrastructureconfiguration",
        "imagebuilder:createimage",
    ),
    _m(
        "PassExistingRoleToNewSSMAutomation",
        "run an Automation script step as a privileged role",
        P,
        "ssm:createdocument",
        "ssm:startautomationexecution",
    ),
    _m(
        "PassRoleToNewStepFunction",
        "create and start a state machine with a privileged role",
        P,
        "states:createstatemachine",
        "states:startexecution",
    ),
    # Using code or sessions of existing resources that already run with a role
    _m("UpdateExistingGlueDevEndpoint", "add one's SSH key to an existing Glue dev endpoint", "glue:updatedevendpoint"),
    _m(
        "EditExistingLambdaFunctionWithRole",
        "replace the code of a Lambda that has a privileged role",
        "lambda:updatefunctioncode",
    ),
    _m(
        "UpdateAndInvokeLambdaFunction",
        "replace a Lambda's code and invoke it",
        "lambda:updatefunctioncode",
        "lambda:invokefunction",
    ),
    _m(
        "UpdateLambdaFunctionAndAddPermission",
        "replace a Lambda's code and let oneself invoke it",
        "lambda:updatefunctioncode",
        "lambda:addpermission",
    ),
    _m(
        "AccessExistingBedrockCodeInterpreterSession",
        "run code in an existing Bedrock interpreter session",
        "bedrock-agentcore:startcodeinterpretersession",
        "bedrock-agentcore:invokecodeinterpreter",
    ),
    _m(
        "UpdateExistingCloudFormationStack",
        "update a stack that has a privileged role with one's template",
        "cloudformation:updatestack",
    ),
    _m(
        "StartBuildWithBuildspecOverride",
        "start a build of an existing project with one's own buildspec",
        ("codebuild:startbuild", "codebuild:startbuildbatch"),
    ),
    _m("UpdateExistingAppRunnerService", "change an existing App Runner service's image", "apprunner:updateservice"),
    _m("SubmitJobToExistingBatchJobDefinition", "run an existing Batch job definition's role", "batch:submitjob"),
    _m(
        "InvokeExistingBedrockAgentRuntimeCommand",
        "run a shell command in an existing AgentCore runtime",
        "bedrock-agentcore:invokeagentruntimecommand",
    ),
    _m(
        "ConnectExistingBedrockBrowser",
        "drive an existing AgentCore browser",
        "bedrock-agentcore:startbrowsersession",
        "bedrock-agentcore:connectbrowserautomationstream",
    ),
    _m(
        "CodeDeployToExistingInstances",
        "deploy a revision whose hooks run on existing instances",
        "codedeploy:createdeployment",
        "codedeploy:registerapplicationrevision",
        "codedeploy:getdeploymentconfig",
    ),
    _m(
        "ExecuteCloudFormationChangeSet",
        "execute a change set on a stack that has a privileged role",
        "cloudformation:createchangeset",
        "cloudformation:executechangeset",
    ),
    _m(
        "ModifyEC2InstanceUserDataThenRestart",
        "change an instance's user data and restart it",
        "ec2:modifyinstanceattribute",
        "ec2:stopinstances",
        "ec2:startinstances",
    ),
    _m(
        "ModifyExistingEC2LaunchTemplate",
        "add a launch template version with one's code",
        "ec2:createlaunchtemplateversion",
        "ec2:modifylaunchtemplate",
    ),
    _m(
        "EC2InstanceConnectSendSSHPublicKey",
        "push an SSH key to an instance and use its role",
        ("ec2-instance-connect:sendsshpublickey", "ec2-instance-connect:sendserialconsolesshpublickey"),
    ),
    _m("SSMSendCommand", "run commands on managed instances and use their roles", "ssm:sendcommand"),
    _m("SSMStartSession", "open a shell on managed instances and use their roles", "ssm:startsession"),
    _m("ECSExecuteCommandOnRunningTask", "open a shell in a running task and use its role", "ecs:executecommand"),
    _m(
        "CreatePresignedSageMakerNotebookUrl",
        "open an existing notebook and use its role",
        "sagemaker:createpresignednotebookinstanceurl",
    ),
    _m(
        "UpdateSageMakerNotebookLifecycleConfig",
        "inject a lifecycle script into an existing notebook",
        "sagemaker:createnotebookinstancelifecycleconfig",
        "sagemaker:stopnotebookinstance",
        "sagemaker:updatenotebookinstance",
        "sagemaker:startnotebookinstance",
    ),
    _m(
        "UpdateExistingCodeBuildProject",
        "change an existing CodeBuild project's buildspec and run it",
        "codebuild:updateproject",
        ("codebuild:startbuild", "codebuild:startbuildbatch"),
    ),
)

ESCALATION_ACTIONS = frozenset(a for m in METHODS for req in m.requires for a in req)


@dataclass(frozen=True)
class MethodHit:
    method: Method
    grants: tuple[tuple[str, ActionGrant], ...]  # one (action, grant) per requirement

    @property
    def conditioned(self) -> bool:
        return any(g.conditioned for _, g in self.grants)

    @property
    def policies(self) -> frozenset[str]:
        return frozenset(s.policy for _, g in self.grants for s in g.statements)


def methods(perms: Permissions) -> list[MethodHit]:
    """Memoized on the Permissions object: shared by every principal holding the same policies."""
    found = perms.cache.get("methods")
    if found is None:
        found = perms.cache["methods"] = _methods(perms)
    return found  # type: ignore[return-value]


def _methods(perms: Permissions) -> list[MethodHit]:
    granted = perms.grants(ESCALATION_ACTIONS)
    hits = []
    for method in METHODS:
        chosen = []
        for requirement in method.requires:
            # Prefer an unconditioned grant when several actions satisfy the requirement.
            options = [(a, granted[a]) for a in requirement if a in granted]
            if not options:
                break
            chosen.append(min(options, key=lambda o: o[1].conditioned))
        else:
            hits.append(MethodHit(method, tuple(chosen)))
    return hits


def method_evidence(hit: MethodHit) -> dict:
    from audits.iam import actions as ds
    from audits.iam.policy import statement_evidence

    return {
        "method": hit.method.name,
        "how": hit.method.how,
        "actions": [ds.display(a) for a, _ in hit.grants],
        "statements": statement_evidence([s for _, g in hit.grants for s in g.statements]),
    }


# --- role assumption paths ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hop:
    target: str  # the role this principal assumes next on its shortest way to a target
    conditioned: bool  # this hop, or any after it, holds only under a condition
    goal: str  # the target at the end of the way
    remaining: int  # hops from here to the goal, this one included


def nearest(targets: list[str], predecessors: Callable[[str], Iterable[tuple[str, bool]]]) -> dict[str, Hop]:
    """Multi-source BFS backwards from the targets: for every principal that can reach one, its next hop.

    One pass for the whole account (O(nodes + edges)), instead of a search from every principal.
    """
    hops: dict[str, Hop] = {}
    visited = set(targets)
    queue = deque(targets)
    while queue:
        node = queue.popleft()
        after = hops.get(node)
        for source, conditioned in predecessors(node):
            if source not in visited:
                visited.add(source)
                hops[source] = Hop(
                    node,
                    conditioned or bool(after and after.conditioned),
                    after.goal if after else node,
                    after.remaining + 1 if after else 1,
                )
                queue.append(source)
    return hops


def path_from(start: str, hops: dict[str, Hop], limit: int = 6) -> list[str]:
    """The first `limit` roles on start's way to its goal (the goal is hops[start].goal)."""
    path = []
    node = start
    while node in hops and len(path) < limit:
        node = hops[node].target
        path.append(node)
    return path
