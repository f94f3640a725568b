"""Downloads: the event log as text and NDJSON, findings as JSON, CSV and SARIF."""

import csv
import io
import json

import pytest

from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(alice):
    return make_completed_run(
        alice, [make_finding("a", severity="critical", principal_name='=HYPERLINK("x")'), make_finding("b")]
    )


def get(client, run, name):
    response = client.get(f"/audits/{run.pk}/export/{name}")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="aegis-audit-{run.pk}-{name}"'
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_it_exports_one_log_line_per_event(client, alice, run):
    client.force_login(alice)
    lines = get(client, run, "log.txt").decode().splitlines()
    assert len(lines) == 4
    ts, type_, progress, message = lines[-1].split("\t")
    assert ts.endswith("Z") and type_ == "complete" and progress.strip() == "100%" and message == "Audit complete!"


def test_it_exports_the_wire_dicts_as_ndjson(client, alice, run):
    client.force_login(alice)
    rows = [json.loads(line) for line in get(client, run, "log.ndjson").decode().splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert rows[1]["finding"]["fingerprint"] == "a"


def test_it_exports_findings_as_json_and_sarif(client, alice, run):
    client.force_login(alice)
    document = json.loads(get(client, run, "findings.json"))
    assert [f["fingerprint"] for f in document["findings"]] == ["a", "b"]
    sarif = json.loads(get(client, run, "findings.sarif"))
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 2


def test_it_exports_csv_safe_from_formulas(client, alice, run):
    client.force_login(alice)
    rows = list(csv.DictReader(io.StringIO(get(client, run, "findings.csv").decode())))
    assert rows[0]["principal_name"].startswith("'=")


def test_it_refuses_unknown_exports_and_strangers(client, alice, bob, run):
    client.force_login(alice)
    assert client.get(f"/audits/{run.pk}/export/secrets.txt").status_code == 404
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/export/findings.csv").status_code == 404


def test_it_exports_ocsf_detection_findings(client, alice, run):
    from audits.models import Finding

    Finding.objects.filter(run=run, fingerprint="b").update(suppressed=True)
    client.force_login(alice)
    events = json.loads(get(client, run, "findings.ocsf.json"))
    assert [e["finding_info"]["uid"] for e in events] == ["a", "b"]
    first, second = events
    assert (first["class_uid"], first["category_uid"], first["type_uid"]) == (2004, 2, 200401)
    assert first["metadata"]["version"].startswith("1.") and first["metadata"]["product"]["name"] == "Aegis IAM"
    assert (first["severity_id"], first["severity"]) == (5, "Critical")
    assert first["cloud"] == {
        "provider": "AWS",
        "account": {"uid": "111122223333", "type": "AWS Account", "type_id": 10},
    }
    assert first["resources"][0]["uid"] == "arn:aws:iam::111122223333:role/a"
    assert first["resources"][0]["type"] == "AwsIamRole"
    assert first["remediation"]["desc"] and isinstance(first["time"], int)
    assert (second["status_id"], second["status"]) == (3, "Suppressed")
    assert first["unmapped"]["compliance"] == {"pci_dss": ["7.2.1"]}


def test_it_reads_a_stored_finding_back_in_the_engines_shape(run):
    from audits.iam import finding_types
    from audits.models import Finding

    data = Finding.objects.filter(run=run).first().to_dict()
    assert tuple(data) == Finding.FIELDS
    # Every key the engine's Finding requires, and nothing else: "conditioned" and the marks are not stored here.
    assert set(data) == finding_types.Finding.__required_keys__
