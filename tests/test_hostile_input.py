"""IAM data is hostile input: names, descriptions and tags must stay inert everywhere they show."""

import csv
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.models import AuditEvent, AuditRun, Finding
from audits.runs import worker
from tests.helpers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = "<script>alert('xss')</script>"
IMG = '<img src=x onerror="alert(1)">'
FORMULA = '=HYPERLINK("http://evil.example","click")'
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
OPEN_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                      "Action": "sts:AssumeRole"}]}  # fmt: skip


def hostile_export() -> dict:
    account = "123456789012"
    return {
        "UserDetailList": [],
        "GroupDetailList": [],
        "Policies": [],
        "RoleDetailList": [
            {
                "RoleName": f"{FORMULA}{SCRIPT}",
                "RoleId": "AROAHOSTILE0000000001",
                "Arn": f"arn:aws:iam::{account}:role/hostile-{1}",
                "Path": "/",
                "CreateDate": "2026-01-01T00:00:00Z",
                "Description": IMG,
                "Tags": [{"Key": SCRIPT, "Value": IMG}],
                "AssumeRolePolicyDocument": OPEN_TRUST,
                "RolePolicyList": [{"PolicyName": f"{IMG}{SCRIPT}", "PolicyDocument": ADMIN_POLICY}],
                "AttachedManagedPolicies": [],
                "InstanceProfileList": [],
            }
        ],
    }


@pytest.fixture
def audited(client, alice):
    """Upload the hostile export through the portal and run the audit in this process."""
    client.force_login(alice)
    upload = SimpleUploadedFile("hostile.json", json.dumps(hostile_export()).encode(), "application/json")
    response = client.post("/audits/new", {"source": "snapshot", "frameworks": ["cis", "pci_dss"],
                                           "snapshot_file": upload})  # fmt: skip
    assert response.status_code == 302, response.content[:500]
    run = AuditRun.objects.get(owner=alice)
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    assert Finding.objects.filter(run=run).exists()
    return run


def assert_inert(html: str) -> None:
    assert SCRIPT not in html
    assert IMG not in html
    assert "<script>alert" not in html
    assert 'onerror="alert' not in html


def test_it_keeps_payloads_inert_in_the_pages(client, audited):
    for path in ["/audits/", f"/audits/{audited.pk}/", f"/audits/{audited.pk}/playback",
                 f"/audits/{audited.pk}/compare", f"/audits/{audited.pk}/?severity=critical"]:  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        assert_inert(response.text)
    fragment = client.get(f"/audits/{audited.pk}/results", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert_inert(fragment.text)
    finding = Finding.objects.filter(run=audited).first()
    detail = client.get(f"/audits/{audited.pk}/findings/{finding.pk}/")
    assert detail.status_code == 200
    assert_inert(detail.text)
    assert "&lt;script&gt;" in client.get(f"/audits/{audited.pk}/").text  # shown, as text


def test_it_keeps_payloads_as_data_in_the_timeline(audited):
    messages = " ".join(AuditEvent.objects.filter(run=audited).values_list("message", flat=True))
    assert SCRIPT in messages  # stored verbatim; the page's JS inserts it with textContent
    # The scripts that add live rows never parse strings as HTML.
    for script in (ROOT / "static").rglob("*.js"):
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in source, f"{script.name} uses {sink}"


def test_it_keeps_payloads_inert_in_the_admin(client, audited):
    root = get_user_model().objects.create_superuser("hostile-admin", password="pw-hostile-123")
    client.force_login(root)
    for path in [f"/admin/audits/auditrun/{audited.pk}/change/", "/admin/audits/finding/", "/admin/audits/auditevent/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_inert(response.text)


def test_it_keeps_payloads_inert_in_every_export(client, audited):
    for name in ["log.txt", "log.ndjson", "findings.json", "findings.sarif"]:
        response = client.get(f"/audits/{audited.pk}/export/{name}")
        assert response.status_code == 200, name
        assert response["Content-Disposition"].startswith("attachment")
        assert "text/html" not in response["Content-Type"]
    rows = list(csv.reader(io.StringIO(client.get(f"/audits/{audited.pk}/export/findings.csv").content.decode())))
    cells = [cell for row in rows[1:] for cell in row]
    assert any("HYPERLINK" in cell for cell in cells)
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in cells if cell)
