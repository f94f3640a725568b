from pathlib import Path

import pytest

from audits.iam.analysis import Analysis
from audits.iam.edges import catalog
from audits.iam.finding_types import Finding
from audits.iam.snapshot import load_snapshot
from tests.iam.builders import allow, deny, doc, findings, healthy, hits, managed, role, trust_doc, user
from tests.iam.builders import arn as arn_of

SAMPLES = Path(__file__).parent / "data" / "samples"

# What `cloudsplaining scan` 0.9.1 (default exclusions) flags for privilege escalation on example.json.
CLOUDSPLAINING_AWS = {"AmazonEC2FullAccess", "AWSLambdaFullAccess", "IAMFullAccess", "PowerUserAccess"}
CLOUDSPLAINING_CUSTOMER = {
    "privesc8-AttachGroupPolicy",
    "privesc21-PassExistingRoleToNewDataPipeline",
    "privesc15-PassExistingRoleToNewLambdaThenInvoke",
    "privesc4-CreateAccessKey",
    "privesc16-PassRoleToNewLambdaThenTriggerWithNewDynamo",
    "privesc6-UpdateLoginProfile",
    "privesc19-UpdateExistingGlueDevEndpoint",
    "privesc-sageMakerCreatePresignedNotebookURL-policy",
    "privesc17-EditExistingLambdaFunctionWithRole",
    "privesc-sageMakerCreateProcessingJobPassRole-policy",
    "privesc-high-priv-service-policy",
    "fp2-allow-all",
    "privesc9-AttachRolePolicy",
    "privesc-codeBuildCreateProjectPassRole-policy",
    "privesc11-PutGroupPolicy",
    "privesc18-PassExistingRoleToNewGlueDevEndpoint",
    "privesc14-UpdatingAssumeRolePolicy",
    "privesc-sageMakerCreateNotebookPassRole-policy",
    "privesc12-PutRolePolicy",
    "privesc2-SetExistingDefaultPolicyVersion",
    "privesc-AssumeRole-high-priv-policy",
    "privesc1-CreateNewPolicyVersion",
    "privesc-sageMakerCreateTrainingJobPassRole-policy",
    "privesc5-CreateLoginProfile",
    "privesc-ec2InstanceConnect-policy",
    "privesc13-AddUserToGroup",
    "privesc-sre-admin-policy",
    "privesc10-PutUserPolicy",
    "privesc20-PassExistingRoleToCloudFormation",
    "fn4-exploitableNotAction",
    "privesc3-CreateEC2WithExistingInstanceProfile",
    "privesc7-AttachUserPolicy",
}
CLOUDSPLAINING_INLINE = {"SupYo"}


def method_names(*statements, deny_statements=()):
    """The declared methods a policy allows on its own (the evaluator asked as for a holder of only it)."""
    analysis = Analysis(healthy())
    compiled = analysis.authz.compile(doc(*statements, *deny_statements), "p")
    return {h.method.name for h in analysis.alone.methods(compiled)}


def test_it_knows_at_least_forty_named_methods():
    assert len(catalog.METHODS) >= 40
    assert len({m.name for m in catalog.METHODS}) == len(catalog.METHODS)


