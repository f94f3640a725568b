"""The reviewer's portal in a real browser, at desktop (1440x900) and phone (390x844) size.

Each test saves screenshots into test-artifacts/ (<what>-<size>.png) to look at."""

import re
from datetime import timedelta

import pytest

from audits.models import AuditEvent, AuditRun, Finding
from tests.browser.pages import SIZES, demo_run, ended_run, in_view, overflow_x, wide_elements
from tests.view_helpers import make_completed_run, make_finding

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def fast_demo(settings):
    settings.AEGIS_DEMO_STEP_MS = 0


def spread_over_time(run: AuditRun, every_ms: int) -> None:
    """Re-date a run's events as if they were recorded every_ms apart (the replay's pace follows them)."""
    events = list(AuditEvent.objects.filter(run=run).order_by("seq"))
    start = events[0].created
    for index, event in enumerate(events):
        event.created = start + timedelta(milliseconds=every_ms * index)
    AuditEvent.objects.bulk_update(events, ["created"], batch_size=500)


def shoot(page, artifacts, name: str, size: str, *, full: bool = True) -> None:
    page.screenshot(path=artifacts / f"{name}-{size}.png", full_page=full)


@pytest.mark.parametrize("size", SIZES)
def test_it_lays_every_page_out_at_both_sizes(server, alice, open_page, artifacts, fast_demo, size):
    # The widest rows a list shows: every framework, and an upload with a long file name.
    wide = make_completed_run(alice, [make_finding("w")], frameworks=("cis", "pci_dss", "hipaa", "soc2", "nist_800_53"))
    AuditRun.objects.filter(pk=wide.pk).update(
        source=AuditRun.Source.SNAPSHOT, snapshot_name="prod-account-authorization-details-2026-12-07T101500Z.json"
    )
    run = demo_run(alice)
    finding = Finding.objects.filter(run=run, severity="critical").first()
    page = open_page(server, alice, **SIZES[size])
    pages = {
        "audits": "/audits/",
        "new-audit": "/audits/new",
        "run": f"/audits/{run.pk}/",
        "finding": f"/audits/{run.pk}/findings/{finding.pk}/",
        "compare": f"/audits/{run.pk}/compare",
        "replay-page": f"/audits/{run.pk}/playback?speed=100",
        "connections": "/audits/connections/",
        "tokens": "/settings/tokens",
        "not-found": "/audits/99999/",
    }
    for name, url in pages.items():
        page.goto(url)
        assert overflow_x(page) <= 0, (name, wide_elements(page))
        assert in_view(page, "nav[aria-label=Main] a:has-text('API')"), name  # the nav wraps, nothing cut off
        shoot(page, artifacts, name, size)
    page.goto("/audits/")
    assert in_view(page, f"table.runs a[href='/audits/{run.pk}/']")  # the row's link, on screen
    assert in_view(page, "table.runs .status")
    assert in_view(page, f"table.runs tr:has(a[href='/audits/{wide.pk}/']) td[data-label=Duration]")  # last column
    page.goto(f"/audits/{run.pk}/")
    # Each severity tile's label reads whole on one line ("Critical", never "Critica/l").
    labels = page.eval_on_selector_all(
        ".stat-grid .stat dt",
        """ds => ds.map(d => ({text: d.textContent.trim(),
                              lines: Math.round(d.getBoundingClientRect().height
                                                / parseFloat(getComputedStyle(d).lineHeight)),
                              clipped: d.scrollWidth > d.clientWidth}))""",
    )
    assert [x["text"] for x in labels] == ["Critical", "High", "Medium", "Low", "Info"]
    assert all(x["lines"] == 1 and not x["clipped"] for x in labels), labels
    assert in_view(page, ".controls-table td.status-cell .pill")
    status = page.query_selector(".controls-table td.status-cell .pill")
    box = status.bounding_box()
    assert box["x"] + box["width"] <= SIZES[size]["width"]  # the compliance Status column is on screen
    assert in_view(page, "#findings a.finding-link")


def test_it_shows_progress_and_counters_above_the_fold_on_a_phone(server, slow_worker, alice, open_page, artifacts):
    page = open_page(server, alice, **SIZES["phone"])
    page.goto("/audits/new")
    page.check("input[name=source][value=demo]")
    page.click("button:has-text('Start audit')")
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event').length >= 15")
    for selector in ("#progress", "#stat-critical", "#stat-info", "#run-status"):
        box = page.locator(selector).bounding_box()
        assert box["y"] + box["height"] <= 844, selector
    assert page.text_content("#run-account").strip() == "123456789012"  # filled in once the worker started
    shoot(page, artifacts, "live", "phone", full=False)
    # Announcements are summaries: far fewer than the rows that arrived.
    page.evaluate("""() => { window.announced = 0; new MutationObserver(() => window.announced++)
        .observe(document.getElementById('announcer'), {childList: true, characterData: true, subtree: true}); }""")
    before = page.locator("#timeline > li.event").count()
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event').length >= 80", timeout=60_000)
    arrived = page.locator("#timeline > li.event").count() - before
    assert page.evaluate("window.announced") <= arrived // 10
    page.wait_for_selector("section#results .gauge", timeout=90_000)
    assert page.text_content("#stats-title") == "Findings"
    assert "Audit complete" in page.text_content("#announcer")


