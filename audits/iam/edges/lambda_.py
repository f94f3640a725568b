"""AWS Lambda: a new function with a passed role, or new code in an existing function."""

from audits.iam.edges import RHINO, PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

SERVICE = "lambda.amazonaws.com"
PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToNewLambdaThenInvoke",
        "create a Lambda function with the role and invoke it",
        req("lambda:createfunction", "lambda:invokefunction"),
        docs=RHINO,
    ),
    PassMethod(
        "PassExistingRoleToNewLambdaThenAddPermission",
        "create a Lambda function and let oneself invoke it",
        req("lambda:createfunction", "lambda:addpermission"),
    ),
    PassMethod(
        "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
        "create a Lambda function and trigger it from an existing event source",
        req("lambda:createfunction", "lambda:createeventsourcemapping"),
        docs=RHINO,
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "EditExistingLambdaFunctionWithRole",
        "replace the code of a function that runs with the role",
        req("lambda:updatefunctioncode"),
        SERVICE,
        "Lambda functions",
        docs=RHINO,
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
