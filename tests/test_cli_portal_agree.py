"""The CLI and the portal give the same audit for the same snapshot: the same findings (by fingerprint, severity and
principal), the same score and the same compliance verdicts, whether `manage.py audit` reads the file or a user
uploads it and a worker audits it."""

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.management.commands.audit import main
from audits.models import AuditRun, Finding
from audits.runs import worker

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = [
    ROOT / "tests" / "iam" / "scenarios" / "literature_account.json",
    ROOT / "tests" / "iam" / "data" / "samples" / "cloudsplaining__examples_files_example.json",
]


def cli_report(path: Path) -> dict:
    out, err = io.StringIO(), io.StringIO()
    assert main(
        ["--snapshot", str(path), "--format", "json", "--frameworks", "cis,pci_dss"], stdout=out, stderr=err
    ) in (0, 1)
    return json.loads(out.getvalue())


def portal_run(client, owner, path: Path) -> AuditRun:
    client.force_login(owner)
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/json")
    response = client.post(
        "/audits/new", {"source": "snapshot", "frameworks": ["cis", "pci_dss"], "snapshot_file": upload}
    )
    assert response.status_code in (302, 303), response.content[:500]
    run = AuditRun.objects.filter(owner=owner).latest("pk")
    worker.execute(run.pk)  # what the worker does with the queued run
    run.refresh_from_db()
    assert run.status == AuditRun.Status.COMPLETED, run.error
    return run


def verdicts(compliance: dict[str, dict]) -> dict:
    return {(key, c["id"]): c["status"] for key, framework in compliance.items() for c in framework["controls"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_the_cli_and_the_portal_agree_on_the_same_snapshot(client, alice, path):
    report = cli_report(path)
    run = portal_run(client, alice, path)
    stored = Finding.objects.filter(run=run)
    assert {(f.fingerprint, f.severity, f.principal_arn) for f in stored} == {
        (f["fingerprint"], f["severity"], f["principal_arn"]) for f in report["findings"]
    }
    assert run.risk_score == report["summary"]["risk_score"]
    assert run.result["audit_summary"]["by_severity"] == report["summary"]["by_severity"]
    assert verdicts(run.result["compliance"]) == verdicts({f["key"]: f for f in report["frameworks"]}) != {}
    page = client.get(f"/audits/{run.pk}/").content.decode()
    assert f"{report['summary']['risk_score']}/100" in page or f">{report['summary']['risk_score']}<" in page
