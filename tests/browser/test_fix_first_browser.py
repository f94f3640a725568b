"""What to fix first, in a real browser at desktop (1440x900) and phone (390x844) size: findings grouped by principal
worst first, a hop's evidence trimmed to its granting statement, AWS managed wording, and the review page's filters,
pages and bulk accept. Screenshots go to test-artifacts/fix-first-<what>-<size>.png."""

import pytest

from audits.models import Finding, Suppression
from audits.reviewers import reviewer_group
from tests.browser.pages import SIZES, demo_run, overflow_x, wide_elements
from tests.helpers import make_user
from tests.view_helpers import make_completed_run, make_finding

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def fast_demo(settings):
    settings.AEGIS_DEMO_STEP_MS = 0


def shoot(page, artifacts, name: str, size: str) -> None:
    page.screenshot(path=artifacts / f"fix-first-{name}-{size}.png", full_page=True)


def fits(page, name: str, within: str = "") -> None:
    """Nothing sticks out to the right: of the whole page, or of the elements `within` selects."""
    if not within:
        assert overflow_x(page) <= 0, (name, wide_elements(page))
        return
    wide = page.eval_on_selector_all(
        within, "els => els.filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).map(e => e.tagName)"
    )
    assert wide == [], (name, wide)


@pytest.mark.parametrize("size", SIZES)
def test_it_shows_what_to_fix_first_on_the_run_and_finding_pages(server, alice, open_page, artifacts, fast_demo, size):
    run = demo_run(alice)
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/?group=principal#findings")
    headers = page.locator("tr.group-row th")
    first = headers.first.text_content()
    assert "worst: critical" in first and "finding" in first
    worst = [h.split("worst:")[1].strip() for h in headers.all_text_contents()]
    order = ["critical", "high", "medium", "low", "info"]
    assert [order.index(w) for w in worst] == sorted(order.index(w) for w in worst)
    fits(page, "grouped")
    page.locator("#findings").screenshot(path=artifacts / f"fix-first-grouped-{size}.png")

    top = page.locator("h3:has-text('Top risks') + ol li").all_text_contents()
    assert len(top) == len(set(top))

    hop = Finding.objects.get(run=run, check_id="principal_privilege_escalation", principal_name="helpdesk")
    page.goto(f"/audits/{run.pk}/findings/{hop.pk}/")
    marked = page.locator("pre.statement mark")
    assert marked.first.is_visible() and "iam:CreateAccessKey" in marked.first.text_content()
    granting = page.locator("pre.statement").all_text_contents()
    assert not any("access-analyzer" in code for code in granting)
    others = page.locator("details.other-statements")
    assert others.is_visible() and not page.locator("details.other-statements ul").is_visible()
    # The evidence parts of the page; "How to fix it" below them is laid out by the fix plan's own tests.
    fits(page, "hop", within=".finding-detail > :not(section.fix), .finding-detail pre.statement *")
    shoot(page, artifacts, "hop-evidence", size)

    conditioned = Finding.objects.get(run=run, check_id="principal_privilege_escalation", principal_name="bob.dev")
    page.goto(f"/audits/{run.pk}/findings/{conditioned.pk}/")
    assert page.text_content("ul.conditions li") == "Only when aws:MultiFactorAuthPresent is true"
    assert "negated" not in page.text_content("main") and '"operator"' not in page.text_content("main")
    fits(page, "conditions", within=".finding-detail > :not(section.fix), .finding-detail pre.statement *")
    shoot(page, artifacts, "conditions", size)

    managed = Finding.objects.filter(run=run, check_id="policy_data_exfiltration", policy__contains=":aws:policy/")
    page.goto(f"/audits/{run.pk}/findings/{managed.first().pk}/")
    summary = page.text_content(".fix-summary")
    assert summary.startswith("AWS manages this policy: detach it from") and "narrow" not in summary
    fits(page, "managed")
    shoot(page, artifacts, "aws-managed", size)
    assert page.errors == []


@pytest.mark.parametrize("size", SIZES)
def test_it_filters_pages_and_accepts_many_risks_at_once(server, alice, open_page, artifacts, size):
    rita = make_user("rita")
    rita.groups.add(reviewer_group())
    findings = [make_finding(f"crit{i}", severity="critical", principal_name=f"ops-{i}") for i in range(15)]
    findings += [
        make_finding(f"low{i}", severity="low", check_id="access_key_unused", principal_name=f"ci-deploy-key-{i}")
        for i in range(120)
    ]
    run = make_completed_run(alice, findings)
    page = open_page(server, rita, **SIZES[size])
    page.goto(f"/audits/review/{run.pk}/")
    assert page.locator(".review-row").count() == 50
    assert "Showing 1 to 50 of 135." in page.text_content("#findings-range")
    fits(page, "review")
    shoot(page, artifacts, "review-page", size)

    # Filter to the CI keys, tick two on this page, accept them with one justification.
    page.select_option("#rf-check", "access_key_unused")
    page.click("text=Filter")
    page.wait_for_selector("text=Findings (120 matching of 135)")
    picks = page.locator(".review-row input.pick")
    picks.nth(0).check()
    picks.nth(1).check()
    page.fill("#bulk-justification", "CI deploy keys, rotated by the vault every week.")
    page.click("text=Accept the selected risks")
    page.wait_for_selector("text=2 risks accepted until")
    assert Suppression.objects.count() == 2
    assert page.locator("#rf-check").input_value() == "access_key_unused"  # back where the reviewer was

    # Then all the rest that match, on every page, in one go.
    page.check("#all-matching")
    page.fill("#bulk-justification", "CI deploy keys, rotated by the vault every week.")
    page.click("text=Accept the selected risks")
    page.wait_for_selector("text=118 risks accepted until")
    assert Suppression.objects.count() == 120
    assert Finding.objects.filter(run=run, suppressed=False).count() == 15
    fits(page, "review-accepted")
    shoot(page, artifacts, "review-bulk-accepted", size)
    assert page.errors == []
