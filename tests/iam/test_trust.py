from tests.iam.builders import ACCOUNT, OTHER, allow, doc, healthy, hits, managed, role, trust_doc

GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


def trust_hits(check_id, trust, **role_kwargs):
    return hits(
        healthy(roles=[role("r", trust=trust, **role_kwargs)], policies=role_kwargs.get("policies", ())), check_id, "r"
    )


def test_it_flags_a_role_anyone_can_assume():
    [f] = trust_hits("trust_any_principal", trust_doc("*"))
    assert f["severity"] == "critical"
    assert len(trust_hits("trust_any_principal", trust_doc({"AWS": "*"}))) == 1


def test_it_names_the_conditions_of_an_open_trust_without_lowering_it():
    [f] = trust_hits(
        "trust_any_principal", trust_doc({"AWS": "*"}, condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})
    )
    assert f["severity"] == "critical" and f["conditioned"]
    assert "aws:principalorgid" in f["detail"]


def test_it_leaves_named_principals_alone():
    assert trust_hits("trust_any_principal", trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci"})) == []


def test_it_flags_cross_account_trust_without_external_id():
    [f] = trust_hits("trust_cross_account_unprotected", trust_doc({"AWS": f"arn:aws:iam::{OTHER}:root"}))
    assert f["evidence"]["external_account"] == OTHER


def test_it_accepts_cross_account_trust_with_external_id_or_mfa():
    for key, value in (("sts:ExternalId", "x-123"), ("aws:MultiFactorAuthPresent", "true")):
        trust = trust_doc({"AWS": f"arn:aws:iam::{OTHER}:root"}, condition={"StringEquals": {key: value}})
        assert trust_hits("trust_cross_account_unprotected", trust) == []


def test_it_does_not_call_its_own_account_cross_account():
    assert trust_hits("trust_cross_account_unprotected", trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})) == []


def test_it_flags_github_oidc_trust_without_a_subject():
    trust = trust_doc(
        {"Federated": GITHUB},
        action="sts:AssumeRoleWithWebIdentity",
        condition={"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
    )
    [f] = trust_hits("trust_oidc_unrestricted", trust)
    assert f["evidence"]["missing_condition"] == "token.actions.githubusercontent.com:sub"


def test_it_flags_a_subject_that_allows_every_repository():
    trust = trust_doc(
        {"Federated": GITHUB},
        action="sts:AssumeRoleWithWebIdentity",
        condition={"StringLike": {"token.actions.githubusercontent.com:sub": "*"}},
    )
    assert len(trust_hits("trust_oidc_unrestricted", trust)) == 1


def test_it_accepts_oidc_trust_pinned_to_a_repository():
    trust = trust_doc(
        {"Federated": GITHUB},
        action="sts:AssumeRoleWithWebIdentity",
        condition={"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:*"}},
    )
    assert trust_hits("trust_oidc_unrestricted", trust) == []


def test_it_flags_service_trust_without_source_conditions():
    [f] = trust_hits("trust_service_confused_deputy", trust_doc({"Service": "scheduler.amazonaws.com"}))
    assert f["severity"] == "low"


def test_it_never_asks_source_conditions_of_services_that_send_none():
    # EC2 (instance profiles), Lambda and ECS tasks send no aws:SourceAccount: the condition would break the role.
    for service in ("ec2.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com"):
        assert trust_hits("trust_service_confused_deputy", trust_doc({"Service": service})) == []


def test_it_flags_a_trust_of_the_accounts_own_root_and_says_who_can_assume():
    admin = managed("AdministratorAccess", doc(allow("*")), aws=True)
    snap = healthy(
        roles=[
            role("r", trust=trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), policies=(admin,)),
            role("ops", inline={"a": doc(allow("sts:AssumeRole"))}),
        ],
        policies=[admin],
    )
    [f] = hits(snap, "trust_account_root", "r")
    assert f["evidence"]["effective_for"] == [f"arn:aws:iam::{ACCOUNT}:role/ops"]
    assert f["severity"] == "medium"  # an administrator role that someone can assume today
    [path] = hits(snap, "principal_privilege_escalation", "ops")
    assert path["evidence"]["path"][0]["method"] == "AssumeRole"


def test_it_accepts_service_trust_with_source_account():
    trust = trust_doc(
        {"Service": "scheduler.amazonaws.com"}, condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    )
    assert trust_hits("trust_service_confused_deputy", trust) == []


def test_it_skips_service_linked_roles():
    trust = trust_doc({"Service": "elasticloadbalancing.amazonaws.com"})
    snap = healthy(roles=[role("AWSServiceRoleForELB", trust=trust, path="/aws-service-role/elb.amazonaws.com/")])
    assert [f for f in hits(snap, "trust_service_confused_deputy")] == []


def test_it_flags_read_only_access_for_another_account():
    read_only = managed("ReadOnlyAccess", doc(allow(["s3:Get*", "ec2:Describe*"])), aws=True)
    found = trust_hits(
        "cross_account_readonly_role", trust_doc({"AWS": f"arn:aws:iam::{OTHER}:root"}), policies=(read_only,)
    )
    assert len(found) == 1
    same = trust_hits(
        "cross_account_readonly_role", trust_doc({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), policies=(read_only,)
    )
    assert same == []
