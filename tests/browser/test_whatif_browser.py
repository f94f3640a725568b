""" "Apply this fix in a what-if", in a real browser at desktop (1440x900) and phone (390x844) size: from a finding's
page to the what-if page, which lists the finding as removed. Screenshots go to test-artifacts/whatif-<size>.png."""

import pytest

from audits.models import Finding
from tests.browser.pages import SIZES, demo_run, overflow_x, wide_elements

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def fast_demo(settings):
    settings.AEGIS_DEMO_STEP_MS = 0


@pytest.mark.parametrize("size", SIZES)
def test_it_applies_a_findings_fix_and_lists_the_finding_as_removed(
    server, alice, open_page, artifacts, fast_demo, size
):
    run = demo_run(alice)
    finding = next(f for f in Finding.objects.filter(run=run, check_id="user_admin_access") if (f.fix or {}).get("ops"))
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/")
    assert page.locator("#open-whatif").is_visible()
    assert overflow_x(page) <= 0, wide_elements(page)  # one more button in the results' actions still fits
    page.goto(f"/audits/{run.pk}/findings/{finding.pk}/")
    link = page.get_by_role("link", name="Apply this fix in a what-if")
    link.scroll_into_view_if_needed()
    link.click()
    page.wait_for_url(f"**/audits/{run.pk}/whatif?fix={finding.pk}")

    removed = page.locator(f'#whatif-removed li[data-fingerprint="{finding.fingerprint}"]')
    assert removed.is_visible() and finding.title in removed.text_content()
    assert "no longer finds" in page.text_content("#whatif-finding-verdict")
    assert page.text_content("#whatif-gate") == "Gate: pass"
    assert '"Operation"' in page.input_value("#whatif-change")  # the fix, ready to edit and try again
    assert overflow_x(page) <= 0, wide_elements(page)
    page.screenshot(path=artifacts / f"whatif-{size}.png", full_page=True)
    assert page.errors == []
