from pathlib import Path

import pytest

from audits.iam import escalation
from audits.iam.policy import Permissions, compile_policy
from audits.iam.snapshot import load_snapshot
from tests.iam.builders import allow, deny, doc, findings, healthy, managed, role, trust_doc, user

SAMPLES = Path(__file__).parent / "data" / "samples"

# What `cloudsplaining scan` 0.9.1 (default exclusions) flags for privilege escalation on example.json.
CLOUDSPLAINING_AWS = {"AmazonEC2FullAccess", "AWSLambdaFullAccess", "IAMFullAccess", "PowerUserAccess"}
CLOUDSPLAINING_CUSTOMER = {
    "privesc8-AttachGroupPolicy", "privesc21-PassExistingRoleToNewDataPipeline",
    "privesc15-PassExistingRoleToNewLambdaThenInvoke", "privesc4-CreateAccessKey",
    "privesc16-PassRoleToNewLambdaThenTriggerWithNewDynamo", "privesc6-UpdateLoginProfile",
    "privesc19-UpdateExistingGlueDevEndpoint", "privesc-sageMakerCreatePresignedNotebookURL-policy",
    "privesc17-EditExistingLambdaFunctionWithRole", "privesc-sageMakerCreateProcessingJobPassRole-policy",
    "privesc-high-priv-service-policy", "fp2-allow-all", "privesc9-AttachRolePolicy",
    "privesc-codeBuildCreateProjectPassRole-policy", "privesc11-PutGroupPolicy",
    "privesc18-PassExistingRoleToNewGlueDevEndpoint", "privesc14-UpdatingAssumeRolePolicy",
    "privesc-sageMakerCreateNotebookPassRole-policy", "privesc12-PutRolePolicy",
    "privesc2-SetExistingDefaultPolicyVersion", "privesc-AssumeRole-high-priv-policy",
    "privesc1-CreateNewPolicyVersion",
    "privesc-sageMakerCreateTrainingJobPassRole-policy", "privesc5-CreateLoginProfile",
    "privesc-ec2InstanceConnect-policy", "privesc13-AddUserToGroup", "privesc-sre-admin-policy",
    "privesc10-PutUserPolicy", "privesc20-PassExistingRoleToCloudFormation", "fn4-exploitableNotAction",
    "privesc3-CreateEC2WithExistingInstanceProfile", "privesc7-AttachUserPolicy",
}
CLOUDSPLAINING_INLINE = {"SupYo"}


def method_names(*statements, deny_statements=()):
    stmts = list(compile_policy(doc(*statements, *deny_statements), "p"))
    return {h.method.name for h in escalation.methods(Permissions.of(stmts))}


def test_it_knows_at_least_forty_named_methods():
    assert len(escalation.METHODS) >= 40
    assert len({m.name for m in escalation.METHODS}) == len(escalation.METHODS)


@pytest.mark.parametrize(("actions", "method"), [
    (["iam:CreatePolicyVersion"], "CreateNewPolicyVersion"),
    (["iam:SetDefaultPolicyVersion"], "SetExistingDefaultPolicyVersion"),
    (["iam:AttachUserPolicy"], "AttachUserPolicy"),
    (["iam:AttachGroupPolicy"], "AttachGroupPolicy"),
    (["iam:AttachRolePolicy"], "AttachRolePolicy"),
    (["iam:PutUserPolicy"], "PutUserPolicy"),
    (["iam:PutGroupPolicy"], "PutGroupPolicy"),
    (["iam:PutRolePolicy"], "PutRolePolicy"),
    (["iam:CreateAccessKey"], "CreateAccessKey"),
    (["iam:CreateLoginProfile"], "CreateLoginProfile"),
    (["iam:UpdateLoginProfile"], "UpdateLoginProfile"),
    (["iam:AddUserToGroup"], "AddUserToGroup"),
    (["iam:UpdateAssumeRolePolicy"], "UpdateRolePolicyToAssumeIt"),
    (["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"], "PassExistingRoleToNewLambdaThenInvoke"),
    (["iam:PassRole", "lambda:CreateFunction", "lambda:CreateEventSourceMapping"],
     "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo"),
    (["lambda:UpdateFunctionCode"], "EditExistingLambdaFunctionWithRole"),
    (["iam:PassRole", "ec2:RunInstances"], "CreateEC2WithExistingIP"),
    (["iam:PassRole", "glue:CreateDevEndpoint"], "PassExistingRoleToNewGlueDevEndpoint"),
    (["glue:UpdateDevEndpoint"], "UpdateExistingGlueDevEndpoint"),
    (["iam:PassRole", "cloudformation:CreateStack"], "PassExistingRoleToCloudFormation"),
    (["iam:PassRole", "datapipeline:CreatePipeline"], "PassExistingRoleToNewDataPipeline"),
    (["iam:PassRole", "sagemaker:CreateNotebookInstance"], "PassExistingRoleToNewSageMakerNotebookInstance"),
    (["iam:PassRole", "sagemaker:CreateTrainingJob"], "PassExistingRoleToNewSageMakerTrainingJob"),
    (["iam:PassRole", "sagemaker:CreateProcessingJob"], "PassExistingRoleToNewSageMakerProcessingJob"),
    (["sagemaker:CreatePresignedNotebookInstanceUrl"], "CreatePresignedSageMakerNotebookUrl"),
    (["iam:PassRole", "codebuild:CreateProject", "codebuild:StartBuild"],
     "PassExistingRoleToNewCodeBuildProjectThenBuild"),
    (["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:RunTask"], "PassExistingRoleToNewECSTask"),
    (["ssm:SendCommand"], "SSMSendCommand"),
    (["ssm:StartSession"], "SSMStartSession"),
    (["ec2-instance-connect:SendSSHPublicKey"], "EC2InstanceConnectSendSSHPublicKey"),
    (["iam:DeleteRolePermissionsBoundary"], "DeletePermissionsBoundary"),
])
def test_it_names_the_method(actions, method):
    assert method in method_names(allow(actions))


