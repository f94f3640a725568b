"""The pages that drive a run: list, new, detail, pause/resume/cancel."""

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from audits.models import AuditRun
from audits.runs.recorder import Recorder
from tests.helpers import make_finished_run, make_run

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_people_to_the_login_page(client):
    response = client.get("/audits/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_lists_only_my_runs(client, alice, bob):
    mine = make_run(alice)
    theirs = make_run(bob)
    client.force_login(alice)
    response = client.get("/audits/")
    assert response.status_code == 200
    assert reverse("audits:run", args=[mine.pk]) in response.text
    assert reverse("audits:run", args=[theirs.pk]) not in response.text


def test_it_creates_a_run_and_queues_it_on_commit(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/audits/new", {"source": "demo", "frameworks": ["pci_dss", "hipaa"]})
    run = AuditRun.objects.get(owner=alice)
    assert response.status_code == 302
    assert response["Location"] == f"/audits/{run.pk}/"
    assert run.frameworks == ["pci_dss", "hipaa"]
    assert run.status == AuditRun.Status.QUEUED
    assert len(callbacks) == 1
    task = DBTaskResult.objects.get()
    assert task.args_kwargs == {"args": [run.pk], "kwargs": {}}


def test_it_shows_errors_for_a_bad_new_run(client, alice):
    client.force_login(alice)
    response = client.post("/audits/new", {"source": "demo", "frameworks": ["gdpr"]})
    assert response.status_code == 400
    assert "gdpr is not one of the available choices" in response.text
    assert not AuditRun.objects.exists()


def test_it_renders_stored_events_on_the_run_page(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    Recorder(run.pk).emit("thinking", "Prioritizing 'ProdAdmin' <b>first</b>", 30)
    client.force_login(alice)
    response = client.get(f"/audits/{run.pk}/")
    assert response.status_code == 200
    assert 'data-last-seq="1"' in response.text
    assert "Prioritizing &#x27;ProdAdmin&#x27; &lt;b&gt;first&lt;/b&gt;" in response.text
    assert f'data-events-url="/audits/{run.pk}/events"' in response.text


def test_it_hides_run_pages_from_strangers_but_not_from_staff(client, alice, bob, reviewer):
    run = make_finished_run(alice, count=2)
    client.force_login(bob)
    assert client.get(f"/audits/{run.pk}/").status_code == 404
    for action in ("pause", "resume", "cancel"):
        assert client.post(f"/audits/{run.pk}/{action}").status_code == 404
    client.force_login(reviewer)
    assert client.get(f"/audits/{run.pk}/").status_code == 200


def test_it_refuses_the_wrong_methods(client, alice):
    run = make_run(alice)
    client.force_login(alice)
    assert client.post("/audits/").status_code == 405
    assert client.post(f"/audits/{run.pk}/").status_code == 405
    assert client.put("/audits/new").status_code == 405
    for action in ("pause", "resume", "retry"):
        assert client.get(f"/audits/{run.pk}/{action}").status_code == 405
    assert client.put(f"/audits/{run.pk}/cancel").status_code == 405  # GET is the confirmation step


def test_it_asks_a_running_audit_to_pause(client, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    client.force_login(alice)
    client.post(f"/audits/{run.pk}/pause")
    run.refresh_from_db()
    assert run.control == "pause"


def test_it_requeues_a_paused_audit_on_resume(client, alice, django_capture_on_commit_callbacks):
    run = make_run(alice, status=AuditRun.Status.PAUSED)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/audits/{run.pk}/resume")
    run.refresh_from_db()
    assert run.status == AuditRun.Status.QUEUED
    assert DBTaskResult.objects.count() == 1


def test_it_cancels_a_paused_audit_at_once_keeping_its_events(client, alice):
    run = make_run(alice, status=AuditRun.Status.PAUSED)
    Recorder(run.pk).emit("paused", "Paused at principal 3/9", 30)
    client.force_login(alice)
    client.post(f"/audits/{run.pk}/cancel")
    run.refresh_from_db()
    assert run.status == AuditRun.Status.CANCELLED
    assert list(run.events.values_list("type", flat=True)) == ["paused", "cancelled"]


def test_it_says_when_a_finished_audit_cannot_be_cancelled(client, alice):
    run = make_finished_run(alice, count=2)
    client.force_login(alice)
    response = client.post(f"/audits/{run.pk}/cancel", follow=True)
    assert "already finished" in response.text
    run.refresh_from_db()
    assert run.status == AuditRun.Status.COMPLETED


def test_it_has_a_login_page(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert 'name="password"' in response.text