def test_it_groups_filters_and_searches_the_timeline_and_loads_earlier_events(
    server, alice, open_page, artifacts, fast_demo
):
    run = demo_run(alice)
    page = open_page(server, alice, **SIZES["desktop"])
    page.goto(f"/audits/{run.pk}/")
    rows = page.eval_on_selector_all("#timeline > li.event", "rs => rs.map(r => [r.className, r.dataset.principal])")
    # Each finding sits under the principal line of the same principal, which comes before it.
    head = None
    for classes, principal in rows:
        if "ev-principal" in classes:
            head = principal
        elif "ev-finding" in classes and head is not None:
            assert principal == head
    # Only the tail was rendered (200, reaching back to keep a principal's findings with it).
    assert 200 <= page.locator("#timeline > li.event[data-seq]").count() < run.last_seq
    page.click("#timeline .load-earlier a")
    count = "document.querySelectorAll('#timeline > li.event[data-seq]').length"
    page.wait_for_function(f"() => {count} === {run.last_seq}")
    assert page.locator("#timeline .load-earlier").count() == 0
    page.select_option("#tl-sev", "critical")
    page.wait_for_function("() => / shown of \\d+$/.test(document.getElementById('tl-shown').textContent)")
    visible = page.eval_on_selector_all("#timeline > li.event:not([hidden])", "rs => rs.map(r => r.className)")
    assert visible and all("sev-critical" in c for c in visible)
    shoot(page, artifacts, "timeline-critical", "desktop", full=False)
    page.select_option("#tl-sev", "")
    page.select_option("#tl-type", "principal")
    page.fill("#tl-q", "terraform")
    page.wait_for_function("() => document.getElementById('tl-shown').textContent === '1 shown of 1'")
    visible = page.eval_on_selector_all(
        "#timeline > li.event:not([hidden]) .message", "rs => rs.map(r => r.textContent)"
    )
    # One principal line: terraform's (its position and counts are the engine's).
    assert len(visible) == 1 and visible[0].startswith("Analyzing user 'terraform' (") and "found" in visible[0]
    phone = open_page(server, alice, **SIZES["phone"])
    phone.goto(f"/audits/{run.pk}/")
    shoot(phone, artifacts, "timeline", "phone", full=False)


@pytest.mark.parametrize("size", SIZES)
def test_it_sorts_groups_and_pages_findings_with_a_closable_panel(server, alice, open_page, artifacts, fast_demo, size):
    run = demo_run(alice)
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/#findings")
    assert page.locator("#findings tbody tr:not(.group-row)").count() == 50
    page.select_option("select[name=per]", "100")
    page.wait_for_function("() => document.querySelectorAll('#findings tbody tr:not(.group-row)').length === 100")
    page.select_option("select[name=group]", "principal")
    page.wait_for_selector("#findings tr.group-row")
    assert "group=principal" in page.url
    page.select_option("select[name=group]", "")
    page.wait_for_selector("#findings tr.group-row", state="detached")
    page.select_option("select[name=sort]", "title")
    page.wait_for_function("() => new URL(location).searchParams.get('sort') === 'title'")
    shown = page.eval_on_selector_all("#findings a.finding-link", "as => as.map(a => a.textContent)")
    assert shown == sorted(shown)
    if size == "desktop":
        page.click("#findings th a.sort:has-text('Principal')")
        page.wait_for_function("() => new URL(location).searchParams.get('sort') === 'principal'")
        assert "sort=-principal" in page.get_attribute("#findings th[aria-sort=ascending] a", "href")
    assert "Admin access" in page.text_content("#findings")  # words, not admin_access
    page.click("#findings a.finding-link >> nth=0")
    page.wait_for_selector("#finding-panel article")
    shoot(page, artifacts, "finding-panel", size, full=False)
    page.click("#finding-panel [data-close-panel]")
    page.wait_for_selector("#finding-panel article", state="detached")
    # Escape closes the panel too, and the keyboard lands back on the finding that opened it.
    page.click("#findings a.finding-link >> nth=1")
    page.wait_for_selector("#finding-panel article:focus")
    page.keyboard.press("Escape")
    page.wait_for_selector("#finding-panel article", state="detached")
    assert page.evaluate("() => document.activeElement.classList.contains('finding-link')")
    # An escalation through one other principal: its path reads as the two principals, hop by hop.
    escalation = next(
        f
        for f in Finding.objects.filter(run=run, check_id="principal_privilege_escalation")
        if len(f.evidence.get("path") or []) == 1 and f.evidence["path"][0]["from"] != f.evidence["path"][0]["to"]
    )
    page.goto(f"/audits/{run.pk}/findings/{escalation.pk}/")
    assert page.locator("h3:has-text('Escalation path')").count() == 1
    assert page.locator(".hops li").count() == 2
    assert "Sid #" not in page.text_content("main") and "statement 1" in page.text_content("main")
    shoot(page, artifacts, "finding-path", size)
    shoot(page, artifacts, "finding-methods", size)


