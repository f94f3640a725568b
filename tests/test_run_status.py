"""Run status changes (audits.runs.status, and audits.runs.start for those that queue): each a conditional UPDATE
that only one caller can win."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from audits.models import AuditEvent, AuditRun
from audits.runs import start, worker
from audits.runs import status as run_status
from tests.helpers import make_run

pytestmark = pytest.mark.django_db

Status = AuditRun.Status


TASK_PATH = "audits.runs.worker.execute_audit"


def queued_tasks() -> list[list]:
    return [row.args_kwargs["args"] for row in DBTaskResult.objects.filter(task_path=TASK_PATH)]


def status(run: AuditRun) -> str:
    return AuditRun.objects.values_list("status", flat=True).get(pk=run.pk)


def test_it_lets_only_one_worker_claim_a_run(alice):
    run = make_run(alice)
    token = run_status.claim(run.pk)
    assert token and run_status.claim(run.pk) is None
    run.refresh_from_db()
    assert (run.status, run.claim) == (Status.RUNNING, token) and run.started and run.heartbeat


def test_it_finishes_only_for_the_worker_holding_the_claim(alice):
    run = make_run(alice)
    token = run_status.claim(run.pk)
    assert not run_status.finish(run.pk, Status.COMPLETED, claim="someone-else")
    assert status(run) == Status.RUNNING
    assert run_status.fail(run.pk, "Error: it broke", claim=token)
    run.refresh_from_db()
    assert (run.status, run.error) == (Status.FAILED, "Error: it broke") and run.finished
    assert not run_status.finish(run.pk, Status.COMPLETED), "a finished run was finished again"


def test_it_pauses_only_a_running_run_and_resumes_it_through_the_queue(alice, django_capture_on_commit_callbacks):
    run = make_run(alice)
    assert not run_status.pause(run.pk)
    token = run_status.claim(run.pk)
    assert run_status.pause(run.pk)
    run_status.mark_paused(run.pk, token)
    assert status(run) == Status.PAUSED
    with django_capture_on_commit_callbacks(execute=True):
        assert start.resume(run.pk)
    assert status(run) == Status.QUEUED and queued_tasks() == [[run.pk]]
    assert not start.resume(run.pk), "a queued run was resumed twice"


def test_it_withdraws_a_pause_a_resume_overtakes(alice):
    # "Resume" pressed while the worker is still on its way to the checkpoint: the run must not end up paused.
    run = make_run(alice)
    run_status.claim(run.pk)
    assert run_status.pause(run.pk)
    assert start.resume(run.pk), "a pausing run could not be resumed"
    run.refresh_from_db()
    assert (run.status, run.control) == (Status.RUNNING, "")
    assert queued_tasks() == [], "a run its worker still holds was queued a second time"


def test_it_queues_again_a_run_whose_pause_was_withdrawn_after_its_worker_stopped(
    alice, django_capture_on_commit_callbacks
):
    # The worker read "pause" and stopped at its checkpoint, then the resume cleared the request before it
    # recorded the pause: the run goes back to the queue and on from the checkpoint, never left paused.
    run = make_run(alice)
    token = run_status.claim(run.pk)
    run_status.pause(run.pk)
    start.resume(run.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_status.mark_paused(run.pk, token) == Status.QUEUED
    assert status(run) == Status.QUEUED


def test_it_cancels_a_pausing_run_the_user_cancelled_meanwhile(alice):
    run = make_run(alice)
    token = run_status.claim(run.pk)
    run_status.pause(run.pk)
    assert run_status.cancel(run.pk)
    assert run_status.mark_paused(run.pk, token) == Status.CANCELLED
    assert status(run) == Status.CANCELLED
    assert list(AuditEvent.objects.filter(run=run).values_list("type", flat=True)) == ["cancelled"]


def test_it_pauses_nothing_for_a_worker_that_lost_its_claim(alice):
    run = make_run(alice)
    run_status.claim(run.pk)
    run_status.pause(run.pk)
    assert run_status.mark_paused(run.pk, "someone-else") == "claim lost"
    assert status(run) == Status.RUNNING


def test_it_resumes_an_organization_whose_children_are_still_pausing(alice, django_capture_on_commit_callbacks):
    parent = make_run(alice, kind=AuditRun.Kind.ORGANIZATION, status=Status.RUNNING)
    running, queued = make_run(alice, parent=parent), make_run(alice, parent=parent)
    run_status.claim(running.pk)
    run_status.pause_organization(parent.pk)
    assert (status(running), status(queued)) == (Status.RUNNING, Status.PAUSED)
    with django_capture_on_commit_callbacks(execute=True):
        assert start._resume_children(parent.pk) == 2
    running.refresh_from_db()
    assert (running.status, running.control) == (Status.RUNNING, "")
    assert (status(queued), status(parent)) == (Status.QUEUED, Status.RUNNING)
    assert queued_tasks() == [[queued.pk]]


def test_it_cancels_an_idle_run_at_once_and_a_running_one_at_its_checkpoint(alice):
    idle, running = make_run(alice), make_run(alice)
    run_status.claim(running.pk)
    assert run_status.cancel(idle.pk) and run_status.cancel(running.pk)
    assert status(idle) == Status.CANCELLED
    assert AuditEvent.objects.get(run=idle).type == "cancelled"
    running.refresh_from_db()
    assert (running.status, running.control) == (Status.RUNNING, "cancel")
    assert not run_status.cancel(idle.pk), "a finished run was cancelled"


@pytest.mark.parametrize(("auto_resume", "becomes", "queued"), [(True, Status.QUEUED, True),
                                                                (False, Status.INTERRUPTED, False)])  # fmt: skip
def test_it_takes_back_runs_whose_worker_went_silent(alice, settings, django_capture_on_commit_callbacks,
                                                     auto_resume, becomes, queued):  # fmt: skip
    settings.AEGIS_AUTO_RESUME = auto_resume
    settings.AEGIS_STALE_AFTER_S = 30
    silent, alive = make_run(alice), make_run(alice)
    run_status.claim(silent.pk)
    run_status.claim(alive.pk)
    AuditRun.objects.filter(pk=silent.pk).update(heartbeat=timezone.now() - timedelta(seconds=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert start.requeue_stale_runs() == [silent.pk]
        assert start.requeue_stale_runs() == [], "a second sweep took the run again"
    assert (status(silent), status(alive)) == (becomes, Status.RUNNING)
    warning = AuditEvent.objects.get(run=silent)
    assert warning.type == "warning" and warning.payload == {"interrupted": True}
    assert queued_tasks() == ([[silent.pk]] if queued else [])


def test_it_still_runs_tasks_queued_under_the_old_path():
    # Rows queued before the move name audits.tasks.execute_audit; a worker imports that path when it takes one.
    assert import_string("audits.tasks.execute_audit") is worker.execute_audit
    assert worker.execute_audit.module_path == TASK_PATH
