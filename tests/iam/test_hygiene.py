"""The broad-grant notes' reading of a policy's statements (the evaluator's compiled form), and what one policy
grants on its own by the evaluator (administrator access)."""

from audits.iam.analysis import Analysis
from audits.iam.evaluator import compile_policy
from audits.iam.hygiene import Grants, evidence, is_broad_resource
from tests.iam.builders import allow, deny, doc, healthy


def grants(*statements, boundary=None):
    bound = compile_policy(boundary, "boundary", kind="boundary") if boundary else None
    return Grants.of(compile_policy(doc(*statements), "p"), boundary=bound)


def is_admin(*documents) -> bool:
    analysis = Analysis(healthy())
    statements = tuple(s for i, d in enumerate(documents) for s in analysis.authz.compile(d, f"p{i}"))
    return analysis.alone.is_admin(statements)


def test_it_grants_listed_actions_on_all_resources():
    grant = grants(allow(["iam:PassRole", "ec2:RunInstances"])).grant("iam:passrole")
    assert grant is not None
    assert not grant.conditioned


def test_it_accepts_single_strings_and_lists_in_any_case():
    assert grants(allow("IAM:passrole", ["*"])).grant("iam:passrole") is not None


def test_it_honours_not_action():
    g = grants({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})
    assert g.grant("iam:passrole") is None
    assert g.grant("s3:getobject") is not None


def test_it_treats_not_resource_as_unrestricted():
    g = grants({"Effect": "Allow", "Action": "iam:CreateAccessKey", "NotResource": "arn:aws:iam::1:user/admin"})
    assert g.grant("iam:createaccesskey") is not None


def test_it_ignores_grants_scoped_to_named_resources():
    g = grants(allow("s3:GetObject", "arn:aws:s3:::reports/*"), allow("iam:PassRole", "arn:aws:iam::1:role/app"))
    assert g.grant("s3:getobject") is None
    assert g.grant("iam:passrole") is None


def test_it_counts_resourceless_actions_whatever_the_resource():
    assert grants(allow("sts:GetSessionToken", "arn:aws:iam::1:user/x")).grant("sts:getsessiontoken") is not None


def test_it_lets_an_unconditioned_deny_win():
    g = grants(allow("iam:*"), deny("iam:PassRole"))
    assert g.grant("iam:passrole") is None
    assert g.grant("iam:createrole") is not None


def test_it_lets_the_holders_deny_win_across_policies():
    guard = compile_policy(doc(deny("iam:*")), "guard")
    g = Grants.of(compile_policy(doc(allow("*")), "admin"), denies=guard)
    assert g.grant("iam:attachuserpolicy") is None
    assert not is_admin(doc(allow("*")), doc(deny("iam:*")))


def test_it_marks_a_conditional_deny_as_mitigation_only():
    grant = grants(
        allow("iam:PassRole"), deny("iam:PassRole", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
    ).grant("iam:passrole")
    assert grant is not None and grant.conditioned


def test_it_marks_conditioned_grants():
    g = grants(allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))
    assert g.grant("iam:passrole").conditioned


def test_it_applies_the_permissions_boundary():
    g = grants(allow("*"), boundary=doc(allow(["s3:*", "ec2:*"])))
    assert g.grant("s3:getobject") is not None
    assert g.grant("iam:passrole") is None


def test_it_recognises_full_admin():
    assert is_admin(doc(allow("*")))
    assert is_admin(doc(allow("*:*")))
    assert not is_admin(doc(allow("*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})))
    assert not is_admin(doc(allow(["iam:*", "s3:*"])))


def test_it_reports_level_grants_without_the_denied_ones():
    actions, stmts = grants(allow("s3:*"), deny("s3:PutBucketPolicy")).level_grants("P")
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
    assert Grants.of(compile_policy(doc({"Effect": "Maybe", "Action": "*"}, {"Effect": "Allow"}), "x")).allows == []


def test_it_keeps_the_original_statement_as_evidence():
    stmt = allow("iam:PassRole", Sid="PassAll")
    [cited] = evidence(compile_policy(doc(stmt), "inline/pol"), "pol")
    assert cited == {"policy": "pol", "sid": "PassAll", "index": 1, "statement": stmt}