@pytest.mark.parametrize("size", SIZES)
def test_it_compares_with_a_run_chosen_from_a_select(server, alice, open_page, artifacts, size):
    old = make_completed_run(
        alice, [make_finding("kept"), make_finding("fixed", severity="critical")], account_id="999988887777"
    )
    run = make_completed_run(
        alice, [make_finding("kept"), make_finding("fresh", severity="low"), make_finding("worse", severity="critical")]
    )
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/compare")
    page.select_option("#compare-with", str(old.pk))
    page.click("button:has-text('Compare')")
    page.wait_for_url(re.compile(rf"with={old.pk}"))
    new = page.eval_on_selector_all("#c-new ~ ul li a", "as => as.map(a => a.textContent)")
    assert new == ["Finding worse", "Finding fresh"]  # worst first
    assert page.locator("details.unchanged").get_attribute("open") is None
    assert not page.is_visible("details.unchanged li")
    shoot(page, artifacts, "compare", size)


@pytest.mark.parametrize("size", SIZES)
def test_it_shows_failed_cancelled_and_interrupted_runs_apart_with_retry(server, alice, open_page, artifacts, size):
    page = open_page(server, alice, **SIZES[size])
    looks = {}
    for status in ("failed", "cancelled", "interrupted"):
        run = ended_run(alice, status)
        page.goto(f"/audits/{run.pk}/")
        banner = page.locator("#state-banner")
        assert banner.is_visible() and banner.get_attribute("data-state") == status
        assert page.is_visible("[data-control=retry] button")
        looks[status] = page.eval_on_selector(
            "#run-status", "e => getComputedStyle(e).backgroundColor + getComputedStyle(e, '::before').content"
        )
        bar = page.eval_on_selector("#progress", "p => getComputedStyle(p, '::-webkit-progress-value').backgroundImage")
        assert "linear-gradient(90deg" not in bar  # not the normal bar
        shoot(page, artifacts, f"state-{status}", size, full=False)
    assert len(set(looks.values())) == 3
    page.click("[data-control=retry] button")
    page.wait_for_url(re.compile(r"/audits/\d+/$"))
    retry = AuditRun.objects.order_by("-pk").first()
    assert retry.retry_of.status == "interrupted" and f"/audits/{retry.pk}/" in page.url
    assert f"A retry of audit #{retry.retry_of_id}" in page.text_content(".run-head")


def test_it_asks_in_a_dialog_before_cancelling(server, slow_worker, alice, open_page, artifacts):
    page = open_page(server, alice, **SIZES["desktop"])
    page.goto("/audits/new")
    page.check("input[name=source][value=demo]")
    page.click("button:has-text('Start audit')")
    page.wait_for_selector("#conn[data-state=live]")
    page.click("#cancel-open")
    assert page.is_visible("#cancel-dialog")
    shoot(page, artifacts, "cancel-dialog", "desktop", full=False)
    # The safe choice has the focus: Enter keeps the audit running and gives the focus back to Cancel…, so a
    # second Enter only opens the question again.
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Keep it running"
    page.keyboard.press("Enter")
    page.wait_for_selector("#cancel-dialog", state="hidden")
    page.keyboard.press("Enter")
    page.wait_for_selector("#cancel-dialog", state="visible")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Keep it running"
    page.click("#cancel-dialog button:has-text('Keep it running')")
    assert not page.is_visible("#cancel-dialog")
    assert page.text_content("#run-status") == "Running"
    page.click("#cancel-open")
    page.click("#cancel-dialog button:has-text('Yes, cancel')")
    page.wait_for_selector("#state-banner[data-state=cancelled]:not([hidden])", timeout=30_000)
    assert page.text_content("#run-status") == "Cancelled"
    assert page.is_visible("[data-control=retry] button") and page.is_hidden("#cancel-open")
    shoot(page, artifacts, "cancelled-live", "desktop", full=False)