@pytest.mark.parametrize(
    ("actions", "method"),
    [
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
        (
            ["iam:PassRole", "lambda:CreateFunction", "lambda:CreateEventSourceMapping"],
            "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
        ),
        (["lambda:UpdateFunctionCode"], "EditExistingLambdaFunctionWithRole"),
        (["iam:PassRole", "ec2:RunInstances"], "CreateEC2WithExistingIP"),
        (["iam:PassRole", "glue:CreateDevEndpoint"], "PassExistingRoleToNewGlueDevEndpoint"),
        (["glue:UpdateDevEndpoint"], "UpdateExistingGlueDevEndpoint"),
        (["iam:PassRole", "cloudformation:CreateStack"], "PassExistingRoleToCloudFormation"),
        (
            ["iam:PassRole", "datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"],
            "PassExistingRoleToNewDataPipeline",
        ),
        (["iam:PassRole", "sagemaker:CreateNotebookInstance"], "PassExistingRoleToNewSageMakerNotebookInstance"),
        (["iam:PassRole", "sagemaker:CreateTrainingJob"], "PassExistingRoleToNewSageMakerTrainingJob"),
        (["iam:PassRole", "sagemaker:CreateProcessingJob"], "PassExistingRoleToNewSageMakerProcessingJob"),
        (["sagemaker:CreatePresignedNotebookInstanceUrl"], "CreatePresignedSageMakerNotebookUrl"),
        (
            ["iam:PassRole", "codebuild:CreateProject", "codebuild:StartBuild"],
            "PassExistingRoleToNewCodeBuildProjectThenBuild",
        ),
        (["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:RunTask"], "PassExistingRoleToNewECSTask"),
        (["ssm:SendCommand"], "SSMSendCommand"),
        (["ssm:StartSession"], "SSMStartSession"),
        (["ec2-instance-connect:SendSSHPublicKey"], "EC2InstanceConnectSendSSHPublicKey"),
        (["iam:DeleteRolePermissionsBoundary"], "DeletePermissionsBoundary"),
    ],
)
def test_it_names_the_method(actions, method):
    assert method in method_names(allow(actions))


def test_it_needs_every_requirement_of_a_method():
    assert "CreateEC2WithExistingIP" not in method_names(allow("ec2:RunInstances"))
    assert "PassExistingRoleToNewLambdaThenInvoke" not in method_names(allow(["iam:PassRole", "lambda:CreateFunction"]))


def test_it_names_a_method_on_a_scoped_resource_and_notes_it_only_where_it_escalates():
    # The policy alone does allow iam:CreateAccessKey on user/me (AWS would create the key); whether that is an
    # escalation depends on the user, which the graph decides: a harmless "me" leaves the policy unflagged.
    scoped = doc(allow(["iam:PassRole", "iam:CreateAccessKey"], "arn:aws:iam::111122223333:user/me"))
    assert method_names(*scoped["Statement"]) == {"CreateAccessKey"}
    pol = managed("scoped", scoped)
    snap = healthy(users=[user("holder", policies=(pol,)), user("me")], policies=[pol])
    assert hits(snap, "policy_privilege_escalation") == []
    assert hits(snap, "principal_privilege_escalation") == []


def test_it_does_not_fire_when_denied():
    assert method_names(allow("iam:*"), deny_statements=[deny("iam:*")]) == set()


ADMIN = managed("AdministratorAccess", doc(allow("*")), aws=True)


def escalations(snap) -> dict[str, Finding]:
    return {f["principal_name"]: f for f in findings(snap) if f["check_id"] == "principal_privilege_escalation"}


def test_it_finds_escalation_that_needs_two_policies():
    passrole = managed("passrole", doc(allow("iam:PassRole")))
    run = managed("run", doc(allow("ec2:RunInstances")))
    ec2_admin = role("Ec2Admin", policies=(ADMIN,), trust=trust_doc({"Service": "ec2.amazonaws.com"}))
    f = escalations(
        healthy(users=[user("dev", policies=(passrole, run))], roles=[ec2_admin], policies=[passrole, run, ADMIN])
    )["dev"]
    assert f["evidence"]["method"] == "CreateEC2WithExistingIP"
    assert {r["policy"] for r in f["evidence"]["statements"]} >= {passrole["Arn"], run["Arn"]}
    assert f["evidence"]["path"][0]["to"] == ec2_admin["Arn"]


def test_it_needs_a_role_to_pass():
    # PassRole and RunInstances on "*" with no role that EC2 may assume: nothing to gain today
    passrole = managed("passrole", doc(allow(["iam:PassRole", "ec2:RunInstances"])))
    snap = healthy(users=[user("dev", policies=(passrole,))], policies=[passrole])
    found = findings(snap)
    # Not an escalation today, and nothing cancels the grant: a latent method on the principal, which says what
    # would complete it (issue: the old "every holder is denied it" note was false).
    assert not [f for f in found if f["check_id"] in ("principal_privilege_escalation", "principal_grants_admin")]
    assert not [f for f in found if f["check_id"] == "policy_grant_ineffective"]
    [latent] = [f for f in found if f["check_id"] == "principal_latent_escalation"]
    assert latent["severity"] == "medium" and latent["principal_name"] == "dev"
    assert "trusts ec2.amazonaws.com and has more rights" in latent["evidence"]["completes"]


