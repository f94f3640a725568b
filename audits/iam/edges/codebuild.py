"""AWS CodeBuild: a project with a passed role, or an existing project's buildspec changed and run."""

from audits.iam.edges import IAM_VULNERABLE, PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

SERVICE = "codebuild.amazonaws.com"
PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToNewCodeBuildProjectThenBuild",
        "create a CodeBuild project with the role and run it",
        req("codebuild:createproject", ("codebuild:startbuild", "codebuild:startbuildbatch")),
        docs=IAM_VULNERABLE,
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "UpdateExistingCodeBuildProject",
        "change a project's buildspec and run it with its role",
        req("codebuild:updateproject", ("codebuild:startbuild", "codebuild:startbuildbatch")),
        SERVICE,
        "CodeBuild projects",
    ),
    TakeoverMethod(
        "StartBuildWithBuildspecOverride",
        "start a build of a project with one's own buildspec",
        req(("codebuild:startbuild", "codebuild:startbuildbatch")),
        SERVICE,
        "CodeBuild projects",
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
