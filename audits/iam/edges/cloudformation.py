"""AWS CloudFormation: a stack created with a passed role, or an existing stack (and its role) updated."""

from audits.iam.edges import IAM_VULNERABLE, RHINO, PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

SERVICE = "cloudformation.amazonaws.com"
PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToCloudFormation",
        "create a stack that runs with the role",
        req("cloudformation:createstack"),
        docs=RHINO,
    ),
    PassMethod(
        "PassExistingRoleToNewCloudFormationStackSet",
        "create a stack set with the role",
        req("cloudformation:createstackset", "cloudformation:createstackinstances"),
    ),
    PassMethod(
        "PassRoleToUpdateCloudFormationStackSet",
        "update a stack set to use the role",
        req("cloudformation:updatestackset"),
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "UpdateExistingCloudFormationStack",
        "update a stack that runs with the role, with one's template",
        req("cloudformation:updatestack"),
        SERVICE,
        "CloudFormation stacks",
        docs=IAM_VULNERABLE,
    ),
    TakeoverMethod(
        "ExecuteCloudFormationChangeSet",
        "create and execute a change set on a stack with the role",
        req("cloudformation:createchangeset", "cloudformation:executechangeset"),
        SERVICE,
        "CloudFormation stacks",
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