def test_it_puts_single_policy_escalation_on_the_principal_and_notes_the_policy():
    keys = managed("keys", doc(allow("iam:CreateAccessKey")))
    admin_user = user("boss", policies=(ADMIN,))
    found = findings(healthy(users=[user("dev", policies=(keys,)), admin_user], policies=[keys, ADMIN]))
    [f] = [f for f in found if f["check_id"] == "principal_privilege_escalation"]
    assert f["principal_name"] == "dev" and f["evidence"]["method"] == "CreateAccessKey"
    [p] = [f for f in found if f["check_id"] == "policy_privilege_escalation"]
    assert p["principal_name"] == "keys" and p["evidence"]["effective_for"] == [arn_of("user", "dev")]


def test_it_says_under_which_conditions_escalation_holds():
    cond = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    pol = managed("cond", doc(allow("iam:CreateAccessKey", Condition=cond)))
    f = escalations(
        healthy(users=[user("dev", policies=(pol,)), user("boss", policies=(ADMIN,))], policies=[pol, ADMIN])
    )["dev"]
    assert f["severity"] == "critical" and f["conditioned"]
    assert [c["key"] for c in f["evidence"]["conditions"]] == ["aws:RequestedRegion"]
    assert "Only when" in f["detail"] and "eu-west-1" in f["detail"]


def test_it_drops_escalation_under_a_condition_that_cannot_hold():
    never = {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}
    pol = managed("never", doc(allow("iam:CreateAccessKey", Condition=never)))
    found = escalations(
        healthy(users=[user("dev", policies=(pol,)), user("boss", policies=(ADMIN,))], policies=[pol, ADMIN])
    )
    assert "dev" not in found


def test_it_reports_the_path_to_an_admin_role():
    prod = role("ProdAdmin", policies=(ADMIN,), trust=trust_doc({"AWS": "arn:aws:iam::111122223333:root"}))
    hop = role(
        "Hop",
        trust=trust_doc({"AWS": "arn:aws:iam::111122223333:user/intern"}),
        inline={"assume": doc(allow("sts:AssumeRole", "arn:aws:iam::111122223333:role/ProdAdmin"))},
    )
    found = escalations(healthy(users=[user("intern")], roles=[prod, hop], policies=[ADMIN]))
    path = found["intern"]["evidence"]["path"]
    assert [(h["from"], h["to"], h["method"]) for h in path] == [
        (arn_of("user", "intern"), hop["Arn"], "AssumeRole"),
        (hop["Arn"], prod["Arn"], "AssumeRole"),
    ]
    assert found["intern"]["severity"] == "critical"
    assert "role Hop" in found["intern"]["detail"] and found["intern"]["evidence"]["target"] == prod["Arn"]
    assert len(found["Hop"]["evidence"]["path"]) == 1
    # the hop cites the granting statement: the intern needs none (the trust names it), Hop's inline does
    cited = found["Hop"]["evidence"]["statements"]
    assert any(r["policy"] == "role/Hop:inline/assume" and r["index"] == 1 for r in cited)


def test_it_needs_both_trust_and_permission_for_account_trusts():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    prod = role("ProdAdmin", policies=(admin,), trust=trust_doc({"AWS": "arn:aws:iam::111122223333:root"}))
    bystander = user("bystander")  # trusted through the account, but holds no sts:AssumeRole
    denied = user("denied", inline={"a": doc(allow("sts:AssumeRole"), deny("sts:AssumeRole"))})
    ids = {
        f["principal_name"]
        for f in findings(healthy(users=[bystander, denied], roles=[prod], policies=[admin]))
        if f["check_id"] == "principal_privilege_escalation"
    }
    assert ids == set()


@pytest.fixture(scope="module")
def example_findings():
    snap = load_snapshot((SAMPLES / "cloudsplaining__examples_files_example.json").read_bytes())
    return findings(snap)


