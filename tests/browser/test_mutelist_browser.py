"""The mutelist page in a real browser at desktop and phone size: reach it from the review queue, add a rule, refuse
a bad YAML file with its problems listed, import a good one, and see a muted finding on the run page.
Screenshots in test-artifacts/."""

import pytest

from audits.models import MuteRule
from tests.browser.pages import SIZES, in_view, overflow_x, wide_elements
from tests.view_helpers import make_completed_run, make_finding

pytestmark = [pytest.mark.browser, pytest.mark.server]

LONG_PATTERN = "arn:aws:iam::123456789012:role/service-role/platform/continuous-delivery/deploy-pipeline-*"
GOOD_YAML = """\
Mutelist:
  Accounts:
    "*":
      Checks:
        "*":
          - Resources: ["arn:aws:iam::*:role/aws-reserved/*"]
            Reason: "Roles managed by AWS SSO"
            Expires: "2999-01-31"
"""
BAD_YAML = GOOD_YAML.replace('Expires: "2999-01-31"', 'Expires: "2001-01-31"\n            Exceptions: {Zones: [a]}')


@pytest.mark.parametrize("size", SIZES)
def test_a_reviewer_keeps_mute_rules(server, alice, reviewer, open_page, artifacts, tmp_path, size):
    page = open_page(server, reviewer, **SIZES[size])
    page.goto("/audits/review/")
    page.click("#mutelist-link")
    page.wait_for_url("**/audits/review/mutelist/")
    assert "Audits already finished keep the result they had" in page.inner_text("#applies-note")

    page.fill("#r-owner", "alice")
    page.fill("#r-check", "iam_role_admin")
    page.fill("#r-arn", LONG_PATTERN)
    page.fill("#r-tags", "team=platform")
    page.fill("#r-except-accounts", "210987654321")
    page.fill("#r-except-tags", "env=prod")
    page.fill("#r-reason", "Deploy roles are reviewed by the platform team every quarter")
    page.click("#new-rule button[type=submit]")
    page.wait_for_url("**/audits/review/mutelist/?owner=alice")
    rule = MuteRule.objects.get()
    assert page.locator(f"#rule-{rule.pk}").count() == 1
    assert LONG_PATTERN in page.inner_text(f"#rule-{rule.pk}")
    assert rule.exceptions == {"accounts": ["210987654321"], "tags": ["env=prod"]}
    assert "accounts: 210987654321" in page.inner_text(f"#rule-{rule.pk}")
    assert in_view(page, f"#rule-{rule.pk} button.danger") or size == "phone"
    assert overflow_x(page) <= 0, wide_elements(page)
    page.screenshot(path=artifacts / f"mutelist-{size}.png", full_page=True)

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML)
    page.set_input_files("#i-file", str(bad))
    page.click("#import-rules button[type=submit]")
    errors = page.inner_text("#mutelist-errors")
    assert "Nothing was imported." in errors and "Exceptions.Zones not supported" in errors
    assert "is not in the future" in errors
    assert MuteRule.objects.count() == 1
    assert overflow_x(page) <= 0, wide_elements(page)
    page.screenshot(path=artifacts / f"mutelist-import-refused-{size}.png", full_page=True)
    # The refused import answers 400, which the browser logs as a failed load: expected, nothing else may be.
    assert page.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    page.errors.clear()

    good = tmp_path / "good.yaml"
    good.write_text(GOOD_YAML)
    page.set_input_files("#i-file", str(good))
    page.click("#import-rules button[type=submit]")
    page.wait_for_url("**/audits/review/mutelist/?owner=alice")
    assert "1 rule imported for alice" in page.inner_text(".messages")
    assert MuteRule.objects.count() == 2
    assert page.errors == []


@pytest.mark.parametrize("size", SIZES)
def test_the_run_page_names_the_rule_on_a_muted_finding(server, alice, open_page, artifacts, size):
    label = "rule #7: Deploy roles are reviewed by the platform team every quarter"
    run = make_completed_run(
        alice, [make_finding("open", severity="critical"), make_finding("muted", suppressed=True, muted_by=label)]
    )
    page = open_page(server, alice, **SIZES[size])
    page.goto(f"/audits/{run.pk}/")
    badge = page.locator("#findings .badge.suppressed")
    assert badge.count() == 1 and badge.text_content().startswith("muted by rule #7: Deploy")
    assert label in badge.get_attribute("title")
    assert overflow_x(page) <= 0, wide_elements(page)
    assert page.errors == []
    page.screenshot(path=artifacts / f"mutelist-muted-finding-{size}.png", full_page=True)
