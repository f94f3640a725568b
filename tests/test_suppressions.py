"""A reviewer's accepted risk: later runs on the account show the finding suppressed and score without it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits import runner
from audits.models import AuditRun, Finding, Suppression

pytestmark = pytest.mark.django_db(transaction=True)


def demo_run(owner) -> AuditRun:
    run = runner.start_run(owner, source="demo", frameworks=["cis"])
    assert runner.execute(run.pk) == "completed"
    run.refresh_from_db()
    return run


def test_it_suppresses_accepted_findings_in_later_runs_until_expiry(client, alice, reviewer, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    first = demo_run(alice)
    worst = Finding.objects.filter(run=first, severity="critical").first()
    Suppression.objects.create(account_id=first.account_id, fingerprint=worst.fingerprint, check_id=worst.check_id,
                               justification="Break-glass admin, approved by CISO", created_by=reviewer,
                               expires_at=timezone.now() + timedelta(days=30))  # fmt: skip
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