def test_it_notes_every_policy_cloudsplaining_flags_on_example_json(example_findings):
    """Every policy Cloudsplaining flags gets a note: an escalation/admin finding where a holder can use it (or
    could: unattached, latent), a low "cancelled on every holder" note naming the Deny/boundary/condition."""
    notes = ("policy_privilege_escalation", "policy_admin_access", "policy_grant_ineffective")
    noted = {
        f["principal_name"]: f["check_id"]
        for f in example_findings
        if f["principal_type"] == "policy" and f["check_id"] in notes
    }
    assert set(noted) >= CLOUDSPLAINING_AWS | CLOUDSPLAINING_CUSTOMER
    inline = {f["policy"] for f in example_findings if f["principal_type"] != "policy" and f["check_id"] in notes}
    assert inline >= CLOUDSPLAINING_INLINE
    # SSM, stack-update and CodeDeploy methods Cloudsplaining does not know (iam-vulnerable's UpdateStack policy;
    # AWSCodeDeployFullAccess, attached to no one); a condition it ignores; AdministratorAccess it excludes.
    assert set(noted) - CLOUDSPLAINING_AWS - CLOUDSPLAINING_CUSTOMER == {
        "AdministratorAccess",
        "privesc-ssmSendCommand-policy",
        "privesc-ssmStartSession-policy",
        "privesc-CloudFormationUpdateStack",
        "AWSCodeDeployFullAccess",
        "fn3-exploitableConditionConstraint",
        "fp5-nonExploitableConditionConstraint",
    }
    assert noted["privesc-CloudFormationUpdateStack"] == "policy_privilege_escalation"
    # Held only outside the export (AttachmentCount 1, no holder in it): its escalation is reported, not hidden as
    # hygiene (issue: "every holder is denied it" was false).
    assert noted["AWSCodeDeployFullAccess"] == "policy_privilege_escalation"
    assert noted["fp5-nonExploitableConditionConstraint"] == "policy_grant_ineffective"
    # Attached to no one in the export: what it grants is reported as such, not as a grant some control cancels.
    assert noted["IAMFullAccess"] == "policy_privilege_escalation"


def test_it_leaves_cloudsplaining_decoys_alone(example_findings):
    flagged = {
        f["principal_name"] for f in example_findings if f["category"] in ("privilege_escalation", "admin_access")
    }
    assert not flagged & {"fp1-allow-and-deny", "fp3-deny-iam", "fp4-nonExploitableResourceConstraint", "deny-all"}


def test_it_follows_role_chains_in_example_json(example_findings):
    [f] = [
        f
        for f in example_findings
        if f["check_id"] == "principal_privilege_escalation"
        and f["principal_name"] == "privesc-AssumeRole-starting-role"
    ]
    assert [h["to"].rsplit("/", 1)[-1] for h in f["evidence"]["path"]] == [
        "privesc-AssumeRole-intermediate-role",
        "privesc-AssumeRole-ending-role",
    ]


