"""Admin review of past audits."""

import pytest
from django.contrib.auth import get_user_model

from audits.models import AuditRun
from audits.recorder import Recorder
from tests.helpers import make_finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root-reviewer", password="pw-for-tests-123")
    client.force_login(user)
    client.user = user
    return client


def _finding(fingerprint: str, arn: str) -> dict:
    return {"check_id": "iam_admin", "category": "admin_access", "severity": "critical", "title": "Admin on <b>x</b>",
            "principal_arn": arn, "fingerprint": fingerprint}  # fmt: skip


def test_it_lists_filters_and_searches_runs(admin_client, alice):
    run = make_finished_run(alice, count=2)
    AuditRun.objects.filter(pk=run.pk).update(risk_score=80, frameworks=["pci_dss"], account_id="123456789012")
    other = make_finished_run(alice, count=2)
    AuditRun.objects.filter(pk=other.pk).update(risk_score=10, frameworks=["hipaa"])
    Recorder(run.pk).emit("finding", "f", 100, {"finding": _finding("a" * 64, "arn:aws:iam::123456789012:role/Ops")})

    def listed(query: str) -> set[int]:
        response = admin_client.get(f"/admin/audits/auditrun/{query}")
        assert response.status_code == 200
        return {r.pk for r in response.context["cl"].result_list}

    assert listed("") == {run.pk, other.pk}
    assert listed("?risk=critical") == {run.pk}
    assert listed("?framework=pci_dss") == {run.pk}
    assert listed("?framework=hipaa") == {other.pk}
    assert listed("?q=role/Ops") == {run.pk}
    assert listed("?q=123456789012") == {run.pk}
    assert listed("?review_state__exact=unreviewed") == {run.pk, other.pk}


def test_it_shows_events_and_findings_read_only_and_escaped(admin_client, alice):
    run = make_finished_run(alice, count=3)
    Recorder(run.pk).emit("finding", "<script>alert(1)</script>", 100, {"finding": _finding("b" * 64, "arn:x")})
    page = admin_client.get(f"/admin/audits/auditrun/{run.pk}/change/").text
    assert f'href="/admin/audits/finding/?run={run.pk}">1 findings' in page
    assert f'href="/admin/audits/auditevent/?run={run.pk}">4 events' in page
    events = admin_client.get(f"/admin/audits/auditevent/?run={run.pk}")
    assert events.status_code == 200 and len(events.context["cl"].result_list) == 4
    assert "<script>alert(1)</script>" not in events.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in events.text
    findings = admin_client.get(f"/admin/audits/finding/?run={run.pk}").text
    assert "Admin on &lt;b&gt;x&lt;/b&gt;" in findings
    assert "Suppress…" in findings and "account_id=" in findings


def test_it_records_who_reviewed_with_an_action(admin_client, alice):
    run = make_finished_run(alice, count=2)
    response = admin_client.post(
        "/admin/audits/auditrun/", {"action": "mark_follow_up", "_selected_action": [run.pk]}, follow=True
    )
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.review_state == AuditRun.Review.FOLLOW_UP
    assert run.reviewer == admin_client.user
    assert run.reviewed_at is not None


def test_it_keeps_the_event_log_read_only(admin_client, alice):
    run = make_finished_run(alice, count=2)
    event = run.events.first()
    response = admin_client.post(f"/admin/audits/auditevent/{event.pk}/change/", {"message": "rewritten"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.message != "rewritten"