@pytest.mark.parametrize("size", SIZES)
def test_it_replays_with_pause_seek_and_restart_and_refuses_bad_speeds(
    server, alice, open_page, artifacts, fast_demo, size
):
    run = demo_run(alice, frameworks=())
    spread_over_time(run, every_ms=100)  # recorded unpaced it lasts a blink; at speed 1 it must last to be paused
    page = open_page(server, alice, **SIZES[size])
    for bad in ("1000", "abc"):
        response = page.goto(f"/audits/{run.pk}/playback?speed={bad}")
        assert response.status == 400 and "from 0.25 to 100" in page.text_content("#speed-error")
    shoot(page, artifacts, "replay-bad-speed", size, full=False)
    page.goto(f"/audits/{run.pk}/playback?speed=1")
    page.wait_for_selector("#timeline > li.event")
    page.click("#replay-pause")
    assert page.text_content("#replay-pause") == "Play"
    shown = page.locator("#timeline > li.event[data-seq]").count()
    page.wait_for_timeout(1500)
    assert page.locator("#timeline > li.event[data-seq]").count() == shown  # paused means paused
    assert run.last_seq > 240
    page.eval_on_selector("#replay-seek", "(s) => { s.value = 240; s.dispatchEvent(new Event('change')); }")
    page.wait_for_function("() => Number(document.getElementById('run').dataset.lastSeq) >= 240")
    seqs = page.eval_on_selector_all("#timeline > li.event[data-seq]", "rs => rs.map(r => Number(r.dataset.seq))")
    assert 240 in seqs and 1 not in seqs  # the tail before the seek point came from the server
    assert int(page.text_content("#stat-critical")) > 0
    shoot(page, artifacts, "replay-seek", size, full=False)
    page.goto(f"/audits/{run.pk}/playback?speed=100")
    page.wait_for_selector("#timeline > li.ev-complete", timeout=60_000)
    assert page.text_content("#replay-restart") == "Replay again"
    assert page.text_content("#run-status") == "Replay finished"
    shoot(page, artifacts, "replay-finished", size, full=False)
    page.eval_on_selector_all("#timeline > li", "rs => rs.forEach(r => r.dataset.old = '1')")
    page.click("#replay-restart")
    page.wait_for_selector("#timeline > li.ev-start:not([data-old])")  # played again from the first event
    assert page.locator("#timeline > li[data-old]").count() == 0


@pytest.mark.parametrize("size", SIZES)
def test_it_starts_a_new_audit_with_every_framework_and_only_the_chosen_sources_fields(
    server, alice, open_page, artifacts, size
):
    page = open_page(server, alice, **SIZES[size])
    page.goto("/audits/new")
    assert page.eval_on_selector_all("input[name=frameworks]", "bs => bs.every(b => b.checked)")
    page.check("input[name=source][value=demo]")
    assert page.is_hidden("[data-source-field=snapshot]") and page.is_hidden("[data-source-field=connection]")
    shoot(page, artifacts, "new-audit-demo", size)
    page.check("input[name=source][value=connection]")
    assert page.is_visible("[data-source-field=connection]") and page.is_hidden("[data-source-field=snapshot]")
    page.check("input[name=source][value=snapshot]")
    assert page.is_visible("[data-source-field=snapshot]") and page.is_hidden("[data-source-field=connection]")
    assert "`" not in page.text_content("[data-source-field=snapshot]")
    page.set_input_files(
        "input[name=snapshot_file]", files=[{"name": "empty.json", "mimeType": "application/json", "buffer": b""}]
    )
    page.click("button:has-text('Start audit')")
    assert "The file is empty" in page.text_content("#snapshot-error")
    assert page.is_visible("[data-source-field=snapshot]")  # the error stays in sight after the post
    shoot(page, artifacts, "new-audit-empty-file", size)


def test_it_shows_bidi_controls_as_escapes_in_live_rows(server, alice, open_page):
    hostile = "admin\u202egnp.exe"
    run = make_completed_run(alice, [make_finding("evil", principal_name=hostile, title=f"Role {hostile}")])
    page = open_page(server, alice)
    page.goto(f"/audits/{run.pk}/playback?speed=100")
    page.wait_for_selector("#timeline > li.ev-complete")
    text = page.text_content("#timeline") + page.text_content("#live-findings")
    assert "\u202e" not in text and "admin\\u202egnp.exe" in text
    page.goto(f"/audits/{run.pk}/")
    assert "\u202e" not in page.text_content("main")
