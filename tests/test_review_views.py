"""The reviewer's portal: queue, review page and accept-risk, for staff and the `reviewer` group only."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audits.models import AuditRun, Finding, Suppression
from audits.views.review import control_findings_url, in_control, parse_control
from tests.helpers import make_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(alice):
    return make_completed_run(alice, [make_finding("a", severity="critical"), make_finding("b")])


def accept(client, run, finding, **form):
    data = {"justification": "Break-glass role, monitored.", "expires": _in_days(30)} | form
    return client.post(f"/audits/review/{run.pk}/findings/{finding.pk}/accept", data, follow=True)


def _in_days(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).date().isoformat()


def test_it_hides_every_review_page_from_non_reviewers(client, alice, bob, run):
    finding = Finding.objects.filter(run=run).first()
    for user in (alice, bob):
        client.force_login(user)
        assert client.get("/audits/review/").status_code == 404
        assert client.get(f"/audits/review/{run.pk}/").status_code == 404
        assert client.post(f"/audits/review/{run.pk}/", {"review_state": "approved"}).status_code == 404
        assert (
            client.post(
                f"/audits/review/{run.pk}/findings/{finding.pk}/accept", {"justification": "x", "expires": _in_days(3)}
            ).status_code
            == 404
        )
    assert not Suppression.objects.exists()
    run.refresh_from_db()
    assert run.review_state == "unreviewed"
    client.logout()
    assert client.get("/audits/review/")["Location"].startswith("/accounts/login/")


def test_it_refuses_the_wrong_methods(client, rita, run):
    finding = Finding.objects.filter(run=run).first()
    client.force_login(rita)
    assert client.post("/audits/review/").status_code == 405
    assert client.put(f"/audits/review/{run.pk}/").status_code == 405
    assert client.get(f"/audits/review/{run.pk}/findings/{finding.pk}/accept").status_code == 405


def test_it_requires_csrf_on_review_posts(rita, run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rita)
    finding = Finding.objects.filter(run=run).first()
    assert client.post(f"/audits/review/{run.pk}/", {"review_state": "approved"}).status_code == 403
    assert (
        client.post(
            f"/audits/review/{run.pk}/findings/{finding.pk}/accept", {"justification": "x", "expires": _in_days(3)}
        ).status_code
        == 403
    )


def test_it_queues_finished_runs_awaiting_review_with_filters(client, reviewer, alice, bob):
    low = make_completed_run(alice, [make_finding("x")], risk_score=10, account_id="111111111111")
    high = make_completed_run(bob, [make_finding("y")], risk_score=80, account_id="222222222222")
    done = make_completed_run(bob, [make_finding("z")], risk_score=60, account_id="222222222222")
    AuditRun.objects.filter(pk=done.pk).update(review_state="approved")
    running = make_run(alice, status=AuditRun.Status.RUNNING)
    client.force_login(reviewer)

    def listed(query: str = "") -> set[int]:
        text = client.get(f"/audits/review/{query}").text
        return {pk for pk in (low.pk, high.pk, done.pk, running.pk) if f'href="/audits/review/{pk}/"' in text}

    assert listed() == {low.pk, high.pk}
    assert listed("?state=approved") == {done.pk}
    assert listed("?state=all") == {low.pk, high.pk, done.pk}
    assert listed("?state=all&band=critical") == {high.pk}
    assert listed("?state=all&account=222222222222") == {high.pk, done.pk}
    assert listed("?state=bogus&band=bogus") == {low.pk, high.pk, done.pk}
    assert client.get(f"/audits/review/{running.pk}/").status_code == 404  # not finished: nothing to review


def test_it_records_the_review_state_and_notes(client, rita, run):
    client.force_login(rita)
    page = client.post(
        f"/audits/review/{run.pk}/", {"review_state": "follow_up", "review_notes": "Ask about a."}, follow=True
    )
    assert "marked needs follow-up" in page.text
    run.refresh_from_db()
    assert (run.review_state, run.review_notes, run.reviewer) == ("follow_up", "Ask about a.", rita)
    assert run.reviewed_at is not None
    page = client.post(f"/audits/review/{run.pk}/", {"review_state": "done"}, follow=True)
    assert "Choose a review state" in page.text


def test_it_accepts_a_risk_for_the_runs_owner_and_account(client, rita, alice, run):
    finding = Finding.objects.get(run=run, fingerprint="a")
    client.force_login(rita)
    page = accept(client, run, finding)
    assert "Risk accepted until" in page.text
    suppression = Suppression.objects.get()
    assert (suppression.owner, suppression.run, suppression.account_id, suppression.fingerprint) == (
        alice,
        run,
        "111122223333",
        "a",
    )
    assert suppression.created_by == rita and suppression.is_active
    finding.refresh_from_db()
    assert finding.suppressed
    # Accepting again updates the same suppression instead of stacking another.
    accept(client, run, finding, justification="Still monitored.", expires=_in_days(60))
    assert Suppression.objects.get().justification == "Still monitored."


@pytest.mark.parametrize(
    ("expires", "words"),
    [
        ("2020-01-01", "is not in the future"),
        ("today", "as a date"),
        ("", "as a date"),
        ("2999-01-01", "three years at most"),
    ],
)
def test_it_refuses_an_expiry_that_is_not_in_the_future(client, reviewer, run, expires, words):
    finding = Finding.objects.filter(run=run).first()
    client.force_login(reviewer)
    page = accept(client, run, finding, expires=expires)
    assert words in page.text
    assert not Suppression.objects.exists()
    finding.refresh_from_db()
    assert not finding.suppressed


def test_it_refuses_today_and_an_empty_justification(client, reviewer, run):
    finding = Finding.objects.filter(run=run).first()
    client.force_login(reviewer)
    assert "is not in the future" in accept(client, run, finding, expires=timezone.now().date().isoformat()).text
    assert "justification is required" in accept(client, run, finding, justification="  ").text
    assert not Suppression.objects.exists()


def test_it_refuses_a_finding_of_another_run(client, reviewer, alice, run):
    other = make_completed_run(alice, [make_finding("c")])
    finding = Finding.objects.get(run=other)
    client.force_login(reviewer)
    response = client.post(
        f"/audits/review/{run.pk}/findings/{finding.pk}/accept", {"justification": "x", "expires": _in_days(3)}
    )
    assert response.status_code == 404


def test_it_links_reviewers_from_the_nav(client, rita, alice):
    client.force_login(rita)
    assert 'href="/audits/review/"' in client.get("/audits/").text
    client.force_login(alice)
    assert 'href="/audits/review/"' not in client.get("/audits/").text


def test_it_builds_links_to_a_controls_failing_findings(run):
    url = control_findings_url(run, "pci_dss", "7.2.1")
    assert url == f"/audits/{run.pk}/?control=pci_dss%3A7.2.1#findings"
    assert parse_control("pci_dss:7.2.1") == ("pci_dss", "7.2.1")
    assert parse_control("nonsense") is None and parse_control("") is None
    finding = Finding.objects.get(run=run, fingerprint="a")
    assert in_control(finding, "pci_dss", "7.2.1") and not in_control(finding, "cis", "1.1")
