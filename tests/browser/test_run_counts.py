"""The run page's counters, timeline search and replay controls in a real browser, at desktop and phone size.

Counters: pages opened at many moments of a real worker's run agree with the stored findings, mid-run and at the
end, with an accepted risk in the run. Search: matches come from the whole run, not the loaded rows. Replay:
slower than real time, speed changed in place, seeking while paused stays paused. Screenshots go to
test-artifacts/ (<what>-<size>.png)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits import timeline
from audits.models import AuditEvent, AuditRun, Finding, Suppression
from audits.runs import start
from tests.browser.pages import SIZES, demo_run, overflow_x

pytestmark = [pytest.mark.browser, pytest.mark.server]

ROWS = "#timeline > li.event[data-seq]"
# Read in one go, so no stream event lands between the seq and the counters.
TILES_AT = """() => ({
    seq: Number(document.getElementById('run').dataset.lastSeq),
    tiles: Object.fromEntries(['critical', 'high', 'medium', 'low', 'info'].map(
        s => [s, Number(document.getElementById('stat-' + s).textContent)])),
})"""


@pytest.fixture
def fast_demo(settings):
    settings.AEGIS_DEMO_STEP_MS = 0  # the in-process runs; the worker keeps its own pace


def shoot(page, artifacts, name: str, size: str) -> None:
    page.screenshot(path=artifacts / f"{name}-{size}.png", full_page=False)


def accept_worst_risk(run: AuditRun) -> Finding:
    worst = Finding.objects.filter(run=run, severity="critical").order_by("seq").first()
    Suppression.objects.create(
        owner=run.owner, run=run, account_id=run.account_id, fingerprint=worst.fingerprint, check_id=worst.check_id,
        justification="Break-glass admin", created_by=run.owner, expires_at=timezone.now() + timedelta(days=30),
    )  # fmt: skip
    return worst


def test_counters_opened_at_any_moment_of_a_run_agree_with_the_stored_findings(
    server, slow_worker, alice, open_page, artifacts, fast_demo
):
    accepted = accept_worst_risk(demo_run(alice, frameworks=()))
    run = start.start_run(alice, source="demo", frameworks=[])
    pages, mid_run = [], []
    sizes = list(SIZES)
    while len(pages) < 10:
        run.refresh_from_db()
        if run.is_finished:
            break
        size = sizes[len(pages) % 2]
        page = open_page(server, alice, **SIZES[size])
        page.goto(f"/audits/{run.pk}/")
        first = page.evaluate(TILES_AT)
        pages.append((page, size, first["seq"]))
        if len(pages) == 1:
            # Filtered while the run goes on: matches stored so far from the server, new ones as they arrive.
            page.select_option("#tl-type", "finding")
        if page.evaluate("document.getElementById('run').dataset.status") not in AuditRun.FINISHED:
            # Some events later, mid-run: the counters are the stored findings up to the last row shown.
            page.wait_for_function(
                f"() => Number(document.getElementById('run').dataset.lastSeq) > {first['seq'] + 5}"
                " || document.getElementById('conn').dataset.state === 'finished'"
            )
            moment = page.evaluate(TILES_AT)
            mid_run.append((moment, size))
    assert len(mid_run) >= 3, "the run ended before the pages could watch it"
    for page, _, _ in pages:
        page.wait_for_selector("section#results .gauge", timeout=90_000)
    run.refresh_from_db()
    assert run.status == AuditRun.Status.COMPLETED
    assert Finding.objects.get(run=run, fingerprint=accepted.fingerprint).suppressed  # the accepted risk came live
    for moment, size in mid_run:
        assert moment["tiles"] == timeline.severity_counts(run, through=moment["seq"]), size
    stored = timeline.severity_counts(run)
    assert stored == run.result["audit_summary"]["by_severity"]
    for page, size, opened_at in pages:
        assert page.evaluate(TILES_AT)["tiles"] == stored, (size, opened_at)
    findings = AuditEvent.objects.filter(run=run, type="finding").count()
    watcher = pages[0][0]
    watcher.wait_for_function(
        f"() => document.getElementById('tl-shown').textContent === '{findings} shown of {findings}'"
    )
    watcher.select_option("#tl-type", "")
    watcher.wait_for_function("() => document.getElementById('tl-shown').textContent === ''")
    assert sorted(shown_seqs(watcher)) == list(range(1, run.last_seq + 1))
    page, size, _ = pages[-1]
    page.reload()
    assert page.evaluate(TILES_AT)["tiles"] == stored
    shoot(page, artifacts, "counts-after-run", size)
    assert not page.errors, page.errors


@pytest.mark.parametrize("size", SIZES)
def test_filters_and_search_reach_events_before_the_loaded_tail(server, alice, open_page, artifacts, fast_demo, size):
    run = demo_run(alice, frameworks=())
    events = AuditEvent.objects.filter(run=run)
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/")
    loaded = set(page.eval_on_selector_all(ROWS, "rs => rs.map(r => Number(r.dataset.seq))"))
    assert len(loaded) < run.last_seq
    # The first principal analysed: its line is long before the rendered tail.
    first = events.filter(type="principal").order_by("seq").first()
    assert first.seq not in loaded
    name = first.payload["principal"]["name"]
    named = events.filter(message__icontains=name).count()
    page.fill("#tl-q", name)
    page.wait_for_function(
        f"() => document.getElementById('tl-shown').textContent === '{named} shown of {named}'", timeout=10_000
    )
    assert page.locator(f"{ROWS}[data-seq='{first.seq}']").count() == 1
    messages = page.eval_on_selector_all(f"{ROWS} .message", "rs => rs.map(r => r.textContent.toLowerCase())")
    assert messages and all(name.lower() in m for m in messages)
    shoot(page, artifacts, "timeline-search", size)

    page.fill("#tl-q", "")
    critical = events.filter(type="finding", severity="critical").count()
    page.select_option("#tl-sev", "critical")
    page.wait_for_function(
        f"() => document.getElementById('tl-shown').textContent === '{critical} shown of {critical}'", timeout=10_000
    )
    classes = page.eval_on_selector_all(ROWS, "rs => rs.map(r => r.className)")
    assert len(classes) == critical and all("sev-critical" in c for c in classes)
    assert overflow_x(page) == 0
    shoot(page, artifacts, "timeline-filter-critical", size)

    page.select_option("#tl-sev", "")  # cleared: the followed timeline comes back as it was
    page.wait_for_function("() => document.getElementById('tl-shown').textContent === ''")
    assert set(page.eval_on_selector_all(ROWS, "rs => rs.map(r => Number(r.dataset.seq))")) == loaded
    assert not page.errors, page.errors


def spread_over_time(run: AuditRun, every_ms: int) -> None:
    """Re-date a run's events as if they were recorded every_ms apart (the replay's pace follows them)."""
    events = list(AuditEvent.objects.filter(run=run).order_by("seq"))
    for index, event in enumerate(events):
        event.created = events[0].created + timedelta(milliseconds=every_ms * index)
    AuditEvent.objects.bulk_update(events, ["created"], batch_size=500)


def shown_seqs(page) -> list[int]:
    return page.eval_on_selector_all(ROWS, "rs => rs.map(r => Number(r.dataset.seq))")


@pytest.mark.parametrize("size", SIZES)
def test_a_replay_plays_slowly_changes_speed_in_place_and_seeks_while_paused(
    server, alice, open_page, artifacts, fast_demo, size
):
    run = demo_run(alice, frameworks=())
    spread_over_time(run, every_ms=40)  # 0.5x: 80 ms an event
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/playback?speed=0.5")
    assert page.text_content(".speeds [aria-current=true]") == "0.5\N{MULTIPLICATION SIGN}"
    page.wait_for_function("() => document.querySelectorAll('#timeline > li.event[data-seq]').length >= 3")
    page.evaluate("() => { window.samePage = true; }")
    page.eval_on_selector_all(ROWS, "rs => rs.forEach(r => r.dataset.old = '1')")
    before = max(shown_seqs(page))

    page.click(".speeds a[data-speed='4']")
    assert page.url.endswith(f"/audits/{run.pk}/playback?speed=4")
    assert page.text_content(".speeds [aria-current=true]") == "4\N{MULTIPLICATION SIGN}"
    page.wait_for_function(f"() => Number(document.getElementById('run').dataset.lastSeq) > {before + 10}")
    assert page.evaluate("() => window.samePage === true")  # no reload
    assert page.locator(f"{ROWS}[data-seq='1'][data-old]").count() == 1  # not restarted from event 0
    seqs = shown_seqs(page)
    assert sorted(seqs) == list(range(1, max(seqs) + 1))  # no gap, no duplicate
    assert overflow_x(page) == 0
    shoot(page, artifacts, "replay-speed", size)

    page.click("#replay-pause")
    assert page.text_content("#replay-pause") == "Play"
    target = run.last_seq // 2
    page.eval_on_selector("#replay-seek", f"(s) => {{ s.value = {target}; s.dispatchEvent(new Event('change')); }}")
    page.wait_for_function(f"() => document.querySelector('#timeline > li.event[data-seq=\"{target}\"]') !== null")
    page.wait_for_timeout(1000)
    assert max(shown_seqs(page)) == target  # the rows up to the seek point, and still paused
    assert page.text_content("#replay-pause") == "Play"
    assert page.get_attribute("#conn", "data-state") == "paused"
    assert page.text_content("#seek-value") == str(target)
    critical = Finding.objects.filter(run=run, severity="critical", seq__lte=target, suppressed=False).count()
    assert int(page.text_content("#stat-critical")) == critical
    shoot(page, artifacts, "replay-seek-paused", size)

    page.click("#replay-pause")  # Play goes on from the seek point
    page.wait_for_function(f"() => Number(document.getElementById('run').dataset.lastSeq) > {target + 3}")
    seqs = shown_seqs(page)
    assert len(seqs) == len(set(seqs)) and target in seqs
    assert not page.errors, page.errors
