"""AWS Glue: dev endpoints and jobs with a passed role, or one's SSH key on an existing dev endpoint."""

from audits.iam.edges import RHINO, PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

SERVICE = "glue.amazonaws.com"
PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToNewGlueDevEndpoint",
        "create a Glue dev endpoint with the role",
        req("glue:createdevendpoint"),
        docs=RHINO,
    ),
    PassMethod(
        "PassExistingRoleToNewGlueJobThenRun",
        "create and run a Glue job with the role",
        req("glue:createjob", ("glue:startjobrun", "glue:createtrigger")),
    ),
    PassMethod(
        "PassExistingRoleToUpdatedGlueJobThenRun",
        "point a Glue job at the role and run it",
        req("glue:updatejob", ("glue:startjobrun", "glue:createtrigger")),
    ),
    PassMethod(
        "PassExistingRoleToNewGlueInteractiveSession",
        "start a Glue interactive session with the role and run code in it",
        req("glue:createsession", "glue:runstatement"),
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "UpdateExistingGlueDevEndpoint",
        "add one's SSH key to a dev endpoint that runs with the role",
        req("glue:updatedevendpoint"),
        SERVICE,
        "Glue dev endpoints",
        docs=RHINO,
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
