"""Browser checks of the reviewer's portal pages at desktop and phone size: tokens, connections, fixes, review."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import ApiToken, AwsConnection, Finding, Suppression
from audits.reviewers import reviewer_group
from tests.helpers import free_port, make_user, start_server, stop
from tests.view_helpers import make_completed_run, make_finding

PHONE = {"width": 390, "height": 844}
WORKER = "arn:aws:iam::999999999999:role/aegis-worker"


@pytest.fixture
def portal(transactional_db):
    """A uvicorn whose Aegis principal is configured, so connection pages show a trust policy."""
    port = free_port()
    proc = start_server(port, {"AEGIS_AWS_PRINCIPAL_ARN": WORKER})
    yield f"http://127.0.0.1:{port}"
    stop(proc)


def test_it_creates_a_token_once_and_copies_it(portal, alice, open_page, artifacts):
    page = open_page(portal, alice)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal)
    page.goto("/settings/tokens")
    page.fill("#token-name", "ci")
    page.check("input[name=scope][value=write]")
    page.select_option("#token-expires", "30")
    page.click("text=Create token")
    secret = page.text_content("#new-token").strip()
    assert secret.startswith("aeg_")
    page.click("text=Copy token")
    page.wait_for_selector("text=Copied")
    assert page.evaluate("navigator.clipboard.readText()").strip() == secret
    page.screenshot(path=artifacts / "tokens-created.png", full_page=True)
    page.reload()
    assert page.locator("#new-token").count() == 0
    assert ApiToken.objects.filter(user=alice).count() == 1
    phone = open_page(portal, alice, **PHONE)
    phone.goto("/settings/tokens")
    phone.screenshot(path=artifacts / "tokens-phone.png", full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    assert page.errors == [] and phone.errors == []


def test_it_shows_the_trust_policy_with_copy_buttons(portal, alice, open_page, artifacts):
    connection = AwsConnection.objects.create(owner=alice, name="prod", role_arn="arn:aws:iam::123456789012:role/A")
    page = open_page(portal, alice)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal)
    page.goto(f"/audits/connections/{connection.pk}/")
    assert WORKER in page.text_content("#trust-policy")
    page.click("text=Copy trust policy")
    page.wait_for_selector("text=Copied")
    assert connection.external_id in page.evaluate("navigator.clipboard.readText()")
    page.screenshot(path=artifacts / "connection-trust-policy.png", full_page=True)
    phone = open_page(portal, alice, **PHONE)
    phone.goto(f"/audits/connections/{connection.pk}/")
    phone.screenshot(path=artifacts / "connection-phone.png", full_page=True)
    assert page.errors == [] and phone.errors == []


def test_it_reviews_and_accepts_a_risk_refusing_a_past_expiry(portal, alice, open_page, artifacts):
    rita = make_user("rita")
    rita.groups.add(reviewer_group())
    run = make_completed_run(alice, [make_finding("a", severity="critical"), make_finding("b")])
    finding = Finding.objects.get(run=run, fingerprint="a")
    page = open_page(portal, rita)
    page.goto("/audits/review/")
    page.screenshot(path=artifacts / "review-queue.png", full_page=True)
    page.click(f"text=Audit #{run.pk}")
    page.check("input[name=review_state][value=follow_up]")
    page.fill("#review-notes", "Ask the owner about the admin role.")
    page.click("text=Save review")
    page.wait_for_selector("text=marked needs follow-up")
    page.click(f"#f-{finding.pk} summary")
    page.fill(f"#just-{finding.pk}", "Break-glass role, monitored.")
    # The date input's min stops a browser user; the server must refuse a past date on its own as well.
    page.evaluate(f"document.getElementById('exp-{finding.pk}').removeAttribute('min')")
    page.fill(f"#exp-{finding.pk}", "2020-01-01")
    page.click(f"#f-{finding.pk} button[type=submit]")
    page.wait_for_selector("text=is not in the future")
    page.screenshot(path=artifacts / "review-expired-refused.png", full_page=True)
    assert not Suppression.objects.exists()
    page.click(f"#f-{finding.pk} summary")
    page.fill(f"#just-{finding.pk}", "Break-glass role, monitored.")
    page.fill(f"#exp-{finding.pk}", (timezone.now() + timedelta(days=30)).date().isoformat())
    page.click(f"#f-{finding.pk} button[type=submit]")
    page.wait_for_selector("text=Risk accepted until")
    assert Suppression.objects.get().owner == alice
    page.screenshot(path=artifacts / "review-accepted.png", full_page=True)
    phone = open_page(portal, rita, **PHONE)
    phone.goto(f"/audits/review/{run.pk}/")
    phone.screenshot(path=artifacts / "review-phone.png", full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    assert page.errors == [] and phone.errors == []