def test_it_needs_every_requirement_of_a_method():
    assert "CreateEC2WithExistingIP" not in method_names(allow("ec2:RunInstances"))
    assert "PassExistingRoleToNewLambdaThenInvoke" not in method_names(allow(["iam:PassRole",
                                                                              "lambda:CreateFunction"]))


def test_it_does_not_fire_on_scoped_resources():
    assert method_names(allow(["iam:PassRole", "iam:CreateAccessKey"], "arn:aws:iam::111122223333:user/me")) == set()


def test_it_does_not_fire_when_denied():
    assert method_names(allow("iam:*"), deny_statements=[deny("iam:*")]) == set()


def test_it_finds_escalation_that_needs_two_policies():
    passrole = managed("passrole", doc(allow("iam:PassRole")))
    run = managed("run", doc(allow("ec2:RunInstances")))
    found = [f for f in findings(healthy(users=[user("dev", policies=(passrole, run))], policies=[passrole, run]))
             if f["check_id"] == "principal_privilege_escalation"]
    [f] = found
    assert [m["method"] for m in f["evidence"]["methods"]] == ["CreateEC2WithExistingIP"]
    assert f["evidence"]["policies"] == ["passrole", "run"]
    assert f["evidence"]["methods"][0]["statements"]


def test_it_groups_combined_methods_by_the_policies_combined():
    passrole = managed("passrole", doc(allow("iam:PassRole")))
    compute = managed("compute", doc(allow(["ec2:RunInstances", "lambda:CreateFunction", "lambda:InvokeFunction"])))
    [f] = [f for f in findings(healthy(users=[user("dev", policies=(passrole, compute))],
                                       policies=[passrole, compute]))
           if f["check_id"] == "principal_privilege_escalation"]
    assert {m["method"] for m in f["evidence"]["methods"]} == {"CreateEC2WithExistingIP",
                                                              "PassExistingRoleToNewLambdaThenInvoke"}


def test_it_does_not_repeat_single_policy_escalation_on_the_principal():
    keys = managed("keys", doc(allow("iam:CreateAccessKey")))
    snap = healthy(users=[user("dev", policies=(keys,))], policies=[keys])
    ids = [f["check_id"] for f in findings(snap)]
    assert "policy_privilege_escalation" in ids
    assert "principal_privilege_escalation" not in ids


def test_it_rates_conditioned_escalation_one_level_lower():
    cond = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    pol = managed("cond", doc(allow("iam:CreateAccessKey", Condition=cond)))
    [f] = [f for f in findings(healthy(users=[user("dev", policies=(pol,))], policies=[pol]))
           if f["check_id"] == "policy_privilege_escalation"]
    assert f["severity"] == "medium"
    assert "condition (aws:RequestedRegion)" in f["detail"]
    assert f["evidence"]["conditions"] == [{"policy": "cond", "sid": "#0", "condition": cond}]


def test_it_reports_the_path_to_an_admin_role():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    prod = role("ProdAdmin", policies=(admin,), trust=trust_doc({"AWS": "arn:aws:iam::111122223333:root"}))
    hop = role("Hop", trust=trust_doc({"AWS": "arn:aws:iam::111122223333:user/intern"}),
               inline={"assume": doc(allow("sts:AssumeRole", "arn:aws:iam::111122223333:role/ProdAdmin"))})
    intern = user("intern")
    found = [f for f in findings(healthy(users=[intern], roles=[prod, hop], policies=[admin]))
             if f["check_id"] == "assume_role_escalation"]
    by_name = {f["principal_name"]: f for f in found}
    assert by_name["intern"]["evidence"]["path"] == "user intern -> role Hop -> role ProdAdmin (admin)"
    assert by_name["intern"]["severity"] == "critical"
    assert by_name["Hop"]["evidence"]["path"] == "role Hop -> role ProdAdmin (admin)"


