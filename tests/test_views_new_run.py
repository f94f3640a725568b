"""Starting an audit from the demo account, an uploaded snapshot or an AWS connection."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.iam.snapshot import DEMO_PATH
from audits.models import AuditRun, AwsConnection
from audits.runs.inputs import input_bytes, load_input

pytestmark = pytest.mark.django_db


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/json")


def test_it_shows_the_three_sources_and_the_frameworks(client, alice):
    client.force_login(alice)
    text = client.get("/audits/new").text
    for value in ("demo", "snapshot", "connection", "pci_dss", "hipaa", "soc2", "cis", "nist_800_53"):
        assert f'value="{value}"' in text
    assert 'enctype="multipart/form-data"' in text and "csrfmiddlewaretoken" in text


def test_it_stores_an_uploaded_snapshot_and_its_name(client, alice):
    client.force_login(alice)
    response = client.post(
        "/audits/new",
        {"source": "snapshot", "frameworks": ["cis"], "snapshot_file": upload("prod.json", DEMO_PATH.read_bytes())},
    )
    run = AuditRun.objects.get()
    assert response["Location"] == f"/audits/{run.pk}/"
    assert run.source == "snapshot" and run.snapshot_name == "prod.json"
    stored = json.loads(input_bytes(run.pk))
    assert stored == json.loads(DEMO_PATH.read_bytes())
    assert run.account_id == load_input(run.pk).account_id != ""


def test_it_shows_a_snapshot_error_beside_the_field(client, alice):
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "snapshot", "snapshot_file": upload("x.json", b'{"a": 1}')})
    assert response.status_code == 400
    field = response.text.split('id="snapshot-error"')[1].split("</div>")[0]
    assert "Not an IAM snapshot" in field
    assert not AuditRun.objects.exists()


def test_it_rejects_a_file_that_is_not_json(client, alice):
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "snapshot", "snapshot_file": upload("x.json", b"\xff\xfe<")})
    assert response.status_code == 400
    assert "not UTF-8" in response.text or "not valid JSON" in response.text


def test_it_asks_for_a_file_when_the_source_is_a_snapshot(client, alice):
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "snapshot"})
    assert response.status_code == 400
    assert "Choose a snapshot file" in response.text


def test_it_starts_a_run_on_my_connection(client, alice):
    connection = AwsConnection.objects.create(
        owner=alice,
        name="prod",
        role_arn="arn:aws:iam::123456789012:role/A",
        account_id="123456789012",
        verified_at=timezone.now(),
    )
    client.force_login(alice)
    client.post("/audits/new", {"source": "connection", "connection": connection.pk, "frameworks": ["soc2"]})
    run = AuditRun.objects.get()
    assert run.connection == connection and run.account_id == "123456789012"


def test_it_refuses_someone_elses_connection(client, alice, bob):
    theirs = AwsConnection.objects.create(owner=bob, name="b", role_arn="arn:aws:iam::123456789012:role/B")
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "connection", "connection": theirs.pk})
    assert response.status_code == 400
    assert not AuditRun.objects.exists()


def test_it_keeps_json_snapshots_out_of_the_page(client, alice):
    bundle = json.loads(DEMO_PATH.read_bytes())
    client.force_login(alice)
    client.post("/audits/new", {"source": "snapshot", "snapshot_file": upload("a.json", json.dumps(bundle).encode())})
    run = AuditRun.objects.get()
    assert "UserDetailList" not in client.get(f"/audits/{run.pk}/").text


def test_it_says_when_too_many_audits_are_running(client, alice, settings):
    settings.AEGIS_MAX_ACTIVE_RUNS = 1
    client.force_login(alice)
    client.post("/audits/new", {"source": "demo"})
    response = client.post("/audits/new", {"source": "demo"})
    assert response.status_code == 400
    assert "the limit is 1" in response.text
    assert AuditRun.objects.count() == 1


NAN_USER = (
    b'{"UserDetailList": [{"UserName": "a", "Arn": "arn:aws:iam::123456789012:user/a", "Score": NaN}], '
    b'"GroupDetailList": [], "RoleDetailList": [], "Policies": []}'
)


@pytest.mark.parametrize("content", [b"null", b"42", NAN_USER])
def test_it_never_fails_on_a_strange_snapshot(client, alice, content):
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "snapshot", "snapshot_file": upload("x.json", content)})
    assert response.status_code == 400
    assert 'id="snapshot-error"' in response.text
    assert not AuditRun.objects.exists()


def test_it_refuses_an_unverified_connection(client, alice):
    connection = AwsConnection.objects.create(owner=alice, name="prod", role_arn="arn:aws:iam::123456789012:role/A")
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "connection", "connection": connection.pk})
    assert response.status_code == 400 and not AuditRun.objects.exists()


def test_it_checks_every_framework_by_default_and_explains_help_without_backticks(client, alice):
    client.force_login(alice)
    text = client.get("/audits/new").text
    checked = [chunk for chunk in text.split("<input")[1:] if 'name="frameworks"' in chunk.split(">")[0]]
    assert len(checked) == 5 and all(" checked" in chunk.split(">")[0] for chunk in checked)
    assert "`" not in text and "<code>aws iam get-account-authorization-details</code>" in text
    assert 'data-source-field="snapshot"' in text and 'data-source-field="connection"' in text


def test_it_says_an_empty_file_is_empty(client, alice):
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "snapshot", "snapshot_file": upload("empty.json", b"")})
    assert response.status_code == 400
    field = response.text.split('id="snapshot-error"')[1].split("</div>")[0]
    assert "The file is empty" in field and "Choose a snapshot file" not in field
    assert not AuditRun.objects.exists()


def test_it_still_validates_fields_of_the_hidden_sources_on_the_server(client, alice):
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "connection", "snapshot_file": upload("x.json", b"{}")})
    assert response.status_code == 400 and "Choose one of your AWS connections" in response.text
