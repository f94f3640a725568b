"""Services with PassRole methods only: Data Pipeline, App Runner, EMR, Step Functions, Bedrock AgentCore."""

from audits.iam.edges import PassMethod, req
from audits.iam.edges.passrole import family

PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToNewDataPipeline",
        "create a Data Pipeline that runs with the role",
        req("datapipeline:createpipeline", "datapipeline:putpipelinedefinition"),
    ),
    PassMethod(
        "PassExistingRoleToNewAppRunnerService",
        "create an App Runner service with the role",
        req("apprunner:createservice"),
    ),
    PassMethod("PassRoleToNewEMRCluster", "start an EMR cluster with the role", req("elasticmapreduce:runjobflow")),
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
)
candidates, edge = family(PASS_METHODS)
