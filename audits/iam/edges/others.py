"""The other services that run one's code with a passed role (Data Pipeline, App Runner, EMR and EMR Serverless,
Step Functions, Bedrock AgentCore, Managed Flink, Braket, HealthOmics, GameLift, Image Builder, Systems Manager
Automation), and takeovers of existing App Runner services and AgentCore runtimes, browsers and interpreters.
Beyond Rhino's list, after pathfinding.cloud's paths."""

from audits.iam.edges import RHINO, PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

AGENTCORE = "bedrock-agentcore.amazonaws.com"

PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToNewDataPipeline",
        "create a Data Pipeline that runs with the role",
        req("datapipeline:createpipeline", "datapipeline:putpipelinedefinition"),
        docs=RHINO,
    ),
    PassMethod(
        "PassExistingRoleToNewAppRunnerService",
        "create an App Runner service with the role",
        req("apprunner:createservice"),
    ),
    PassMethod("PassRoleToNewEMRCluster", "start an EMR cluster with the role", req("elasticmapreduce:runjobflow")),
    PassMethod(
        # pathfinding.cloud emr-001: the cluster's instances run steps with the EC2 instance profile passed to it.
        "PassInstanceProfileToNewEMRCluster",
        "start an EMR cluster whose instances run with the role's instance profile",
        req("elasticmapreduce:runjobflow"),
        "ec2.amazonaws.com",
    ),
    PassMethod(
        "PassRoleToNewStepFunction",
        "create and start a state machine with the role",
        req("states:createstatemachine", "states:startexecution"),
    ),
    PassMethod(
        "PassExistingRoleToNewBedrockCodeInterpreter",
        "create a Bedrock code interpreter with the role",
        req(
            "bedrock-agentcore:createcodeinterpreter",
            "bedrock-agentcore:startcodeinterpretersession",
            "bedrock-agentcore:invokecodeinterpreter",
        ),
    ),
    PassMethod(
        "PassExistingRoleToNewBedrockAgentRuntime",
        "create an AgentCore runtime with the role and run a command in it",
        req(
            "bedrock-agentcore:createagentruntime",
            "bedrock-agentcore:createagentruntimeendpoint",
            "bedrock-agentcore:createworkloadidentity",
            "bedrock-agentcore:invokeagentruntimecommand",
        ),
    ),
    PassMethod(
        "PassExistingRoleToNewBedrockBrowser",
        "create an AgentCore browser with the role and drive it",
        req(
            "bedrock-agentcore:createbrowser",
            "bedrock-agentcore:startbrowsersession",
            "bedrock-agentcore:connectbrowserautomationstream",
        ),
    ),
    PassMethod(
        "PassExistingRoleToNewEMRServerlessJob",
        "create an EMR Serverless application and run a job with the role",
        req("emr-serverless:createapplication", "emr-serverless:startjobrun"),
    ),
    PassMethod(
        "PassExistingRoleToNewFlinkApplication",
        "create and start a Managed Flink application with the role",
        req("kinesisanalytics:createapplication", "kinesisanalytics:startapplication"),
    ),
    PassMethod("PassExistingRoleToNewBraketJob", "run a Braket hybrid job with the role", req("braket:createjob")),
    PassMethod(
        "PassExistingRoleToNewOmicsWorkflowRun",
        "create a HealthOmics workflow and run it with the role, reading its output",
        req("omics:createworkflow", "omics:startrun", "s3:getobject"),
    ),
    PassMethod(
        "PassExistingRoleToNewGameLiftFleet",
        "upload a build and create a GameLift fleet with the role",
        req("gamelift:createbuild", "gamelift:createfleet", "gamelift:requestuploadcredentials"),
    ),
    PassMethod(
        "PassExistingRoleToNewImageBuilderImage",
        "build an image whose build instance runs one's component with the instance profile",
        req(
            "imagebuilder:createcomponent",
            "imagebuilder:createimagerecipe",
            "imagebuilder:createinfrastructureconfiguration",
            "imagebuilder:createimage",
        ),
    ),
    PassMethod(
        "PassExistingRoleToNewSSMAutomation",
        "create an Automation document with a script step and run it as the role",
        req("ssm:createdocument", "ssm:startautomationexecution"),
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "UpdateExistingAppRunnerService",
        "change an App Runner service's image or start command",
        req("apprunner:updateservice"),
        "tasks.apprunner.amazonaws.com",
        "App Runner services",
    ),
    TakeoverMethod(
        "AccessExistingBedrockCodeInterpreterSession",
        "run code in an existing AgentCore code interpreter",
        req("bedrock-agentcore:startcodeinterpretersession", "bedrock-agentcore:invokecodeinterpreter"),
        AGENTCORE,
        "AgentCore code interpreters",
    ),
    TakeoverMethod(
        "InvokeExistingBedrockAgentRuntimeCommand",
        "run a shell command in an existing AgentCore runtime",
        req("bedrock-agentcore:invokeagentruntimecommand"),
        AGENTCORE,
        "AgentCore runtimes",
    ),
    TakeoverMethod(
        "ConnectExistingBedrockBrowser",
        "drive an existing AgentCore browser and read its role's credentials",
        req("bedrock-agentcore:startbrowsersession", "bedrock-agentcore:connectbrowserautomationstream"),
        AGENTCORE,
        "AgentCore browsers",
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
