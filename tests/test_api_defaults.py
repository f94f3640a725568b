"""The API's and the upload's defaults people trip on: frameworks default to all five (as the portal's form),
an empty body is refused naming the fields, the upload limit is shown before an upload, and a credential report or
account summary uploaded alone points to the bundle format."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.iam.snapshot import DEMO_PATH, SnapshotError, load_snapshot
from audits.models import FRAMEWORK_KEYS, AuditRun
from audits.tokens import create_token

pytestmark = pytest.mark.django_db


def auth(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_it_audits_every_framework_unless_told_otherwise(client, alice):
    _, raw = create_token(alice, "ci", scope="write")
    response = client.post("/api/v1/audits", {"source": "demo"}, content_type="application/json", **auth(raw))
    assert response.status_code == 201 and response.json()["run"]["frameworks"] == FRAMEWORK_KEYS
    assert len(FRAMEWORK_KEYS) == 5
    chosen = {"source": "demo", "frameworks": ["cis"]}
    assert client.post("/api/v1/audits", chosen, content_type="application/json", **auth(raw)).json()["run"][
        "frameworks"
    ] == ["cis"]
    upload = SimpleUploadedFile("demo.json", DEMO_PATH.read_bytes())
    multipart = client.post("/api/v1/audits", {"source": "snapshot", "snapshot": upload}, **auth(raw))
    assert multipart.status_code == 201 and multipart.json()["run"]["frameworks"] == FRAMEWORK_KEYS


def test_it_refuses_an_empty_body_naming_the_fields(client, alice):
    _, raw = create_token(alice, "ci", scope="write")
    for body in ("", "{}", '{"frameworks": ["cis"]}'):
        response = client.post("/api/v1/audits", body, content_type="application/json", **auth(raw))
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert "source" in error and "frameworks" in error and '{"source": "demo"}' in error
    assert not AuditRun.objects.exists()


def test_the_new_audit_form_shows_the_upload_limit(client, alice, settings):
    client.force_login(alice)
    assert "Up to 50 MB." in client.get("/audits/new").text
    settings.AEGIS_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
    assert "Up to 20 MB." in client.get("/audits/new").text


@pytest.mark.parametrize(
    "data, what, key",
    [
        ('{"SummaryMap": {"Users": 3}}', "an account summary", "account_summary"),
        ('{"Content": "dXNlcixhcm4K", "GeneratedTime": "2026-01-01T00:00:00Z"}', "a credential report",
         "credential_report"),
        ("user,arn,user_creation_time\n<root_account>,arn:aws:iam::123456789012:root,x\n", "a credential report",
         "credential_report"),
    ],
)  # fmt: skip
def test_a_bundle_part_alone_points_to_the_bundle(data, what, key):
    with pytest.raises(SnapshotError) as raised:
        load_snapshot(data)
    message = str(raised.value)
    assert f"this is {what}" in message and "docs/snapshot-bundle.schema.json" in message
    assert f"{{authorization_details: $a[0], {key}: " in message


def test_the_upload_form_says_so_too(client, alice):
    client.force_login(alice)
    upload = SimpleUploadedFile("summary.json", json.dumps({"SummaryMap": {"Users": 3}}).encode())
    response = client.post("/audits/new", {"source": "snapshot", "snapshot_file": upload, "frameworks": ["cis"]})
    assert response.status_code in (200, 400)
    assert "this is an account summary" in response.text and "snapshot-bundle.schema.json" in response.text
