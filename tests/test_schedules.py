"""Scheduled audits: due-time arithmetic, one start per due time whoever claims it, drift, skips, and the pages."""

import subprocess
import sys
import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection as db_connection
from django.urls import reverse
from django.utils import timezone

from audits import schedule_drift, schedules, webhooks
from audits.models import AuditEvent, AuditRun, AwsConnection, Finding, Schedule, UserSettings
from audits.runs import status as run_status
from audits.runs import worker
from tests.helpers import ROOT, free_port, make_run, start_worker, stop, subprocess_env, wait_for
from tests.test_webhooks import Receiver

DAILY, WEEKLY = Schedule.Frequency.DAILY, Schedule.Frequency.WEEKLY
MONDAY, WEDNESDAY, SUNDAY = 0, 2, 6


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- when a schedule is due ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 3, 10, 2, 59), utc(2026, 3, 10, 3, 0)),  # later today
        (utc(2026, 3, 10, 3, 0), utc(2026, 3, 11, 3, 0)),  # exactly due: the next one is tomorrow
        (utc(2026, 3, 10, 23, 30), utc(2026, 3, 11, 3, 0)),
        (utc(2026, 12, 31, 4, 0), utc(2027, 1, 1, 3, 0)),  # across a year
        (utc(2028, 2, 28, 12, 0), utc(2028, 2, 29, 3, 0)),  # a leap day
        (utc(2026, 3, 29, 2, 30), utc(2026, 3, 29, 3, 0)),  # Europe's DST night: UTC has none
    ],
)
def test_it_counts_daily_due_times_in_utc(after, expected):
    assert schedules.next_due_after(DAILY, time(3, 0), None, after) == expected


@pytest.mark.parametrize(
    ("weekday", "after", "expected"),
    [
        (WEDNESDAY, utc(2026, 3, 9, 12, 0), utc(2026, 3, 11, 6, 30)),  # Monday -> this Wednesday
        (WEDNESDAY, utc(2026, 3, 11, 6, 29), utc(2026, 3, 11, 6, 30)),  # Wednesday, before the time
        (WEDNESDAY, utc(2026, 3, 11, 6, 30), utc(2026, 3, 18, 6, 30)),  # exactly due: next week
        (MONDAY, utc(2026, 3, 15, 23, 0), utc(2026, 3, 16, 6, 30)),  # Sunday night -> Monday
        (SUNDAY, utc(2026, 12, 28, 0, 0), utc(2027, 1, 3, 6, 30)),  # across a year
    ],
)
def test_it_counts_weekly_due_times_in_utc(weekday, after, expected):
    due = schedules.next_due_after(WEEKLY, time(6, 30), weekday, after)
    assert due == expected and due.weekday() == weekday


def test_it_reads_a_time_zone_aware_now_as_utc():
    plus_two = datetime(2026, 3, 10, 4, 30, tzinfo=timezone.get_fixed_timezone(120))  # 02:30 UTC
    assert schedules.next_due_after(DAILY, time(3, 0), None, plus_two) == utc(2026, 3, 10, 3, 0)


# --- helpers ----------------------------------------------------------------------------------------------------------


def verified_connection(owner, name: str = "prod") -> AwsConnection:
    return AwsConnection.objects.create(
        owner=owner,
        name=name,
        role_arn="arn:aws:iam::123456789012:role/AegisAudit",
        account_id="123456789012",
        verified_at=timezone.now(),
    )


def due_schedule(owner, **fields) -> Schedule:
    fields.setdefault("source", AuditRun.Source.DEMO)
    fields.setdefault("frameworks", ["cis"])
    return Schedule.objects.create(
        owner=owner, frequency=DAILY, at=time(3, 0), next_due=timezone.now() - timedelta(minutes=1), **fields
    )


def scheduled_runs(schedule: Schedule):
    return AuditRun.objects.filter(target__schedule=schedule.pk)


