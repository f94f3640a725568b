"""A reviewer's accepted risk: later runs on the account show the finding suppressed and score without it."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.iam.snapshot import DEMO_PATH
from audits.models import AuditRun, Finding, Suppression
from audits.runs import start, worker

pytestmark = pytest.mark.django_db(transaction=True)


def demo_run(owner) -> AuditRun:
    run = start.start_run(owner, source="demo", frameworks=["cis"])
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    return run


def accept(on: AuditRun, finding: Finding, reviewer, **fields) -> Suppression:
    values = {"owner": on.owner, "run": on, "account_id": on.account_id, "fingerprint": finding.fingerprint,
              "check_id": finding.check_id, "justification": "Break-glass admin, approved by CISO",
              "created_by": reviewer, "expires_at": timezone.now() + timedelta(days=30)}  # fmt: skip
    return Suppression.objects.create(**(values | fields))


def test_it_suppresses_accepted_findings_in_later_runs_until_expiry(client, alice, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    worst = Finding.objects.filter(run=first, severity="critical").first()
    accept(first, worst, reviewer)
    second = demo_run(alice)
    again = Finding.objects.get(run=second, fingerprint=worst.fingerprint)
    assert again.suppressed
    assert Finding.objects.filter(run=second, suppressed=True).count() == 1
    assert second.result["suppressed_findings"] == 1
    assert second.result["risk_score_before_suppressions"] == first.risk_score
    assert second.events.filter(message__contains="suppressed: accepted risk").count() == 1
    client.force_login(alice)
    assert "suppressed: accepted risk" in client.get(f"/audits/{second.pk}/findings/{again.pk}/").text

    Suppression.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    third = demo_run(alice)
    assert not Finding.objects.filter(run=third, suppressed=True).exists()
    assert "suppressed_findings" not in third.result


def test_it_never_hands_one_owners_accepted_risks_to_another(alice, bob, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    accept(first, Finding.objects.filter(run=first, severity="critical").first(), reviewer)
    # Bob audits the same account id (the demo account): none of Alice's accepted risks apply to his run.
    theirs = demo_run(bob)
    assert theirs.account_id == first.account_id
    assert not Finding.objects.filter(run=theirs, suppressed=True).exists()
    assert "suppressed_findings" not in theirs.result


def test_it_ignores_an_uploaded_claim_to_someone_elses_account(client, alice, bob, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    worst = Finding.objects.filter(run=first, severity="critical").first()
    accept(first, worst, reviewer)
    client.force_login(bob)
    claim = SimpleUploadedFile("alice.json", DEMO_PATH.read_bytes(), content_type="application/json")
    assert client.post("/audits/new", {"source": "snapshot", "frameworks": ["cis"],
                                       "snapshot_file": claim}).status_code == 302  # fmt: skip
    upload = AuditRun.objects.get(owner=bob)
    assert upload.account_id == first.account_id
    assert worker.execute(upload.pk) == "completed"
    upload.refresh_from_db()
    assert not Finding.objects.filter(run=upload, suppressed=True).exists()
    assert upload.risk_score == first.risk_score
    assert client.get(f"/audits/{upload.pk}/").text.count("suppressed: accepted risk") == 0


def test_it_applies_a_suppression_with_no_owner_to_nobody(alice, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    accept(first, Finding.objects.filter(run=first, severity="critical").first(), reviewer, owner=None, run=None)
    assert not Finding.objects.filter(run=demo_run(alice), suppressed=True).exists()


def test_it_gives_a_suppression_accepted_in_the_admin_to_the_runs_owner(client, alice, bob, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    worst = Finding.objects.filter(run=first, severity="critical").first()
    reviewer.is_superuser = True
    reviewer.save()
    client.force_login(reviewer)
    link = client.get(f"/admin/audits/auditrun/{first.pk}/change/").text
    assert f"run={first.pk}" in link
    # The form is posted with another account id and owner: the run decides both.
    response = client.post("/admin/audits/suppression/add/", {
        "run": first.pk, "owner": bob.pk, "account_id": "999999999999", "fingerprint": worst.fingerprint,
        "check_id": worst.check_id, "title": worst.title[:300], "justification": "accepted",
        "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00",
    })  # fmt: skip
    assert response.status_code == 302, response.text[:2000]
    made = Suppression.objects.get()
    assert (made.owner, made.run, made.account_id, made.created_by) == (alice, first, first.account_id, reviewer)
    assert Finding.objects.get(run=demo_run(alice), fingerprint=worst.fingerprint).suppressed
