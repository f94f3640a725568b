"""Retention: `manage.py purge_runs --older-than DAYS [--dry-run]`, the one way to delete audit evidence."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audits.models import AuditEvent, AuditRun, RunInput
from audits.runs.inputs import store_input
from tests.helpers import make_finished_run, make_run

pytestmark = pytest.mark.django_db


def _aged(run: AuditRun, days: int) -> AuditRun:
    AuditRun.objects.filter(pk=run.pk).update(finished=timezone.now() - timedelta(days=days))
    return run


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_runs", *args, stdout=out)
    return out.getvalue()


def test_it_deletes_old_finished_runs_with_their_events_and_inputs(alice):
    old = _aged(make_finished_run(alice, count=3), days=40)
    store_input(old, {"RoleDetailList": []})
    recent = _aged(make_finished_run(alice, count=2), days=5)
    running = make_run(alice, status=AuditRun.Status.RUNNING)
    assert "1 runs, 3 events, 0 findings, 1 inputs" in purge("--older-than", "30")
    assert set(AuditRun.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not AuditEvent.objects.filter(run_id=old.pk).exists() and not RunInput.objects.exists()


def test_it_only_counts_on_a_dry_run(alice):
    _aged(make_finished_run(alice, count=2), days=400)
    assert "Would delete" in purge("--older-than", "365", "--dry-run")
    assert AuditRun.objects.count() == 1


def test_it_refuses_a_retention_under_a_day(alice):
    with pytest.raises(CommandError, match="at least 1 day"):
        purge("--older-than", "0")
