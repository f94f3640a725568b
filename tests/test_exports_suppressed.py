"""Accepted risks are marked in every findings export: findings.json, CSV, SARIF `suppressions` and OCSF status,
and the counts of each agree with the run's page; a run without one keeps its exports as they were."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audits.iam import report
from audits.models import Finding, Suppression
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db

JUSTIFICATION = "Break-glass admin, approved by the CISO"
OLD_CSV_COLUMNS = ["severity", "check_id", "category", "title", "principal_type", "principal_name", "principal_arn",
                   "policy", "detail", "remediation", "controls", "evidence", "fingerprint"]  # fmt: skip


@pytest.fixture
def run(alice, reviewer):
    run = make_completed_run(
        alice,
        [
            make_finding("a", severity="critical"),
            make_finding("b", fix={"summary": "Detach it", "cli": ["aws iam detach-role-policy --role-name b"]}),
            make_finding("c", severity="low", principal_arn="arn:aws:iam::444455556666:user/c"),
        ],
    )
    Finding.objects.filter(run=run, fingerprint="a").update(suppressed=True)
    Suppression.objects.create(
        owner=alice, run=run, account_id=run.account_id, source_key=run.source_key, fingerprint="a",
        justification=JUSTIFICATION, expires_at=timezone.now() + timedelta(days=30), created_by=reviewer,
    )  # fmt: skip
    return run


def get(client, run, name) -> bytes:
    response = client.get(f"/audits/{run.pk}/export/{name}")
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_findings_json_marks_the_accepted_risk_and_counts_without_it(client, alice, run):
    client.force_login(alice)
    document = json.loads(get(client, run, "findings.json"))
    by_fingerprint = {f["fingerprint"]: f for f in document["findings"]}
    assert by_fingerprint["a"]["suppressed"] is True
    assert by_fingerprint["a"]["muted_by"] == f"accepted risk: {JUSTIFICATION}"
    assert "suppressed" not in by_fingerprint["b"] and "muted_by" not in by_fingerprint["b"]
    summary = document["summary"]
    assert summary["total_findings"] == 2 and summary["suppressed_findings"] == 1
    assert summary["by_severity"]["critical"] == 0 and summary["by_severity"]["high"] == 1


def test_csv_keeps_old_columns_and_adds_account_run_suppressed_and_fix(client, alice, run):
    client.force_login(alice)
    text = get(client, run, "findings.csv").decode()
    header = next(csv.reader(io.StringIO(text)))
    assert header == [*OLD_CSV_COLUMNS, "account", "run", "suppressed", "muted_by", "fix"]
    rows = {r["fingerprint"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (rows["a"]["suppressed"], rows["a"]["muted_by"]) == ("true", f"accepted risk: {JUSTIFICATION}")
    assert (rows["b"]["suppressed"], rows["b"]["muted_by"]) == ("false", "")
    assert rows["b"]["fix"] == "aws iam detach-role-policy --role-name b"
    assert rows["a"]["fix"]  # recorded without a fix: the one written from the finding
    assert {r["run"] for r in rows.values()} == {str(run.pk)}
    assert (rows["a"]["account"], rows["c"]["account"]) == ("111122223333", "444455556666")


def test_sarif_suppresses_the_accepted_risk_for_ci_gates(client, alice, run):
    client.force_login(alice)
    results = json.loads(get(client, run, "findings.sarif"))["runs"][0]["results"]
    by_fingerprint = {r["partialFingerprints"]["aegisFingerprint/v1"]: r for r in results}
    assert by_fingerprint["a"]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": f"accepted risk: {JUSTIFICATION}"}
    ]
    assert "suppressions" not in by_fingerprint["b"] and "suppressions" not in by_fingerprint["c"]


def test_ocsf_and_the_api_agree(client, alice, run):
    from audits.tokens import create_token

    client.force_login(alice)
    events = {e["finding_info"]["uid"]: e for e in json.loads(get(client, run, "findings.ocsf.json"))}
    assert events["a"]["status"] == "Suppressed" and events["b"]["status"] == "New"
    assert events["a"]["unmapped"]["muted_by"] == f"accepted risk: {JUSTIFICATION}"
    _, token = create_token(alice, "ci")
    api = client.get(f"/api/v1/audits/{run.pk}/findings", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    marks = {f["fingerprint"]: (f["suppressed"], f["muted_by"]) for f in api["findings"]}
    assert marks == {"a": (True, f"accepted risk: {JUSTIFICATION}"), "b": (False, ""), "c": (False, "")}


def test_a_run_without_suppressed_findings_exports_the_report_bytes(client, alice):
    findings = [make_finding("x", severity="critical"), make_finding("y")]
    run = make_completed_run(alice, findings)
    client.force_login(alice)
    from audits import exports
    from audits.iam import CHECKS

    meta = exports.run_meta(run)
    stored = [f.to_dict() for f in Finding.objects.filter(run=run)]
    assert get(client, run, "findings.json") == report.to_json(meta, run.result, stored).encode()
    assert get(client, run, "findings.sarif") == report.to_sarif(meta, stored, CHECKS).encode()
    assert b'"suppress' not in get(client, run, "findings.json") + get(client, run, "findings.sarif")
