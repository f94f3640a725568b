"""A run's source on the dashboard trends and the compare picker, in a real browser at desktop and phone size.

The demo and an upload of a sample both name account 123456789012: each gets its own trend, and the picker
says which input each audit read. Screenshots in test-artifacts/."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import AuditRun
from tests.browser.pages import SIZES, in_view, overflow_x, wide_elements
from tests.view_helpers import make_completed_run, make_finding

pytestmark = [pytest.mark.browser, pytest.mark.server]

ACCOUNT = "123456789012"
DIGEST = "9f2c" + "0" * 60
FILE = "organization-bundle-export-2026-12.json"


def completed(owner, key: str, source: str, score: int, days_ago: int, **fields) -> AuditRun:
    run = make_completed_run(
        owner,
        [make_finding(f"{source}-{days_ago}")],
        account_id=ACCOUNT,
        risk_score=score,
        created=timezone.now() - timedelta(days=days_ago),
    )
    AuditRun.objects.filter(pk=run.pk).update(source=source, source_key=key, **fields)
    return run


def two_sources(owner) -> tuple[AuditRun, AuditRun]:
    """Two demo audits and two uploads of one file, all of account 123456789012; returns the uploads."""
    completed(owner, "demo", "demo", 70, 4)
    completed(owner, "demo", "demo", 60, 2)
    first = completed(owner, f"upload:{DIGEST}", "snapshot", 30, 3, snapshot_name=FILE)
    latest = completed(owner, f"upload:{DIGEST}", "snapshot", 45, 1, snapshot_name=FILE)
    return first, latest


@pytest.mark.parametrize("size", SIZES)
def test_it_draws_one_trend_per_source(server, alice, open_page, artifacts, size):
    two_sources(alice)
    page = open_page(server, alice, **SIZES[size])
    page.goto("/audits/")
    assert page.inner_text("#trends-title") == "Risk score by source"
    demo = page.locator("figure.trend[data-source='demo']")
    upload = page.locator(f"figure.trend[data-source='upload:{DIGEST}']")
    assert page.locator("figure.trend").count() == 2
    assert demo.locator(".trend-source").inner_text() == "Demo account"
    assert upload.locator(".trend-source").inner_text() == f"{FILE} · sha256 {DIGEST[:12]}"
    for trend in (demo, upload):
        assert trend.locator(".account").inner_text() == ACCOUNT
        assert trend.locator("circle.dot").count() == 2
    # Each line moves with its own source: the demo fell by 10, the upload rose by 15.
    assert "-10 over 2 audits" in demo.inner_text()
    assert "+15 over 2 audits" in upload.inner_text()
    assert in_view(page, f"figure.trend[data-source='upload:{DIGEST}'] .trend-source") or size == "phone"
    assert overflow_x(page) <= 0, wide_elements(page)
    assert page.errors == []
    page.screenshot(path=artifacts / f"run-source-trends-{size}.png", full_page=True)


@pytest.mark.parametrize("size", SIZES)
def test_the_compare_picker_shows_each_runs_source(server, alice, open_page, artifacts, size):
    first, latest = two_sources(alice)
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{latest.pk}/compare")
    options = page.locator("#compare-with option").all_inner_texts()
    assert len(options) == 3
    assert sum("Demo account · account 123456789012" in text for text in options) == 2
    assert any(f"#{first.pk} · {FILE} · sha256 {DIGEST[:12]}" in text for text in options)
    # The previous audit of the same source is chosen, not the newer demo audit of the same account id.
    assert page.eval_on_selector("#compare-with", "el => el.value") == str(first.pk)
    lead = page.inner_text("p.lead")
    assert f"audit #{first.pk} of {FILE}" in lead and "different" not in lead
    assert overflow_x(page) <= 0, wide_elements(page)
    assert in_view(page, "#compare-with")
    page.screenshot(path=artifacts / f"run-source-compare-{size}.png", full_page=True)

    demo_pk = next(int(t.split(" ")[0].lstrip("#")) for t in options if "Demo account" in t)
    page.select_option("#compare-with", str(demo_pk))
    page.click(".compare-pick button[type=submit]")
    page.wait_for_url(f"**/compare?with={demo_pk}")
    assert "a different source" in page.inner_text("p.lead")
    assert overflow_x(page) <= 0, wide_elements(page)
    assert page.errors == []
    page.screenshot(path=artifacts / f"run-source-compare-other-source-{size}.png", full_page=True)
