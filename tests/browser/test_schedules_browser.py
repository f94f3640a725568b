"""Scheduling a connection's audits in a real browser, at desktop and phone size; screenshots in test-artifacts/."""

from datetime import time

import pytest
from django.utils import timezone

from audits.models import AuditRun, AwsConnection, Finding, Schedule
from audits.runs import status as run_status
from tests.browser.pages import SIZES, in_view, overflow_x, wide_elements
from tests.helpers import make_run

pytestmark = [pytest.mark.browser, pytest.mark.server]


def scheduled_run_with_drift(owner, connection: AwsConnection, schedule: Schedule) -> AuditRun:
    """A completed run of the connection, then a scheduled one with 1 new, 1 resolved and 1 changed finding."""
    runs = []
    for findings, target in (
        ({"kept": "medium", "gone": "low"}, {}),
        ({"kept": "high", "new": "critical"}, {"schedule": schedule.pk}),
    ):
        run = make_run(
            owner, source="connection", connection=connection, status=AuditRun.Status.RUNNING,
            account_id=connection.account_id, target=target, started=timezone.now(),
        )  # fmt: skip
        for fp, severity in findings.items():
            Finding.objects.create(
                run=run, check_id="c", category="privilege", severity=severity, title=fp, fingerprint=fp
            )
        run_status.finish(run.pk, AuditRun.Status.COMPLETED)
        runs.append(run)
    return runs[-1]


@pytest.mark.parametrize("size", SIZES)
def test_it_schedules_a_connection_from_its_page(server, alice, open_page, artifacts, size):
    connection = AwsConnection.objects.create(
        owner=alice,
        name="production",
        role_arn="arn:aws:iam::123456789012:role/AegisAudit",
        account_id="123456789012",
        verified_at=timezone.now(),
    )
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/connections/{connection.pk}/")
    assert "Not scheduled" in page.inner_text("#schedule-state")
    assert overflow_x(page) <= 0, wide_elements(page)
    page.locator("#schedule").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / f"schedule-connection-{size}.png", full_page=True)

    page.select_option("#id_frequency", "weekly")
    page.select_option("#id_weekday", "2")
    page.fill("#id_at", "06:30")
    assert in_view(page, "#schedule button[type=submit]")
    page.click("#schedule button[type=submit]")
    page.wait_for_selector("#schedule-state strong")
    assert page.inner_text("#schedule-state strong") == "weekly on Wednesday at 06:30 UTC"
    assert "next" in page.inner_text("#schedule-state")
    schedule = Schedule.objects.get(connection=connection)
    assert (schedule.frequency, schedule.weekday, schedule.at, schedule.enabled) == ("weekly", 2, time(6, 30), True)
    assert schedule.next_due.weekday() == 2 and schedule.next_due > timezone.now()
    assert overflow_x(page) <= 0, wide_elements(page)
    assert page.errors == []
    page.locator("#schedule").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / f"schedule-connection-saved-{size}.png", full_page=True)

    run = scheduled_run_with_drift(alice, connection, schedule)
    page.goto("/audits/")
    row = f"table.runs tr:has(a[href='/audits/{run.pk}/'])"
    assert page.inner_text(f"{row} .drift") == "1 new, 1 resolved, 1 changed"
    assert in_view(page, f"{row} .drift")
    assert overflow_x(page) <= 0, wide_elements(page)
    page.screenshot(path=artifacts / f"schedule-runs-list-{size}.png", full_page=True)
