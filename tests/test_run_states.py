"""Failed, cancelled and interrupted runs read apart; each can be retried; Cancel asks first."""

import pytest

from audits.models import AuditRun, RunInput
from audits.runs.inputs import input_bytes, store_input
from tests.helpers import make_run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("failed", "This audit failed."),
        ("cancelled", "This audit was cancelled."),
        ("interrupted", "This audit was interrupted"),
    ],
)
def test_it_shows_each_state_with_its_own_words_and_a_retry(client, alice, status, words):
    run = make_run(alice, status=status, error="AWS said no" if status == "failed" else "")
    client.force_login(alice)
    text = client.get(f"/audits/{run.pk}/").text
    assert f'<div class="state-banner" id="state-banner" data-state="{status}">' in text and words in text
    assert f'class="status status-{status}"' in text
    assert 'data-control="retry">' in text
    if status == "failed":
        assert "AWS said no" in text


def test_it_offers_no_retry_for_a_completed_or_running_audit(client, alice):
    client.force_login(alice)
    for status in ("completed", "running", "queued"):
        run = make_run(alice, status=status)
        assert 'data-control="retry" hidden' in client.get(f"/audits/{run.pk}/").text


def test_it_retries_with_the_same_input_and_links_back(client, alice, django_capture_on_commit_callbacks):
    snapshot = {"format": "aegis-snapshot", "authorization_details": {"UserDetailList": []}}
    run = make_run(
        alice,
        status="failed",
        source="snapshot",
        snapshot_name="acct.json",
        account_id="111122223333",
        frameworks=["cis"],
    )
    store_input(run, snapshot)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/audits/{run.pk}/retry")
    retry = AuditRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/audits/{retry.pk}/"
    assert retry.retry_of_id == run.pk and retry.status == AuditRun.Status.QUEUED
    assert (retry.source, retry.snapshot_name, retry.frameworks) == ("snapshot", "acct.json", ["cis"])
    assert input_bytes(retry.pk) == input_bytes(run.pk), "the same input, byte for byte"
    assert len(callbacks) == 1  # queued once the transaction commits
    assert f'<a href="/audits/{run.pk}/">audit #{run.pk}</a>' in client.get(f"/audits/{retry.pk}/").text


def test_it_copies_an_input_stored_in_its_own_table(client, alice):
    run = make_run(alice, status="cancelled", source="snapshot")
    RunInput.objects.create(run=run, data=b"\x1f\x8bgzip", size_bytes=10, sha256="ab")
    client.force_login(alice)
    client.post(f"/audits/{run.pk}/retry")
    retry = AuditRun.objects.get(retry_of=run)
    assert bytes(RunInput.objects.get(run=retry).data) == b"\x1f\x8bgzip"


def test_it_refuses_retry_to_others_for_finished_runs_and_over_the_limit(client, alice, bob, reviewer, settings):
    run = make_run(alice, status="failed")
    for user in (bob, reviewer):
        client.force_login(user)
        assert client.post(f"/audits/{run.pk}/retry").status_code == 404
    client.force_login(alice)
    done = make_run(alice, status="completed")
    client.post(f"/audits/{done.pk}/retry")
    assert not AuditRun.objects.filter(retry_of=done).exists()
    settings.AEGIS_MAX_ACTIVE_RUNS = 1
    make_run(alice, status="running")
    response = client.post(f"/audits/{run.pk}/retry", follow=True)
    assert "the limit is 1" in response.text and not AuditRun.objects.filter(retry_of=run).exists()


def test_it_asks_before_cancelling(client, alice):
    run = make_run(alice, status="running")
    client.force_login(alice)
    page = client.get(f"/audits/{run.pk}/").text
    assert '<dialog id="cancel-dialog"' in page
    assert f'href="/audits/{run.pk}/cancel" data-dialog="cancel-dialog"' in page
    confirm = client.get(f"/audits/{run.pk}/cancel")
    assert confirm.status_code == 200 and "Yes, cancel the audit" in confirm.text
    run.refresh_from_db()
    assert run.control == ""  # asking changed nothing
    client.post(f"/audits/{run.pk}/cancel")
    run.refresh_from_db()
    assert run.control == "cancel"
