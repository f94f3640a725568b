"""Amazon ECS and AWS Batch: tasks and jobs with a passed task role, a shell in a running task, or a job of an
existing job definition with one's own command."""

from audits.iam.edges import PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

SERVICE = "ecs-tasks.amazonaws.com"
PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToNewECSTask",
        "register a task definition with the role and run it",
        req("ecs:registertaskdefinition", ("ecs:runtask", "ecs:starttask", "ecs:createservice", "ecs:updateservice")),
    ),
    PassMethod(
        # pathfinding.cloud ecs-008/009: an existing task definition run with --overrides naming the role.
        "PassRoleToExistingECSTaskDefinitionWithOverride",
        "run an existing task definition with the role as its task role override",
        req(("ecs:runtask", "ecs:starttask")),
    ),
    PassMethod(
        "PassRoleToNewBatchJob",
        "submit a Batch job running with the role",
        req("batch:registerjobdefinition", "batch:submitjob"),
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "ECSExecuteCommandOnRunningTask",
        "open a shell in a running task and use its role",
        req("ecs:executecommand"),
        SERVICE,
        "ECS tasks",
    ),
    TakeoverMethod(
        "SubmitJobToExistingBatchJobDefinition",
        "submit a job of an existing job definition with one's own command",
        req("batch:submitjob"),
        SERVICE,
        "Batch job definitions",
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
