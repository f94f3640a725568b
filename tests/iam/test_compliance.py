from audits.iam.checks import CHECKS
from audits.iam.compliance import FRAMEWORKS, controls_for, evaluate
from tests.iam.builders import GOOD_PASSWORD_POLICY, audit, healthy


def test_it_offers_the_five_frameworks():
    assert set(FRAMEWORKS) == {"cis", "pci_dss", "hipaa", "soc2", "nist_800_53"}


def test_it_maps_only_checks_that_exist():
    for fw in FRAMEWORKS.values():
        for control in fw["controls"]:
            assert control["checks"], control["id"]
            assert set(control["checks"]) <= set(CHECKS), control["id"]


def test_it_does_not_repeat_prowlers_mapping_errors():
    pci = {c["id"]: c["checks"] for c in FRAMEWORKS["pci_dss"]["controls"]}
    assert "password_expiry" in pci["8.3.9"] and "password_reuse" not in pci["8.3.9"]
    assert "password_min_length" in pci["8.3.6"] and "password_reuse" not in pci["8.3.6"]
    nist = {c["id"]: c["checks"] for c in FRAMEWORKS["nist_800_53"]["controls"]}
    assert "password_min_length" not in nist["AC-2(3)"]
    assert "inactive_user" in nist["AC-2(3)"]


def test_it_lists_controls_for_a_check():
    assert controls_for("root_access_keys")["cis"] == ["1.4"]


def f(check_id):
    return {"check_id": check_id, "fingerprint": check_id + "-fp"}


def test_it_passes_fails_and_leaves_unevaluated():
    result = evaluate(
        ["cis"],
        [f("root_access_keys")],
        evaluated={"root_access_keys", "password_min_length", "password_policy_missing"},
    )
    status = {c["id"]: c for c in result["cis"]["controls"]}
    assert status["1.4"]["status"] == "fail" and status["1.4"]["findings"] == ["root_access_keys-fp"]
    assert status["1.8"]["status"] == "pass"
    assert status["1.14"]["status"] == "not_evaluated"
    cis = result["cis"]
    assert cis["passed"] + cis["failed"] + cis["not_evaluated"] == len(cis["controls"])


def test_it_reports_compliance_in_the_result():
    _, outcome = audit(
        healthy(password_policy={**GOOD_PASSWORD_POLICY, "MinimumPasswordLength": 8}), frameworks=("cis", "soc2")
    )
    compliance = outcome.result["compliance"]
    assert set(compliance) == {"cis", "soc2"}
    cis = {c["id"]: c["status"] for c in compliance["cis"]["controls"]}
    assert cis["1.8"] == "fail" and cis["1.9"] == "pass"


def test_it_marks_credential_controls_not_evaluated_without_a_report():
    snap = healthy()
    snap.credential_report = None
    _, outcome = audit(snap, frameworks=("cis",))
    cis = {c["id"]: c["status"] for c in outcome.result["compliance"]["cis"]["controls"]}
    assert cis["1.14"] == "not_evaluated"
    assert cis["1.16"] == "pass"
