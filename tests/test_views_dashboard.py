"""The dashboard: my runs with their counts, pagination and the risk trend per account."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import AuditRun
from tests.helpers import make_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


def test_it_shows_counts_by_severity_and_risk(client, alice):
    run = make_completed_run(alice, [make_finding("a", severity="critical"), make_finding("b"), make_finding("c")])
    client.force_login(alice)
    response = client.get("/audits/")
    assert response.status_code == 200
    row = response.text.split(f'<a href="/audits/{run.pk}/">#{run.pk}</a>')[1].split("</tr>")[0]
    assert 'title="critical">1<' in row
    assert 'title="high">2<' in row
    assert ">64<" in row
    assert "111122223333" in row


def test_it_paginates(client, alice):
    for _ in range(23):
        make_run(alice)
    client.force_login(alice)
    first = client.get("/audits/")
    assert "Page 1 of 2" in first.text
    assert first.text.count('class="status ') == 20
    second = client.get("/audits/?page=2")
    assert second.text.count('class="status ') == 3


def test_it_draws_a_risk_trend_per_account_in_svg(client, alice):
    start = timezone.now() - timedelta(days=3)
    for i, score in enumerate([80, 60, 40]):
        make_completed_run(alice, [], risk_score=score, created=start + timedelta(days=i))
    make_completed_run(alice, [], risk_score=10, account_id="999988887777")
    client.force_login(alice)
    text = client.get("/audits/").text
    assert text.count('<svg class="sparkline"') == 2
    assert "<polyline" in text
    assert "-40 over 3 audits" in text


def test_it_leaves_other_peoples_runs_out_of_the_trend(client, alice, bob):
    make_completed_run(bob, [], risk_score=90)
    client.force_login(alice)
    assert "sparkline" not in client.get("/audits/").text


def test_it_offers_a_demo_audit_when_there_are_none(client, alice):
    client.force_login(alice)
    response = client.get("/audits/")
    assert "No audits yet" in response.text
    assert AuditRun.objects.count() == 0


def test_it_shows_the_signed_in_user_and_sign_out(client, alice):
    client.force_login(alice)
    text = client.get("/audits/").text
    assert "alice" in text and 'action="/accounts/logout/"' in text
    assert "style=" not in text and "<script>" not in text
