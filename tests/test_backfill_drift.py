"""`manage.py backfill_drift`: completed runs from before drift was recorded get it, the same as the finish path."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audits.models import AuditRun
from tests.helpers import make_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


def backfill(*args: str) -> str:
    out = StringIO()
    call_command("backfill_drift", *args, stdout=out)
    return out.getvalue()


def drift_of(run: AuditRun) -> dict | None:
    run.refresh_from_db()
    return run.target.get("drift")


def old_runs(owner) -> tuple[AuditRun, AuditRun]:
    """Two completed runs of one source, made without drift as runs were before it was recorded."""
    first = make_completed_run(owner, [make_finding("kept"), make_finding("gone", severity="critical")])
    second = make_completed_run(owner, [make_finding("kept"), make_finding("new"), make_finding("n2")])
    assert drift_of(first) is None and drift_of(second) is None
    return first, second


def test_it_records_the_drift_the_finish_path_would_have(alice, bob, client):
    first, second = old_runs(alice)
    other = make_completed_run(bob, [make_finding("kept")])  # another owner: its own first run
    failed = make_run(alice, status=AuditRun.Status.FAILED)
    out = backfill("--batch-size", "2")  # two batches of two, then one
    assert "Recorded drift on 3 completed audits." in out
    assert drift_of(first) == {"previous": None}
    assert drift_of(second) == {"previous": first.pk, "new": 2, "resolved": 1, "changed": 0}
    assert drift_of(other) == {"previous": None}
    assert drift_of(failed) is None  # only completed runs have drift
    client.force_login(alice)
    page = client.get("/audits/").text
    assert f"/audits/{second.pk}/compare?with={first.pk}" in page and "2 new, 1 resolved, 0 changed" in page


def test_it_is_idempotent_and_leaves_recorded_drift_alone(alice):
    first, second = old_runs(alice)
    recorded = {"previous": None, "kept": "as it was"}
    AuditRun.objects.filter(pk=first.pk).update(target={"schedule": 3, "drift": recorded})
    assert "Recorded drift on 1 completed audits." in backfill()
    assert drift_of(first) == recorded
    assert drift_of(second)["previous"] == first.pk
    assert "Recorded drift on 0 completed audits." in backfill()


def test_a_dry_run_only_counts(alice):
    first, second = old_runs(alice)
    assert "2 completed audits have no drift recorded." in backfill("--dry-run")
    assert drift_of(first) is None and drift_of(second) is None


def test_it_names_the_runs_it_could_not_record_and_goes_on(alice):
    first, second = old_runs(alice)
    AuditRun.objects.filter(pk=first.pk).update(target=["not", "an", "object"])  # record_drift cannot read it
    out = backfill()
    assert f"Recorded drift on 1 completed audits. 1 could not be recorded (the log says why): #{first.pk}." in out
    assert drift_of(second)["previous"] == first.pk


def test_it_refuses_a_batch_size_below_one():
    with pytest.raises(CommandError, match="at least 1"):
        backfill("--batch-size", "0")
