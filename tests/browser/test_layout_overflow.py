"""Nothing sticks out sideways on a phone or a desktop: Who can…? with a wide answer and a finding with long
evidence (issue #20, items 7 and 11); and the live region ends on the counts the page shows."""

import re

import pytest

from audits.models import Finding
from audits.runs import start
from tests.browser.pages import SIZES, demo_run, overflow_x, wide_elements
from tests.helpers import free_port, start_server, start_worker, stop

pytestmark = [pytest.mark.browser, pytest.mark.server]

# Each element of the page whose content is wider than its box, unless the box scrolls it on purpose (a code box).
SPILLS = """root => [...root.querySelectorAll('*')]
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1
                 && !['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX))
    .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '/' + e.clientWidth)"""


def assert_fits(page, container: str) -> None:
    assert overflow_x(page) <= 0, wide_elements(page)
    assert page.eval_on_selector(container, SPILLS) == []
    assert wide_elements(page) == []


def long_evidence_finding(run) -> Finding:
    """The finding with the most to show: the longest evidence and fix (ARNs, policies, conditions, CLI lines)."""
    findings = Finding.objects.filter(run=run).exclude(fix={})
    return max(findings, key=lambda f: len(str(f.evidence)) + len(str(f.fix)))


@pytest.mark.parametrize("size", list(SIZES))
def test_who_can_with_a_wide_answer_fits_the_screen(server, alice, open_page, artifacts, size):
    run = demo_run(alice)
    page = open_page(server, alice, **SIZES[size])
    # Every principal that may pass any role: many rows, each with a long ARN and the statements that allow it.
    page.goto(f"/audits/{run.pk}/query?action=iam:PassRole&resource=*")
    rows = page.locator("main table tbody tr")
    assert rows.count() > 10
    page.screenshot(path=artifacts / f"query-wide-{size}.png", full_page=True)
    assert_fits(page, "main")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_finding_with_long_evidence_fits_its_panel(server, alice, open_page, artifacts, size):
    run = demo_run(alice)
    finding = long_evidence_finding(run)
    assert finding.fix.get("cli")
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/findings/{finding.pk}/")
    page.screenshot(path=artifacts / f"finding-long-{size}.png", full_page=True)
    assert_fits(page, "main")


def test_the_live_region_ends_on_the_counts_shown(transactional_db, alice, open_page, artifacts):
    # A short quiet window (the default is 5 s) so the throttle's trailing edge fires many times in one run.
    port = free_port()
    web = start_server(port, {"AEGIS_ANNOUNCE_MS": "300"})
    worker = start_worker({"AEGIS_DEMO_STEP_MS": "40"})
    try:
        run = start.start_run(alice, source="demo", frameworks=["cis"])
        page = open_page(f"http://127.0.0.1:{port}", alice)
        page.goto(f"/audits/{run.pk}/")
        assert page.get_attribute("#run", "data-announce-ms") == "300"
        page.wait_for_function("() => /Findings so far/.test(document.getElementById('announcer').textContent)")
        page.wait_for_selector("section#results .gauge", timeout=120_000)
        page.wait_for_timeout(900)  # past the window: anything still pending has been said
        said = page.text_content("#announcer")
        shown = {sev: page.text_content(f"#stat-{sev}") for sev in ("critical", "high", "medium", "low", "info")}
        page.screenshot(path=artifacts / "live-region-final.png", full_page=True)
    finally:
        stop(worker)
        stop(web)
    assert said.startswith("Audit complete"), said
    counted = dict(
        (sev, n) for n, sev in re.findall(r"(\d+) (critical|high|medium|low|info)", said.split("Findings:")[-1])
    )
    assert counted == shown
    run.refresh_from_db()
    assert {sev: int(n) for sev, n in shown.items()} == run.result["audit_summary"]["by_severity"]