# --- claiming: one start per due time ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_starts_a_due_schedule_and_moves_it_to_the_next_due_time(alice):
    schedule = due_schedule(alice)
    [outcome] = schedules.run_due_schedules()
    run = AuditRun.objects.get(pk=outcome.run_id)
    assert run.source == AuditRun.Source.DEMO and run.status == AuditRun.Status.QUEUED
    assert run.target == {"schedule": schedule.pk} and run.frameworks == ["cis"]
    schedule.refresh_from_db()
    assert schedule.last_run_id == run.pk and schedule.last_error == ""
    assert schedule.next_due > timezone.now() and (schedule.next_due.hour, schedule.next_due.minute) == (3, 0)
    assert schedules.run_due_schedules() == []  # not due any more


@pytest.mark.django_db
def test_it_claims_a_due_time_once_even_when_asked_twice_for_it(alice):
    schedule = due_schedule(alice)
    due_at, now = schedule.next_due, timezone.now()
    first = schedules.run_schedule(schedule.pk, due_at, now)
    second = schedules.run_schedule(schedule.pk, due_at, now)  # a second process that read the same row
    assert first.run_id and second is None
    assert scheduled_runs(schedule).count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_starts_a_due_schedule_once_when_two_threads_check_at_once(alice):
    schedule = due_schedule(alice)
    start = threading.Barrier(2)
    outcomes: list = []

    def check() -> None:
        try:
            start.wait()
            outcomes.extend(schedules.run_due_schedules())
        finally:
            db_connection.close()

    threads = [threading.Thread(target=check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 1 and outcomes[0].run_id
    assert list(scheduled_runs(schedule).values_list("pk", flat=True)) == [outcomes[0].run_id]


@pytest.mark.django_db
def test_it_starts_an_organization_schedule_as_the_portal_starts_an_organization_audit(alice):
    connection = verified_connection(alice)
    target = {"member_role_name": "AegisAudit", "external_id": "ext-1"}
    schedule = due_schedule(
        alice, source=AuditRun.Source.CONNECTION, connection=connection, kind=AuditRun.Kind.ORGANIZATION, target=target
    )
    [outcome] = schedules.run_due_schedules()
    run = AuditRun.objects.get(pk=outcome.run_id)
    assert run.kind == AuditRun.Kind.ORGANIZATION and run.connection == connection
    assert run.target == {**target, "schedule": schedule.pk} and run.account_id == "123456789012"


# --- skips: recorded, and never a second run for one due time --------------------------------------------------


@pytest.mark.django_db
def test_it_skips_a_due_time_when_the_owner_is_at_the_limit_and_records_why(alice, settings):
    settings.AEGIS_MAX_ACTIVE_RUNS = 1
    make_run(alice, status=AuditRun.Status.RUNNING)
    schedule = due_schedule(alice)
    now = timezone.now()
    [outcome] = schedules.run_due_schedules(now)
    assert outcome.run_id is None and "the limit is 1" in outcome.skipped
    schedule.refresh_from_db()
    assert "the limit is 1" in schedule.last_error and schedule.last_error.startswith("Skipped at ")
    assert schedule.next_due > now and schedule.last_run_id is None
    assert scheduled_runs(schedule).count() == 0
    assert schedules.run_due_schedules(now) == []  # the skipped due time is not tried again
    assert scheduled_runs(schedule).count() == 0


@pytest.mark.django_db
def test_it_skips_while_the_previous_scheduled_run_is_still_going(alice):
    schedule = due_schedule(alice)
    earlier = make_run(alice, status=AuditRun.Status.PAUSED, target={"schedule": schedule.pk})
    Schedule.objects.filter(pk=schedule.pk).update(last_run=earlier)
    [outcome] = schedules.run_due_schedules()
    assert outcome.skipped == f"Skipped: the previous scheduled audit #{earlier.pk} has not finished yet."
    assert scheduled_runs(schedule).count() == 1


@pytest.mark.django_db
def test_it_skips_a_connection_that_is_no_longer_verified(alice):
    connection = verified_connection(alice)
    AwsConnection.objects.filter(pk=connection.pk).update(last_error="In your AWS account: AccessDenied")
    schedule = due_schedule(alice, source=AuditRun.Source.CONNECTION, connection=connection)
    [outcome] = schedules.run_due_schedules()
    assert "is not verified" in outcome.skipped
    schedule.refresh_from_db()
    assert "is not verified" in schedule.last_error and AuditRun.objects.count() == 0


@pytest.mark.django_db
def test_it_leaves_disabled_schedules_alone(alice):
    schedule = due_schedule(alice, enabled=False)
    assert schedules.run_due_schedules() == [] and scheduled_runs(schedule).count() == 0


# --- drift --------------------------------------------------------------------------------------------------------


def run_with_findings(owner, findings: dict[str, str], **fields) -> AuditRun:
    """A running run with findings {fingerprint: severity}, completed through run_status.finish as the worker does."""
    run = make_run(owner, status=AuditRun.Status.RUNNING, account_id="111122223333", **fields)
    for fp, severity in findings.items():
        Finding.objects.create(
            run=run, check_id="c", category="privilege", severity=severity, title=f"Finding {fp}", fingerprint=fp
        )
    assert run_status.finish(run.pk, AuditRun.Status.COMPLETED)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_it_records_what_is_new_resolved_and_changed_since_the_previous_run_of_the_source(alice):
    schedule = due_schedule(alice)
    previous = run_with_findings(alice, {"kept": "high", "rated": "medium", "gone": "low", "gone2": "high"})
    run_with_findings(alice, {"other-source": "high"}, source=AuditRun.Source.SNAPSHOT)  # not the same source
    run = run_with_findings(
        alice, {"kept": "high", "rated": "critical", "new1": "high", "new2": "low"}, target={"schedule": schedule.pk}
    )
    assert run.target["drift"] == {"previous": previous.pk, "new": 2, "resolved": 2, "changed": 1}
    assert schedule_drift.summary(run.target["drift"]) == "2 new, 2 resolved, 1 changed in severity"


@pytest.mark.django_db
def test_it_says_a_first_run_has_nothing_to_compare_and_compares_runs_started_by_hand_too(alice):
    schedule = due_schedule(alice)
    first = run_with_findings(alice, {"a": "high"}, target={"schedule": schedule.pk})
    assert first.target["drift"] == {"previous": None} and schedule_drift.summary(first.target["drift"]) == ""
    by_hand = run_with_findings(alice, {"a": "high", "b": "low"})
    assert by_hand.target == {"drift": {"previous": first.pk, "new": 1, "resolved": 0, "changed": 0}}
    failed = make_run(alice, status=AuditRun.Status.RUNNING)
    run_status.fail(failed.pk, "boom")
    failed.refresh_from_db()
    assert failed.target == {}  # only a completed run is compared


@pytest.mark.django_db
def test_it_compares_an_organization_with_all_its_accounts(alice):
    connection = verified_connection(alice)
    schedule = due_schedule(
        alice, source=AuditRun.Source.CONNECTION, connection=connection, kind=AuditRun.Kind.ORGANIZATION
    )

    def org_run(children: list[dict[str, str]], **fields) -> AuditRun:
        parent = make_run(
            alice, status=AuditRun.Status.RUNNING, source="connection", connection=connection, kind="organization",
            **fields,
        )  # fmt: skip
        for findings in children:
            run_with_findings(alice, findings, source="connection", connection=connection, parent=parent)
        assert run_status.finish(parent.pk, AuditRun.Status.COMPLETED)
        parent.refresh_from_db()
        return parent

    before = org_run([{"a1": "high"}, {"b1": "low", "b2": "medium"}])
    after = org_run([{"a1": "high", "a2": "critical"}, {"b2": "high"}], target={"schedule": schedule.pk})
    assert after.target["drift"] == {
        "previous": before.pk,
        "new": 1,
        "resolved": 1,
        "changed": 1,
        "members": {"111122223333": {"new": 1, "resolved": 1, "changed": 1}},
    }


@pytest.mark.django_db
def test_it_compares_two_real_scheduled_demo_audits(alice, settings):
    settings.AEGIS_DEMO_STEP_MS = 0
    schedule = due_schedule(alice)
    runs = []
    for _ in range(2):
        [outcome] = schedules.run_due_schedules()
        assert worker.execute(outcome.run_id) == "completed"
        runs.append(AuditRun.objects.get(pk=outcome.run_id))
        Schedule.objects.filter(pk=schedule.pk).update(next_due=timezone.now() - timedelta(seconds=1))
    assert runs[1].target["drift"] == {"previous": runs[0].pk, "new": 0, "resolved": 0, "changed": 0}
    assert Finding.objects.filter(run=runs[1]).exists()


@pytest.mark.django_db
def test_the_webhook_says_what_drifted_in_a_scheduled_run(alice, settings):
    settings.AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP = True
    cache.clear()
    schedule = due_schedule(alice)
    run_with_findings(alice, {"kept": "medium", "gone": "low"})
    run = run_with_findings(alice, {"kept": "high", "new": "critical"}, target={"schedule": schedule.pk})
    with Receiver() as receiver:
        UserSettings.objects.create(user=alice, webhook_url=receiver.url)
        assert webhooks.notify_finished(run.pk) == "sent"
    [message] = receiver.received
    assert f"Aegis IAM: scheduled audit #{run.pk} of 111122223333 (Demo account) finished." in message["text"]
    assert "1 new, 1 resolved, 1 changed in severity." in message["blocks"][0]["text"]["text"]
    assert message["aegis"]["scheduled"] is True


@pytest.mark.django_db
def test_the_runs_list_marks_scheduled_runs_with_their_drift(client, alice):
    schedule = due_schedule(alice)
    previous = run_with_findings(alice, {"a": "high", "b": "low"})
    run = run_with_findings(alice, {"a": "critical", "c": "low", "d": "low"}, target={"schedule": schedule.pk})
    by_hand = run_with_findings(alice, {"a": "critical"})
    client.force_login(alice)
    page = client.get(reverse("audits:list")).content.decode()
    assert page.count(">scheduled</span>") == 1
    assert "2 new, 1 resolved, 1 changed" in page
    assert f"/audits/{run.pk}/compare?with={previous.pk}" in page
    # A run started by hand shows its drift too; the first of its source shows none.
    assert f"/audits/{by_hand.pk}/compare?with={run.pk}" in page and "0 new, 2 resolved, 0 changed" in page
    assert page.count('class="small drift"') == 2


# --- the command and the supervisor -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_starts_what_is_due_once(alice, capsys):
    schedule = due_schedule(alice)
    call_command("run_schedules")
    call_command("run_schedules")
    [run] = scheduled_runs(schedule)
    assert f"schedule {schedule.pk}: started audit #{run.pk}" in capsys.readouterr().out


@pytest.mark.server
def test_two_real_schedulers_and_two_real_workers_run_a_due_schedule_once(transactional_db, alice, bob):
    """Two `run_schedules --loop` processes claim the due schedules; two `db_worker` processes run the audits."""
    due = [due_schedule(alice), due_schedule(bob)]
    env = subprocess_env() | {"AEGIS_DEMO_STEP_MS": "0"}
    command = [sys.executable, "manage.py", "run_schedules", "--loop", "--interval", "0.05"]
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    procs += [start_worker({"AEGIS_DEMO_STEP_MS": "0"}) for _ in range(2)]
    try:
        for schedule in due:
            wait_for(lambda s=schedule: scheduled_runs(s).filter(status=AuditRun.Status.COMPLETED).exists(), 120)
    finally:
        for proc in procs:
            stop(proc)
    outputs = [proc.stdout.read() for proc in procs[:2]]
    assert all(proc.returncode == 0 for proc in procs[:2])  # SIGTERM ends the loop cleanly
    assert not any("Skipped" in output for output in outputs)  # the loser claimed nothing, so skipped nothing
    for schedule in due:
        [run] = scheduled_runs(schedule)
        assert AuditEvent.objects.filter(run=run, type="start").count() == 1
        schedule.refresh_from_db()
        assert schedule.last_run_id == run.pk and schedule.next_due > timezone.now() and schedule.last_error == ""
        assert sum(o.count(f"started audit #{run.pk}") for o in outputs) == 1


@pytest.mark.server
def test_runportal_starts_due_schedules_with_no_extra_process(transactional_db, alice):
    """`make run` runs `runportal`: its supervisor loop checks the schedules, its worker runs the audit."""
    schedule = due_schedule(alice)
    env = subprocess_env() | {"AEGIS_DEMO_STEP_MS": "0"}
    command = [sys.executable, "manage.py", "runportal", "--host", "127.0.0.1", "--port", str(free_port())]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: scheduled_runs(schedule).filter(status=AuditRun.Status.COMPLETED).exists(), 120)
    finally:
        stop(proc)
    assert scheduled_runs(schedule).count() == 1


# --- the pages ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_sets_changes_and_turns_off_a_connection_schedule(client, alice):
    connection = verified_connection(alice)
    client.force_login(alice)
    url = reverse("audits:connection_schedule", args=[connection.pk])
    response = client.post(url, {"frequency": "daily", "at": "04:15", "weekday": "0"}, follow=True)
    schedule = Schedule.objects.get(connection=connection)
    assert (schedule.frequency, schedule.at, schedule.weekday, schedule.enabled) == (DAILY, time(4, 15), None, True)
    assert schedule.owner == alice and schedule.kind == AuditRun.Kind.ACCOUNT and schedule.next_due > timezone.now()
    assert "Audited <strong>daily at 04:15 UTC</strong>" in response.content.decode()
    client.post(url, {"frequency": "weekly", "at": "06:00", "weekday": "4"})
    schedule.refresh_from_db()
    assert schedule.describe() == "weekly on Friday at 06:00 UTC" and schedule.next_due.weekday() == 4
    client.post(url, {"frequency": "off", "at": "06:00"})
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_due is None
    assert Schedule.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [{"frequency": "daily", "at": "25:00"}, {"frequency": "hourly", "at": "03:00"}, {"frequency": "weekly", "at": "3"}],
)
def test_it_refuses_a_bad_schedule_and_changes_nothing(client, alice, data):
    connection = verified_connection(alice)
    client.force_login(alice)
    response = client.post(reverse("audits:connection_schedule", args=[connection.pk]), data, follow=True)
    assert response.status_code == 200 and "The schedule was not changed" in response.content.decode()
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_it_schedules_an_organization_from_its_run_page(client, alice):
    connection = verified_connection(alice)
    run = make_run(
        alice, source="connection", connection=connection, kind="organization", status=AuditRun.Status.COMPLETED,
        frameworks=["cis"], target={"member_role_name": "OrgAudit", "external_id": "x-1"},
    )  # fmt: skip
    client.force_login(alice)
    assert f'action="/audits/{run.pk}/org/schedule"' in client.get(run.get_absolute_url()).content.decode()
    client.post(reverse("audits:org_schedule", args=[run.pk]), {"frequency": "weekly", "at": "05:00", "weekday": "2"})
    schedule = Schedule.objects.get(connection=connection, kind=AuditRun.Kind.ORGANIZATION)
    assert schedule.target == {"member_role_name": "OrgAudit", "external_id": "x-1"} and schedule.frameworks == ["cis"]
    assert schedule.describe() == "weekly on Wednesday at 05:00 UTC"


@pytest.mark.django_db
def test_strangers_get_404_from_the_schedule_views(client, alice, bob):
    connection = verified_connection(alice)
    org = make_run(alice, source="connection", connection=connection, kind="organization")
    client.force_login(bob)
    data = {"frequency": "daily", "at": "03:00"}
    assert client.post(reverse("audits:connection_schedule", args=[connection.pk]), data).status_code == 404
    assert client.post(reverse("audits:org_schedule", args=[org.pk]), data).status_code == 404
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_the_schedule_views_refuse_the_wrong_method(client, alice):
    connection = verified_connection(alice)
    org = make_run(alice, source="connection", connection=connection, kind="organization")
    client.force_login(alice)
    assert client.get(reverse("audits:connection_schedule", args=[connection.pk])).status_code == 405
    assert client.get(reverse("audits:org_schedule", args=[org.pk])).status_code == 405
