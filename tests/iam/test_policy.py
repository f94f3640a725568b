from audits.iam import policy
from audits.iam.policy import Permissions, compile_policy, is_broad_resource
from tests.iam.builders import allow, deny, doc


def perms(*statements, boundary=None):
    compiled = list(compile_policy(doc(*statements), "p"))
    bound = compile_policy(boundary, "boundary") if boundary else None
    return Permissions.of(compiled, bound)


def test_it_grants_listed_actions_on_all_resources():
    grant = perms(allow(["iam:PassRole", "ec2:RunInstances"])).grant("iam:passrole")
    assert grant is not None
    assert not grant.conditioned


def test_it_accepts_single_strings_and_lists_in_any_case():
    assert perms(allow("IAM:passrole", ["*"])).grant("iam:passrole") is not None


def test_it_honours_not_action():
    p = perms({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})
    assert p.grant("iam:passrole") is None
    assert p.grant("s3:getobject") is not None


def test_it_treats_not_resource_as_unrestricted():
    p = perms({"Effect": "Allow", "Action": "iam:CreateAccessKey", "NotResource": "arn:aws:iam::1:user/admin"})
    assert p.grant("iam:createaccesskey") is not None


def test_it_ignores_grants_scoped_to_named_resources():
    p = perms(allow("s3:GetObject", "arn:aws:s3:::reports/*"), allow("iam:PassRole", "arn:aws:iam::1:role/app"))
    assert p.grant("s3:getobject") is None
    assert p.grant("iam:passrole") is None


def test_it_counts_resourceless_actions_whatever_the_resource():
    assert perms(allow("sts:GetSessionToken", "arn:aws:iam::1:user/x")).grant("sts:getsessiontoken") is not None


def test_it_lets_an_unconditioned_deny_win():
    p = perms(allow("iam:*"), deny("iam:PassRole"))
    assert p.grant("iam:passrole") is None
    assert p.grant("iam:createrole") is not None


def test_it_lets_deny_win_across_policies():
    stmts = list(compile_policy(doc(allow("*")), "admin")) + list(compile_policy(doc(deny("iam:*")), "guard"))
    p = Permissions.of(stmts)
    assert p.grant("iam:attachuserpolicy") is None
    assert not p.is_admin()


def test_it_marks_a_conditional_deny_as_mitigation_only():
    grant = perms(
        allow("iam:PassRole"), deny("iam:PassRole", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
    ).grant("iam:passrole")
    assert grant is not None and grant.conditioned


def test_it_marks_conditioned_grants():
    grant = perms(allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))
    assert grant.grant("iam:passrole").conditioned


def test_it_applies_the_permissions_boundary():
    p = perms(allow("*"), boundary=doc(allow(["s3:*", "ec2:*"])))
    assert p.grant("s3:getobject") is not None
    assert p.grant("iam:passrole") is None
    assert not p.is_admin()


def test_it_recognises_full_admin():
    assert perms(allow("*")).is_admin()
    assert perms(allow("*:*")).is_admin()
    assert not perms(allow("*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})).is_admin()
    assert not perms(allow(["iam:*", "s3:*"])).is_admin()


def test_it_reports_level_grants_without_the_denied_ones():
    actions, stmts = perms(allow("s3:*"), deny("s3:PutBucketPolicy")).level_grants("P")
    assert "s3:putbucketacl" in actions
    assert "s3:putbucketpolicy" not in actions
    assert len(stmts) == 1


def test_it_tells_broad_resources_from_scoped_ones():
    assert is_broad_resource("*")
    assert is_broad_resource("arn:aws:iam::111122223333:role/*")
    assert is_broad_resource("arn:aws:s3:::*")
    assert is_broad_resource("arn:aws:s3:::*/*")
    assert is_broad_resource("arn:aws:secretsmanager:*:*:secret:*")
    assert not is_broad_resource("arn:aws:s3:::bucket/*")
    assert not is_broad_resource("arn:aws:iam::111122223333:role/app-*")


def test_it_skips_malformed_statements():
    assert compile_policy(doc({"Effect": "Maybe", "Action": "*"}, {"Effect": "Allow"}), "x") == ()
    assert compile_policy(None, "x") == ()


def test_it_keeps_the_original_statement_as_evidence():
    stmt = allow("iam:PassRole", Sid="PassAll")
    [evidence] = policy.statement_evidence(compile_policy(doc(stmt), "pol"))
    assert evidence == {"policy": "pol", "sid": "PassAll", "statement": stmt}
