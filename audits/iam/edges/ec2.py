"""Amazon EC2, Auto Scaling, Systems Manager and CodeDeploy: instances launched with a passed instance profile, and
shells, commands, launch templates or deployments reaching existing instances (whose roles the export shows through
their instance profiles)."""

from audits.iam.edges import IAM_VULNERABLE, RHINO, PassMethod, TakeoverMethod, req
from audits.iam.edges.passrole import family

SERVICE = "ec2.amazonaws.com"
PASS_METHODS = (
    PassMethod(
        "CreateEC2WithExistingIP",
        "launch an instance with the role's instance profile",
        req("ec2:runinstances"),
        docs=RHINO,
    ),
    PassMethod(
        "PassExistingRoleToNewEC2SpotInstance",
        "request a spot instance with the role's instance profile",
        req("ec2:requestspotinstances"),
    ),
    PassMethod(
        "PassRoleToNewAutoScalingGroup",
        "launch instances through Auto Scaling with the instance profile",
        req(
            ("autoscaling:createlaunchconfiguration", "ec2:createlaunchtemplate"), "autoscaling:createautoscalinggroup"
        ),
    ),
)
TAKEOVERS = (
    TakeoverMethod(
        "SSMSendCommand",
        "run commands on a managed instance and use its role",
        req("ssm:sendcommand"),
        SERVICE,
        "EC2 instances",
        docs=IAM_VULNERABLE,
    ),
    TakeoverMethod(
        "SSMStartSession",
        "open a shell on a managed instance and use its role",
        req("ssm:startsession"),
        SERVICE,
        "EC2 instances",
        docs=IAM_VULNERABLE,
    ),
    TakeoverMethod(
        "EC2InstanceConnectSendSSHPublicKey",
        "push an SSH key to an instance and use its role",
        req(("ec2-instance-connect:sendsshpublickey", "ec2-instance-connect:sendserialconsolesshpublickey")),
        SERVICE,
        "EC2 instances",
        docs=IAM_VULNERABLE,
    ),
    TakeoverMethod(
        "ModifyEC2InstanceUserDataThenRestart",
        "change an instance's user data and restart it",
        req("ec2:modifyinstanceattribute", "ec2:stopinstances", "ec2:startinstances"),
        SERVICE,
        "EC2 instances",
    ),
    TakeoverMethod(
        "ModifyExistingEC2LaunchTemplate",
        "add a launch template version with one's user data and make it the default",
        req("ec2:createlaunchtemplateversion", "ec2:modifylaunchtemplate"),
        SERVICE,
        "launch templates and the instances they start",
    ),
    TakeoverMethod(
        "CodeDeployToExistingInstances",
        "deploy a revision whose hooks run on a deployment group's instances",
        req("codedeploy:createdeployment", "codedeploy:registerapplicationrevision", "codedeploy:getdeploymentconfig"),
        SERVICE,
        "CodeDeploy deployment groups",
    ),
)
METHODS = (*PASS_METHODS, *TAKEOVERS)
candidates, edge = family(PASS_METHODS, TAKEOVERS)