def test_it_reports_passing_an_admin_role_to_a_service():
    lambda_admin = role("LambdaAdmin", policies=(ADMIN,), trust=trust_doc({"Service": "lambda.amazonaws.com"}))
    dev = user("dev", inline={"deploy": doc(allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"]))})
    scoped = user(
        "scoped",
        inline={
            "deploy": doc(
                allow(["lambda:CreateFunction", "lambda:InvokeFunction"]),
                allow("iam:PassRole", "arn:aws:iam::111122223333:role/app-*"),
            )
        },
    )
    exact = user("exact", inline={"deploy": doc(allow("ec2:RunInstances"), allow("iam:PassRole", lambda_admin["Arn"]))})
    found = escalations(healthy(users=[dev, scoped, exact], roles=[lambda_admin], policies=[ADMIN]))
    assert set(found) == {"dev"}  # exact may pass the role, but only to EC2, which the role does not trust
    [hop] = found["dev"]["evidence"]["path"]
    assert hop["method"].startswith("PassExistingRoleToNewLambda") and hop["to"] == lambda_admin["Arn"]
    assert found["dev"]["severity"] == "critical"


def test_it_finds_passrole_scoped_to_exactly_an_admin_role():
    ec2_admin = role("Ec2Admin", policies=(ADMIN,), trust=trust_doc({"Service": "ec2.amazonaws.com"}))
    exact = user("exact", inline={"run": doc(allow("ec2:RunInstances"), allow("iam:PassRole", ec2_admin["Arn"]))})
    found = escalations(healthy(users=[exact], roles=[ec2_admin], policies=[ADMIN]))
    assert found["exact"]["evidence"]["method"] == "CreateEC2WithExistingIP"


def test_it_finds_a_new_version_of_exactly_ones_own_policy():
    own = managed("own", doc(allow("iam:CreatePolicyVersion", "arn:aws:iam::111122223333:policy/own")))
    other = managed("other", doc(allow("iam:CreatePolicyVersion", "arn:aws:iam::111122223333:policy/elsewhere")))
    found = escalations(
        healthy(users=[user("me", policies=(own,)), user("them", policies=(other,))], policies=[own, other])
    )
    assert set(found) == {"me"} and found["me"]["evidence"]["method"] == "CreateNewPolicyVersion"


def test_it_shortens_nothing_and_counts_every_hop_of_a_long_chain():
    account_trust = trust_doc({"AWS": "arn:aws:iam::111122223333:root"})
    roles = [
        role(
            f"r{i}",
            trust=account_trust,
            inline={"next": doc(allow("sts:AssumeRole", f"arn:aws:iam::111122223333:role/r{i + 1}"))},
        )
        for i in range(9)
    ]
    roles.append(role("r9", trust=account_trust, policies=(ADMIN,)))
    f = escalations(healthy(roles=roles, policies=[ADMIN]))["r0"]
    assert f["evidence"]["hops"] == 9 and len(f["evidence"]["path"]) == 9
    assert f["evidence"]["target"].endswith("role/r9")


def emr_account(instance_role_trust: str):
    """A user who may pass any role and start EMR clusters; the only admin role trusts `instance_role_trust`."""
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    return healthy(
        users=[user("analyst", inline={"emr": doc(allow(["iam:PassRole", "elasticmapreduce:RunJobFlow"]))})],
        roles=[role("cluster-nodes", trust=trust_doc({"Service": instance_role_trust}), policies=(admin,))],
        policies=[admin],
    )


def test_an_emr_cluster_escalates_through_the_instance_profile_it_is_given():
    # pathfinding.cloud emr-001: the cluster's EC2 instances run the steps with the passed instance profile's role.
    found = hits(emr_account("ec2.amazonaws.com"), "principal_privilege_escalation", "analyst")
    assert found and "PassInstanceProfileToNewEMRCluster" in found[0]["detail"]
    # A role trusting a service EMR does not run (Lambda) is out of its reach.
    assert not hits(emr_account("lambda.amazonaws.com"), "principal_privilege_escalation", "analyst")


def cognito_account(action: str, condition: dict | None):
    """A user who may pass roles and set identity pools' roles; the admin role trusts Cognito's federated principal."""
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    statement = {"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"}, "Action": action}
    if condition:
        statement["Condition"] = condition
    return healthy(
        users=[
            user("app-dev", inline={"pools": doc(allow(["iam:PassRole", "cognito-identity:SetIdentityPoolRoles"]))})
        ],
        roles=[role("pool-admin", trust=doc(statement), policies=(admin,))],
        policies=[admin],
    )


@pytest.mark.parametrize(
    "condition", [None, {"StringEquals": {"cognito-identity.amazonaws.com:aud": "eu-west-1:1234abcd-0000"}}]
)
def test_an_identity_pools_role_is_reached_by_whoever_may_set_the_pools_roles(condition):
    found = hits(
        cognito_account("sts:AssumeRoleWithWebIdentity", condition), "principal_privilege_escalation", "app-dev"
    )
    assert found and "PassRoleToCognitoIdentityPool" in found[0]["detail"]


def test_a_cognito_trust_for_another_action_is_no_identity_pool_role():
    assert not hits(cognito_account("sts:TagSession", None), "principal_privilege_escalation", "app-dev")
