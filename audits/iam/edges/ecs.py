"""Amazon ECS and AWS Batch: tasks and jobs with a passed task role, or a shell in a running task."""

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
)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
