import re
from pathlib import Path

from audits.iam.checks import CATEGORIES, CHECKS, SEVERITIES, fingerprint, make_finding

PROWLER = Path(__file__).parent / "data" / "prowler_aws_iam_checks.txt"
# Prowler checks IAM data (authorization details, credential report, password policy, summary) cannot answer.
NOT_ANSWERABLE = {
    "iam_check_saml_providers_sts",  # needs ListSAMLProviders
    "iam_no_expired_server_certificates_stored",  # needs ListServerCertificates
    "iam_root_credentials_management_enabled",  # needs AWS Organizations
    "iam_root_hardware_mfa_enabled",
    "iam_user_hardware_mfa_enabled",  # need ListVirtualMFADevices
    "iam_role_access_not_stale_to_bedrock",
    "iam_user_access_not_stale_to_bedrock",  # need service last accessed
    "iam_user_access_not_stale_to_sagemaker",
    "iam_user_with_temporary_credentials",
}


def test_it_uses_only_known_severities_and_categories():
    assert {c.severity for c in CHECKS.values()} <= set(SEVERITIES)
    assert {c.category for c in CHECKS.values()} == set(CATEGORIES)


def test_it_describes_every_check():
    for check in CHECKS.values():
        assert re.fullmatch(r"[a-z0-9_]+", check.id)
        assert check.title and check.description and check.remediation


def test_it_answers_every_prowler_iam_check_that_iam_data_can_answer():
    prowler = {line.split(" | ")[0] for line in PROWLER.read_text().splitlines() if line.strip()}
    answered = {p for c in CHECKS.values() for p in c.prowler}
    assert answered <= prowler
    assert prowler - answered == NOT_ANSWERABLE


def test_it_fingerprints_stably_and_distinctly():
    a = fingerprint("x", "arn:1", "p", "d")
    assert a == fingerprint("x", "arn:1", "p", "d")
    assert len(a) == 64
    assert a != fingerprint("x", "arn:1", "p", "e")
    assert fingerprint("x", "arn:1", "p|d", "") != fingerprint("x", "arn:1", "p", "d|")


def test_it_builds_findings_with_controls_and_names_their_conditions():
    principal = {"type": "user", "name": "u", "arn": "arn:aws:iam::1:user/u"}
    f = make_finding("console_user_without_mfa", principal, detail="d.", evidence={})
    assert (f["severity"] == "high" and f["fix"] == {}) or isinstance(f["fix"], dict)
    assert "1.10" in f["controls"]["cis"]
    condition = {"operator": "Bool", "key": "aws:MultiFactorAuthPresent", "values": ["true"], "negated": False}
    g = make_finding(
        "console_user_without_mfa", principal, detail="d.", evidence={"conditions": [condition]}, conditioned=True
    )
    assert g["severity"] == "high" and "Only when: aws:MultiFactorAuthPresent" in g["detail"]


def test_it_keeps_each_checks_compliance_mapping_on_the_check():
    from audits.iam.checks import CHECKS
    from audits.iam.compliance import FRAMEWORKS

    [control] = [c for c in FRAMEWORKS["cis"]["controls"] if c["id"] == "1.10"]
    assert control["checks"] == [c.id for c in CHECKS.values() if "1.10" in (c.controls or {}).get("cis", ())]
    assert all(c.detected_in for c in CHECKS.values())


def test_it_gives_django_the_engines_severities_and_frameworks():
    from audits.iam.checks import SEVERITIES
    from audits.iam.compliance import FRAMEWORKS
    from audits.models import FRAMEWORK_KEYS
    from audits.models import SEVERITIES as MODEL_SEVERITIES

    assert list(SEVERITIES) == MODEL_SEVERITIES and list(FRAMEWORKS) == FRAMEWORK_KEYS