def test_it_needs_both_trust_and_permission_for_account_trusts():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    prod = role("ProdAdmin", policies=(admin,), trust=trust_doc({"AWS": "arn:aws:iam::111122223333:root"}))
    bystander = user("bystander")  # trusted through the account, but holds no sts:AssumeRole
    denied = user("denied", inline={"a": doc(allow("sts:AssumeRole"), deny("sts:AssumeRole"))})
    ids = {f["principal_name"] for f in findings(healthy(users=[bystander, denied], roles=[prod], policies=[admin]))
           if f["check_id"] == "assume_role_escalation"}
    assert ids == set()


@pytest.fixture(scope="module")
def example_findings():
    snap = load_snapshot((SAMPLES / "cloudsplaining__examples_files_example.json").read_bytes())
    return findings(snap)


def test_it_flags_every_policy_cloudsplaining_flags_on_example_json(example_findings):
    flagged = [f for f in example_findings if f["check_id"] == "policy_privilege_escalation"]
    aws = {f["principal_name"] for f in flagged
           if f["principal_type"] == "policy" and ":aws:policy/" in f["principal_arn"]}
    customer = {f["principal_name"] for f in flagged if f["principal_type"] == "policy"} - aws
    inline = {f["policy"] for f in flagged if f["principal_type"] != "policy"}
    assert aws >= CLOUDSPLAINING_AWS and customer >= CLOUDSPLAINING_CUSTOMER and inline >= CLOUDSPLAINING_INLINE
    # Exact counts, and why ours differ: AdministratorAccess (Cloudsplaining excludes it by default), two SSM
    # methods it does not know, and two conditioned grants we report one level lower instead of dropping.
    assert (len(aws), len(customer), len(inline)) == (5, 36, 1)
    assert aws - CLOUDSPLAINING_AWS == {"AdministratorAccess"}
    assert customer - CLOUDSPLAINING_CUSTOMER == {
        "privesc-ssmSendCommand-policy", "privesc-ssmStartSession-policy",
        "fn3-exploitableConditionConstraint", "fp5-nonExploitableConditionConstraint"}
    conditioned = {f["principal_name"]: f["severity"] for f in flagged if f["conditioned"]}
    assert conditioned == {"fn3-exploitableConditionConstraint": "medium",
                           "fp5-nonExploitableConditionConstraint": "medium"}


def test_it_leaves_cloudsplaining_decoys_alone(example_findings):
    flagged = {f["principal_name"] for f in example_findings if f["check_id"] == "policy_privilege_escalation"}
    assert not flagged & {"fp1-allow-and-deny", "fp3-deny-iam", "fp4-nonExploitableResourceConstraint", "deny-all"}


def test_it_follows_role_chains_in_example_json(example_findings):
    paths = {f["principal_name"]: f["evidence"]["path"] for f in example_findings
             if f["check_id"] == "assume_role_escalation"}
    assert paths["privesc-AssumeRole-starting-role"] == (
        "role privesc-AssumeRole-starting-role -> role privesc-AssumeRole-intermediate-role"
        " -> role privesc-AssumeRole-ending-role (admin)")


def test_it_reports_passing_an_admin_role_to_a_service():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    lambda_admin = role("LambdaAdmin", policies=(admin,), trust=trust_doc({"Service": "lambda.amazonaws.com"}))
    dev = user("dev", inline={"deploy": doc(allow(["iam:PassRole", "lambda:CreateFunction",
                                                   "lambda:InvokeFunction"]))})
    scoped = user("scoped", inline={"deploy": doc(
        allow(["lambda:CreateFunction", "lambda:InvokeFunction"]),
        allow("iam:PassRole", "arn:aws:iam::111122223333:role/app-*"))})
    found = [f for f in findings(healthy(users=[dev, scoped], roles=[lambda_admin], policies=[admin]))
             if f["check_id"] == "assume_role_escalation"]
    assert [f["principal_name"] for f in found] == ["dev"]
    assert found[0]["evidence"]["path"] == (
        "user dev -> passes role LambdaAdmin to lambda.amazonaws.com via PassExistingRoleToNewLambdaThenInvoke (admin)")
    assert found[0]["severity"] == "critical"


def test_it_shortens_long_role_chains_but_keeps_their_length():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    account_trust = trust_doc({"AWS": "arn:aws:iam::111122223333:root"})
    roles = [role(f"r{i}", trust=account_trust,
                  inline={"next": doc(allow("sts:AssumeRole", f"arn:aws:iam::111122223333:role/r{i + 1}"))})
             for i in range(9)]
    roles.append(role("r9", trust=account_trust, policies=(admin,)))
    [f] = [f for f in findings(healthy(roles=roles, policies=[admin]))
           if f["check_id"] == "assume_role_escalation" and f["principal_name"] == "r0"]
    assert f["evidence"]["length"] == 9
    assert f["evidence"]["path"] == ("role r0 -> role r1 -> role r2 -> role r3 -> role r4 -> role r5 -> role r6"
                                     " -> ... 2 more hop(s) -> role r9 (admin)")
