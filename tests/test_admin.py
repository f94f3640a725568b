"""Admin review of past audits."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits.models import ApiToken, AuditEvent, AuditRun, Finding
from audits.runs.inputs import store_input
from audits.runs.recorder import Recorder
from tests.helpers import make_finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root-reviewer", password="pw-for-tests-123")
    client.force_login(user)
    client.user = user
    return client


def _finding(fingerprint: str, arn: str) -> dict:
    return {"check_id": "iam_admin", "category": "admin_access", "severity": "critical", "title": "Admin on <b>x</b>",
            "principal_arn": arn, "fingerprint": fingerprint}  # fmt: skip


def test_it_lists_filters_and_searches_runs(admin_client, alice):
    run = make_finished_run(alice, count=2)
    AuditRun.objects.filter(pk=run.pk).update(risk_score=80, frameworks=["pci_dss"], account_id="123456789012")
    other = make_finished_run(alice, count=2)
    AuditRun.objects.filter(pk=other.pk).update(risk_score=10, frameworks=["hipaa"])
    Recorder(run.pk).emit("finding", "f", 100, {"finding": _finding("a" * 64, "arn:aws:iam::123456789012:role/Ops")})

    def listed(query: str) -> set[int]:
        response = admin_client.get(f"/admin/audits/auditrun/{query}")
        assert response.status_code == 200
        return {r.pk for r in response.context["cl"].result_list}

    assert listed("") == {run.pk, other.pk}
    assert listed("?risk=critical") == {run.pk}
    assert listed("?framework=pci_dss") == {run.pk}
    assert listed("?framework=hipaa") == {other.pk}
    assert listed("?q=role/Ops") == {run.pk}
    assert listed("?q=123456789012") == {run.pk}
    assert listed("?review_state__exact=unreviewed") == {run.pk, other.pk}


def test_it_shows_events_and_findings_read_only_and_escaped(admin_client, alice):
    run = make_finished_run(alice, count=3)
    Recorder(run.pk).emit("finding", "<script>alert(1)</script>", 100, {"finding": _finding("b" * 64, "arn:x")})
    page = admin_client.get(f"/admin/audits/auditrun/{run.pk}/change/").text
    assert f'href="/admin/audits/finding/?run={run.pk}">1 findings' in page
    assert f'href="/admin/audits/auditevent/?run={run.pk}">4 events' in page
    events = admin_client.get(f"/admin/audits/auditevent/?run={run.pk}")
    assert events.status_code == 200 and len(events.context["cl"].result_list) == 4
    assert "<script>alert(1)</script>" not in events.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in events.text
    findings = admin_client.get(f"/admin/audits/finding/?run={run.pk}").text
    assert "Admin on &lt;b&gt;x&lt;/b&gt;" in findings
    assert "Suppress…" in findings and "account_id=" in findings


def test_it_records_who_reviewed_with_an_action(admin_client, alice):
    run = make_finished_run(alice, count=2)
    response = admin_client.post(
        "/admin/audits/auditrun/", {"action": "mark_follow_up", "_selected_action": [run.pk]}, follow=True
    )
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.review_state == AuditRun.Review.FOLLOW_UP
    assert run.reviewer == admin_client.user
    assert run.reviewed_at is not None


def test_it_keeps_the_event_log_read_only(admin_client, alice):
    run = make_finished_run(alice, count=2)
    event = run.events.first()
    response = admin_client.post(f"/admin/audits/auditevent/{event.pk}/change/", {"message": "rewritten"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.message != "rewritten"


def _big_run(owner, findings: int = 1000) -> AuditRun:
    """A finished run with a 2 MB input and `findings` findings, as a large account leaves it."""
    run = make_finished_run(owner, count=3)
    AuditRun.objects.filter(pk=run.pk).update(account_id="123456789012")
    store_input(run, {"RoleDetailList": [{"RoleName": f"role-{i}", "Padding": "x" * 200} for i in range(10_000)]})
    Finding.objects.bulk_create(
        Finding(run=run, check_id="iam_admin", category="admin_access", severity="high", title=f"Admin {i}",
                principal_name=f"role-{i}", fingerprint=f"{i:064d}", seq=i)
        for i in range(findings)
    )  # fmt: skip
    return run


def _queries(admin_client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(path)
    assert response.status_code == 200, path
    return [query["sql"] for query in captured.captured_queries]


def test_it_opens_a_big_run_in_bounded_queries_without_its_input(admin_client, alice):
    run = _big_run(alice)
    for path in (f"/admin/audits/auditrun/{run.pk}/change/", "/admin/audits/auditrun/",
                 f"/admin/audits/finding/?run={run.pk}", "/admin/audits/finding/",
                 f"/admin/audits/auditevent/?run={run.pk}"):  # fmt: skip
        sql = _queries(admin_client, path)
        assert len(sql) <= 15, (path, len(sql))
        assert not any('"audits_runinput"."data"' in query for query in sql), path
    page = admin_client.get(f"/admin/audits/finding/?run={run.pk}")
    assert len(page.context["cl"].result_list) == 100 and page.context["cl"].result_count == 1000
    assert "account_id=123456789012" in page.text
    change = admin_client.get(f"/admin/audits/auditrun/{run.pk}/change/").text
    assert f"?run={run.pk}" in change and "1000 findings" in change and "Admin 999" not in change


def test_it_deletes_no_evidence_from_the_admin(admin_client, alice):
    run = make_finished_run(alice, count=2)
    Recorder(run.pk).emit("finding", "f", 100, {"finding": _finding("c" * 64, "arn:x")})
    finding, event = Finding.objects.get(), AuditEvent.objects.filter(run=run).first()
    for model, pk in (("auditrun", run.pk), ("finding", finding.pk), ("auditevent", event.pk)):
        listing = admin_client.get(f"/admin/audits/{model}/")
        assert "delete_selected" not in listing.text, model
        assert admin_client.post(f"/admin/audits/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
        response = admin_client.post(
            f"/admin/audits/{model}/", {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}
        )
        assert response.status_code in (200, 302)
    assert AuditRun.objects.filter(pk=run.pk).exists() and Finding.objects.exists()
    assert AuditEvent.objects.filter(run=run).count() == 3


def test_it_sends_token_creation_to_the_portal_instead_of_failing(admin_client, alice):
    assert admin_client.get("/admin/audits/apitoken/add/").status_code == 403
    assert admin_client.post("/admin/audits/apitoken/add/", {"name": "x", "user": alice.pk}).status_code == 403
    listing = admin_client.get("/admin/audits/apitoken/")
    assert listing.status_code == 200 and "created by each user on their API tokens page" in listing.text
    assert not ApiToken.objects.exists()


def test_it_revokes_tokens_from_the_admin(admin_client, alice):
    token = ApiToken.objects.create(user=alice, name="ci", prefix="abc", token_hash="h" * 64)
    admin_client.post("/admin/audits/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked is not None


def test_it_lists_searches_filters_and_checks_mute_rules(admin_client, alice, bob, client):
    from datetime import timedelta

    from django.utils import timezone

    from audits.models import MuteRule

    later, earlier = timezone.now() + timedelta(days=30), timezone.now() - timedelta(days=1)
    active = MuteRule.objects.create(owner=alice, check_id="root_mfa_disabled", reason="Break-glass <b>root</b>",
                                     expires=later, exceptions={"accounts": ["210987654321"]})  # fmt: skip
    expired = MuteRule.objects.create(owner=bob, arn_pattern="arn:aws:iam::*:role/ci-*", reason="CI", expires=earlier)

    def listed(query: str) -> set[int]:
        response = admin_client.get(f"/admin/audits/muterule/{query}")
        assert response.status_code == 200
        return {r.pk for r in response.context["cl"].result_list}

    assert listed("") == {active.pk, expired.pk}
    assert listed("?state=active") == {active.pk}
    assert listed("?state=expired") == {expired.pk}
    assert listed(f"?owner__id__exact={bob.pk}") == {expired.pk}
    assert listed("?q=role/ci-") == {expired.pk}
    assert listed("?q=break-glass") == {active.pk}
    page = admin_client.get("/admin/audits/muterule/").text
    assert "Break-glass &lt;b&gt;root&lt;/b&gt;" in page and "210987654321" in page

    form = {"owner": alice.pk, "check_id": "*", "arn_pattern": "*", "account_id": "12", "tags": '["team"]',
            "exceptions": '{"regions": ["moon"]}', "reason": "Sandbox", "expires_0": "2999-01-01",
            "expires_1": "00:00:00"}  # fmt: skip
    refused = admin_client.post("/admin/audits/muterule/add/", form)
    assert refused.status_code == 200
    for words in ("12-digit AWS account id", "must be written key=value", "must be a region"):
        assert words in refused.text, words
    saved = admin_client.post(
        "/admin/audits/muterule/add/",
        form | {"account_id": "*", "tags": '["team=sandbox"]', "exceptions": '{"regions": ["eu-west-1"]}'},
    )
    assert saved.status_code == 302
    rule = MuteRule.objects.latest("pk")
    assert (rule.owner, rule.created_by, rule.tags, rule.exceptions) == (
        alice, admin_client.user, ["team=sandbox"], {"regions": ["eu-west-1"]}
    )  # fmt: skip
    # An expired rule can still be edited without moving its expiry; a new past expiry is refused.
    change = f"/admin/audits/muterule/{expired.pk}/change/"
    kept = {"owner": bob.pk, "check_id": "*", "arn_pattern": "arn:aws:iam::*:role/ci-*", "account_id": "*",
            "tags": "[]", "exceptions": "{}", "reason": "CI, reviewed",
            "expires_0": f"{earlier:%Y-%m-%d}", "expires_1": f"{earlier:%H:%M:%S}"}  # fmt: skip
    assert admin_client.post(change, kept).status_code == 302
    assert MuteRule.objects.get(pk=expired.pk).reason == "CI, reviewed"
    assert "is not in the future" in admin_client.post(change, kept | {"expires_0": "2001-01-01"}).text

    client.force_login(alice)  # not staff: the admin sends her to its sign-in page
    assert client.get("/admin/audits/muterule/").status_code == 302
