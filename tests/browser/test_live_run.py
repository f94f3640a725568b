"""A person watching audits in a real browser: live timeline, dropped streams, reloads, replay, filters."""

import re

import pytest

from audits.models import AuditRun
from tests.helpers import make_finished_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = [pytest.mark.browser, pytest.mark.server]

ROWS = "#timeline > li.event"


def seqs(page) -> list[int]:
    """The seqs shown, in seq order: findings sit after their principal's line, so the DOM order differs."""
    return sorted(page.eval_on_selector_all(f"{ROWS}[data-seq]", "rows => rows.map(r => Number(r.dataset.seq))"))


def start_demo_audit(page, frameworks=("pci_dss", "hipaa")):
    page.goto("/audits/new")
    page.check("input[name=source][value=demo]")
    # Every framework starts checked; keep only the ones asked for.
    for box in page.query_selector_all("input[name=frameworks]"):
        box.set_checked(box.get_attribute("value") in frameworks)
    with page.expect_navigation(url=re.compile(r"/audits/\d+/$")) as navigation:
        page.click("button:has-text('Start audit')")
    run_id = int(re.search(r"/audits/(\d+)/$", page.url).group(1))
    return AuditRun.objects.get(pk=run_id), navigation.value.text()


def wait_for_results(page, timeout=90_000):
    page.wait_for_selector("section#results .gauge", timeout=timeout)


def assert_complete_timeline(page, run):
    run.refresh_from_db()
    assert seqs(page) == list(range(1, run.last_seq + 1))
    assert page.get_attribute(f"{ROWS}:last-child", "class").startswith("event ev-complete")


def test_it_shows_a_demo_audit_live_and_swaps_in_the_results(server, slow_worker, alice, open_page, artifacts):
    page = open_page(server, alice)
    run, first_html = start_demo_audit(page)
    rendered = first_html.count('class="event ')
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event').length >= 25")
    page.wait_for_selector("#conn[data-state=live]")
    page.screenshot(path=artifacts / "run-live.png", full_page=True)
    assert int(page.text_content("#stat-critical")) + int(page.text_content("#stat-high")) >= 0
    wait_for_results(page)
    run.refresh_from_db()
    assert rendered < run.last_seq  # most rows arrived over the stream, not with the page
    assert_complete_timeline(page, run)
    assert page.eval_on_selector("#progress", "p => p.value") == 100
    assert page.text_content("#progress-value") == "100"
    assert page.text_content("#run-status") == "Completed"
    assert page.is_hidden("[data-control=pause]") and page.is_hidden("[data-control=cancel]")
    assert page.get_attribute("#conn", "data-state") == "finished"
    assert page.locator("#findings tbody tr").count() > 0
    assert page.locator(".compliance").count() == 2
    page.screenshot(path=artifacts / "run-results-full.png", full_page=True)
    page.locator("#results").scroll_into_view_if_needed()
    page.evaluate("() => document.getElementById('results').scrollIntoView()")
    page.screenshot(path=artifacts / "run-results.png")
    page.locator("#findings").scroll_into_view_if_needed()
    page.evaluate("() => document.getElementById('findings').scrollIntoView()")
    page.screenshot(path=artifacts / "run-findings.png")
    assert page.is_hidden("#jump")  # the reader never scrolled up, so the timeline kept following
    page.click("#findings tbody a >> nth=0")
    page.wait_for_selector("#finding-panel article")
    page.evaluate("() => document.getElementById('finding-panel').scrollIntoView()")
    page.screenshot(path=artifacts / "finding-detail.png")
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors


def test_it_resumes_a_dropped_stream_without_gaps_or_duplicates(own_server, slow_worker, alice, open_page):
    page = open_page(own_server.url, alice)
    run, _ = start_demo_audit(page, frameworks=("cis",))
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event').length >= 10")
    own_server.restart()
    page.wait_for_selector("#conn[data-state=reconnecting]", timeout=10_000)
    wait_for_results(page)
    assert_complete_timeline(page, run)


def test_it_continues_live_after_a_reload_mid_run(server, slow_worker, alice, open_page):
    page = open_page(server, alice)
    run, _ = start_demo_audit(page, frameworks=())
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event').length >= 10")
    response = page.reload()
    history = response.text().count('class="event ')
    assert history >= 10
    wait_for_results(page)
    assert_complete_timeline(page, run)
    assert history < run.last_seq  # the rest arrived live after the reload


def test_it_replays_a_finished_run(server, alice, open_page, artifacts):
    run = make_finished_run(alice, count=12, gap_s=0.5)
    page = open_page(server, alice)
    response = page.goto(f"/audits/{run.pk}/playback?speed=16")
    assert 'class="event ' not in response.text()  # every row comes from the replay stream
    page.wait_for_selector(f"{ROWS}.ev-complete", timeout=20_000)
    assert seqs(page) == list(range(1, 13))
    assert page.text_content("#progress-value") == "100"
    assert page.get_attribute("#conn", "data-state") == "finished"
    page.screenshot(path=artifacts / "replay.png")
    page.click(f"a[href='/audits/{run.pk}/playback?speed=4']")
    page.wait_for_selector(f"{ROWS}.ev-complete", timeout=20_000)
    assert seqs(page) == list(range(1, 13))


def wait_rows(page, n: int) -> None:
    """n findings rows, and htmx done with the swap: a change made before the new form is settled goes unheard."""
    page.wait_for_function(f"() => document.querySelectorAll('#findings tbody tr').length === {n}")
    busy = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"
    page.wait_for_function(f"() => !document.querySelector('{busy}')")


