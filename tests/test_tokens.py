"""Tokens: post-redirect-get, shown once, expiry, read-only by default, own runs only; API starts and exports."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.iam.snapshot import DEMO_PATH
from audits.models import ApiToken, AuditRun, AwsConnection
from audits.tokens import INVALID_TOKEN, create_token
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


def auth(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def start(client, raw: str, body: dict):
    return client.post("/api/v1/audits", json.dumps(body), content_type="application/json", **auth(raw))


def test_it_creates_a_token_with_post_redirect_get_and_shows_it_once(client, alice):
    client.force_login(alice)
    response = client.post("/settings/tokens", {"name": "laptop", "scope": "read", "expires": "30"})
    assert response.status_code == 302 and response["Location"] == "/settings/tokens"
    token = ApiToken.objects.get(user=alice)
    page = client.get("/settings/tokens")
    assert "Copy it now" in page.text and "aeg_" + token.prefix in page.text
    assert 'data-copy-target="new-token"' in page.text and page["Cache-Control"] == "no-store"
    again = client.get("/settings/tokens")  # the reload after creating: no secret, no second token
    assert "Copy it now" not in again.text
    assert ApiToken.objects.filter(user=alice).count() == 1
    assert token.scope == "read"
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "scope": "read", "expires": "30"}, "1 to 100 characters"),
        ({"name": "x", "scope": "admin", "expires": "30"}, "read-only or read and write"),
        ({"name": "x", "scope": "read", "expires": "7"}, "Choose an expiry"),
    ],
)
def test_it_explains_a_bad_token_form(client, alice, form, message):
    client.force_login(alice)
    page = client.post("/settings/tokens", form, follow=True)
    assert message in page.text and not ApiToken.objects.exists()


def test_it_offers_no_expiry_and_write_scope(client, alice):
    client.force_login(alice)
    client.post("/settings/tokens", {"name": "ci", "scope": "write", "expires": "none"})
    token = ApiToken.objects.get(user=alice)
    assert token.scope == "write" and token.expires_at is None


@pytest.mark.parametrize("header", ["Bearer aeg_nonsense", "Bearer aeg_" + "x" * 300])
def test_it_says_a_bad_token_is_invalid(client, header):
    response = client.get("/api/v1/audits", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json() == {"error": INVALID_TOKEN}


def test_it_refuses_expired_and_revoked_tokens_with_the_same_words(client, alice):
    expired, raw_expired = create_token(alice, "old", expires_in_days=1)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, raw_revoked = create_token(alice, "gone")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked=timezone.now())
    for raw in (raw_expired, raw_revoked):
        response = client.get("/api/v1/audits", **auth(raw))
        assert response.status_code == 401 and response.json()["error"] == INVALID_TOKEN


def test_it_keeps_read_only_tokens_from_starting_audits(client, alice):
    _, raw = create_token(alice, "reader")
    response = start(client, raw, {"source": "demo"})
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    assert not AuditRun.objects.exists()


@pytest.mark.parametrize("scope", ["read", "write"])
def test_it_shows_a_staff_token_only_its_owners_runs(client, alice, reviewer, scope):
    run = make_completed_run(alice, [make_finding("a")])
    own = make_completed_run(reviewer, [make_finding("b")])
    _, raw = create_token(reviewer, "staff", scope=scope)
    assert client.get(f"/api/v1/audits/{run.pk}", **auth(raw)).status_code == 404
    assert client.get(f"/api/v1/audits/{run.pk}/export/findings.json", **auth(raw)).status_code == 404
    assert client.get(f"/api/v1/audits/{own.pk}", **auth(raw)).status_code == 200
    reviewer.refresh_from_db()
    assert reviewer.is_staff  # the token's view of its user is restricted, the account is untouched


def test_it_starts_a_snapshot_audit_from_json(client, alice, django_capture_on_commit_callbacks):
    _, raw = create_token(alice, "ci", scope="write")
    snapshot = json.loads(DEMO_PATH.read_text())
    with django_capture_on_commit_callbacks(execute=True):
        response = start(
            client, raw, {"source": "snapshot", "snapshot": snapshot, "name": "demo.json", "frameworks": ["cis"]}
        )
    assert response.status_code == 201, response.json()
    run = AuditRun.objects.get(pk=response.json()["run"]["id"])
    assert run.source == "snapshot" and run.snapshot_name == "demo.json" and run.account_id == "123456789012"


def test_it_starts_a_snapshot_audit_from_a_multipart_upload(client, alice):
    _, raw = create_token(alice, "ci", scope="write")
    upload = SimpleUploadedFile("acct.json", DEMO_PATH.read_bytes(), content_type="application/json")
    response = client.post(
        "/api/v1/audits", {"source": "snapshot", "frameworks": ["cis", "soc2"], "snapshot": upload}, **auth(raw)
    )
    assert response.status_code == 201, response.json()
    assert response.json()["run"]["frameworks"] == ["cis", "soc2"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"source": "snapshot"}, "Send the snapshot"),
        ({"source": "snapshot", "snapshot": {"Users": []}}, "Not an IAM snapshot"),
        ({"source": "snapshot", "snapshot": "{not json"}, "not valid JSON"),
        ({"source": "ftp"}, "source must be one of"),
    ],
)
def test_it_explains_a_bad_snapshot_start(client, alice, body, words):
    _, raw = create_token(alice, "ci", scope="write")
    response = start(client, raw, body)
    assert response.status_code == 400 and words in response.json()["error"]
    assert not AuditRun.objects.exists()


def test_it_starts_a_connection_audit_only_on_a_verified_connection(client, alice, bob):
    _, raw = create_token(alice, "ci", scope="write")
    unverified = AwsConnection.objects.create(owner=alice, name="new", role_arn="arn:aws:iam::123456789012:role/A")
    failed = AwsConnection.objects.create(
        owner=alice,
        name="broken",
        role_arn="arn:aws:iam::123456789012:role/B",
        verified_at=timezone.now(),
        last_error="In your AWS account: denied",
    )
    theirs = AwsConnection.objects.create(
        owner=bob,
        name="bobs",
        role_arn="arn:aws:iam::123456789012:role/C",
        verified_at=timezone.now(),
        account_id="123456789012",
    )
    for connection, words in (
        (unverified, "is not verified"),
        (failed, "is not verified"),
        (theirs, "No such AWS connection"),
        (None, "id of one of your"),
    ):
        response = start(client, raw, {"source": "connection", "connection": connection.pk if connection else "x"})
        assert response.status_code == 400 and words in response.json()["error"]
    assert not AuditRun.objects.exists()
    good = AwsConnection.objects.create(
        owner=alice,
        name="prod",
        role_arn="arn:aws:iam::123456789012:role/D",
        verified_at=timezone.now(),
        account_id="123456789012",
    )
    response = start(client, raw, {"source": "connection", "connection": good.pk})
    assert response.status_code == 201
    assert response.json()["run"]["connection"] == good.pk


def test_it_serves_every_export_to_a_token(client, alice, bob):
    from audits.exports import CONTENT_TYPES

    run = make_completed_run(alice, [make_finding("a")])
    _, raw = create_token(alice, "reader")
    _, other = create_token(bob, "other")
    for name in CONTENT_TYPES:
        response = client.get(f"/api/v1/audits/{run.pk}/export/{name}", **auth(raw))
        assert response.status_code == 200, name
        assert response["Content-Type"] == CONTENT_TYPES[name]
        assert client.get(f"/api/v1/audits/{run.pk}/export/{name}", **auth(other)).status_code == 404
    assert client.get(f"/api/v1/audits/{run.pk}/export/secrets.txt", **auth(raw)).status_code == 404
    assert client.post(f"/api/v1/audits/{run.pk}/export/findings.json", **auth(raw)).status_code == 405
    assert client.get(f"/api/v1/audits/{run.pk}/export/findings.json").status_code == 401
