"""A proven fix as the reviewer reads it: the worker's audit of the demo account proves each admin and escalation
fix, and the finding page says verified, lists what it takes away, and prints the CLI lines that were proven."""

import pytest

from audits.iam.changeset import parse_cli
from audits.iam.snapshot import load_demo_snapshot
from audits.iam.whatif import apply_ops
from audits.iam.whatif_report import audit_findings
from audits.models import AuditRun, Finding
from audits.runs import worker
from tests.helpers import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_audit(alice, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    run = make_run(alice, status=AuditRun.Status.QUEUED, frameworks=["cis"])
    assert worker.execute(run.pk) == "completed"
    return run


def test_the_worker_proves_the_fixes_and_the_page_says_so(client, alice, demo_audit):
    escalations = Finding.objects.filter(run=demo_audit, check_id="principal_privilege_escalation")
    assert escalations.exists()
    for finding in escalations:
        assert finding.fix["verified"] is True, finding.principal_arn
        assert finding.fix["cli"] and all(line.startswith("aws iam ") for line in finding.fix["cli"])
    finding = escalations.first()
    client.force_login(alice)
    html = client.get(f"/audits/{demo_audit.pk}/findings/{finding.pk}/").text
    assert f'id="fix-verified-{finding.pk}">Verified<' in html
    assert "What it takes away" in html
    assert finding.fix["cli"][0].split(" --policy-document")[0] in html


def test_the_stored_cli_lines_remove_the_finding_when_applied_as_printed(demo_audit):
    snapshot = load_demo_snapshot()
    for finding in Finding.objects.filter(run=demo_audit, check_id="principal_privilege_escalation"):
        outcome = apply_ops(snapshot, parse_cli("\n".join(finding.fix["cli"])))
        assert not outcome.errors
        after, _ = audit_findings(outcome.snapshot)
        assert not [
            f for f in after if f["principal_arn"] == finding.principal_arn and f["check_id"] == finding.check_id
        ], finding.principal_arn
