"""Amazon SageMaker: notebooks and jobs with a passed role, or a presigned URL into an existing notebook."""

from audits.iam.edges import IAM_VULNERABLE, PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

SERVICE = "sagemaker.amazonaws.com"
PASS_METHODS = (
    PassMethod(
        "PassExistingRoleToNewSageMakerNotebookInstance",
        "create a notebook instance with the role",
        req("sagemaker:createnotebookinstance"),
        docs=IAM_VULNERABLE,
    ),
    PassMethod(
        "PassExistingRoleToNewSageMakerTrainingJob",
        "run a training job with the role",
        req("sagemaker:createtrainingjob"),
        docs=IAM_VULNERABLE,
    ),
    PassMethod(
        "PassExistingRoleToNewSageMakerProcessingJob",
        "run a processing job with the role",
        req("sagemaker:createprocessingjob"),
        docs=IAM_VULNERABLE,
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "CreatePresignedSageMakerNotebookUrl",
        "open a notebook that runs with the role",
        req("sagemaker:createpresignednotebookinstanceurl"),
        SERVICE,
        "SageMaker notebook instances",
        docs=IAM_VULNERABLE,
    ),
    TakeoverMethod(
        "UpdateSageMakerNotebookLifecycleConfig",
        "inject a lifecycle script into a notebook",
        req(
            "sagemaker:createnotebookinstancelifecycleconfig",
            "sagemaker:stopnotebookinstance",
            "sagemaker:updatenotebookinstance",
            "sagemaker:startnotebookinstance",
        ),
        SERVICE,
        "SageMaker notebook instances",
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