def test_it_filters_findings_in_place_with_htmx(server, alice, open_page, artifacts):
    run = make_completed_run(
        alice,
        [
            make_finding("admin-role", severity="critical", title="Role can escalate to admin"),
            make_finding("old-key", severity="low", title="Access key older than 90 days", principal_name="deploy-bot"),
            make_finding("wild", severity="high", title="Wildcard on iam:PassRole"),
        ],
        frameworks=("pci_dss",),
    )
    page = open_page(server, alice)
    page.goto(f"/audits/{run.pk}/")
    assert page.locator("#findings tbody tr").count() == 3
    page.select_option("select[name=severity]", "critical")
    wait_rows(page, 1)
    assert "severity=critical" in page.url
    assert page.locator(f"{ROWS}[data-seq]").count() == run.last_seq  # only the table was swapped
    page.select_option("select[name=severity]", "")
    wait_rows(page, 3)
    page.locator("input[name=q]").press_sequentially("deploy", delay=20)
    page.press("input[name=q]", "Enter")
    wait_rows(page, 1)
    assert "Access key older than 90 days" in page.text_content("#findings tbody")
    page.click("#findings tbody a")
    page.wait_for_selector("#finding-panel article")
    assert "Scope the policy down." in page.text_content("#finding-panel")
    page.screenshot(path=artifacts / "results-filtered.png", full_page=True)
    phone = open_page(server, alice, width=390, height=844)
    phone.goto(f"/audits/{run.pk}/")
    phone.screenshot(path=artifacts / "run-phone.png", full_page=True)


def test_it_shows_the_dashboard(server, alice, open_page, artifacts):
    from datetime import timedelta

    from django.utils import timezone

    start = timezone.now() - timedelta(days=5)
    for i, score in enumerate([82, 74, 61, 48, 35]):
        make_completed_run(
            alice,
            [
                make_finding(f"f{j}", severity=s)
                for j, s in enumerate(["critical", "high", "high", "medium", "low"][: 5 - i])
            ],
            risk_score=score,
            created=start + timedelta(days=i),
        )
    make_completed_run(alice, [make_finding("x", severity="high")], risk_score=55, account_id="444455556666")
    page = open_page(server, alice)
    page.goto("/audits/")
    assert page.locator("svg.sparkline").count() == 2
    page.screenshot(path=artifacts / "dashboard.png", full_page=True)
    phone = open_page(server, alice, width=390, height=844)
    phone.goto("/audits/")
    phone.screenshot(path=artifacts / "dashboard-phone.png", full_page=True)


def test_it_pauses_and_resumes_with_buttons_that_follow_the_run(server, slow_worker, alice, open_page):
    page = open_page(server, alice)
    run, _ = start_demo_audit(page, frameworks=("soc2",))
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event').length >= 8")
    page.click("[data-control=pause] button")
    page.wait_for_selector(f"{ROWS}.ev-paused", timeout=20_000)
    assert page.text_content("#run-status") == "Paused"
    assert page.is_visible("[data-control=resume]") and page.is_hidden("[data-control=pause]")
    page.click("[data-control=resume] button")
    wait_for_results(page)
    assert_complete_timeline(page, run)
    types = page.eval_on_selector_all(ROWS, "rows => rows.map(r => r.className)")
    assert any("ev-resumed" in t for t in types)


def test_it_shows_the_new_audit_and_connection_pages(server, alice, open_page, artifacts):
    page = open_page(server, alice)
    page.goto("/audits/new")
    page.check("input[name=source][value=snapshot]")
    page.set_input_files(
        "input[name=snapshot_file]",
        files=[{"name": "broken.json", "mimeType": "application/json", "buffer": b'{"Users": []}'}],
    )
    page.click("button:has-text('Start audit')")
    assert "Not an IAM snapshot" in page.text_content("#snapshot-error")
    page.screenshot(path=artifacts / "new-audit-error.png", full_page=True)
    page.goto("/audits/connections/")
    page.fill("input[name=name]", "production")
    page.fill("input[name=role_arn]", "arn:aws:iam::123456789012:role/AegisAudit")
    page.click("button:has-text('Add connection')")
    # This server has no AWS credentials and no AEGIS_AWS_PRINCIPAL_ARN: the page gives the ExternalId and tells
    # the operator what is missing instead of a trust policy naming a placeholder (the review portal's browser
    # test covers the trust policy with a configured principal).
    page.wait_for_selector("#external-id")
    assert page.text_content("#external-id").strip()
    assert "operator" in page.text_content(".operator-note")
    page.screenshot(path=artifacts / "connection.png", full_page=True)


def test_it_stops_following_when_the_reader_scrolls_up_and_offers_the_latest(server, alice, open_page):
    run = make_finished_run(alice, count=80, gap_s=0.15)
    page = open_page(server, alice, height=700)
    page.goto(f"/audits/{run.pk}/playback?speed=1")
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event').length >= 30")
    page.eval_on_selector("#timeline", "t => { t.scrollTop = 0; }")
    page.wait_for_selector("#jump", state="visible")
    assert page.eval_on_selector("#timeline", "t => t.scrollTop") == 0  # new rows did not pull the reader down
    page.click("#jump")
    page.wait_for_selector("#jump", state="hidden")
    page.wait_for_selector(f"{ROWS}.ev-complete", timeout=30_000)
    at_bottom = "t => t.scrollHeight - t.scrollTop - t.clientHeight < 32"
    page.wait_for_function(f"() => ({at_bottom})(document.getElementById('timeline'))")
