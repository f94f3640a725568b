"""The JSON API and personal tokens."""

import httpx
import pytest
from django_tasks_db.models import DBTaskResult

from audits.models import ApiToken, AuditRun
from audits.runs.recorder import Recorder
from audits.tokens import create_token
from tests.helpers import make_finished_run, make_run, read_stream


def auth(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.django_db
def test_it_stores_only_a_hash_of_the_token(alice):
    token, raw = create_token(alice, "ci")
    assert raw.startswith("aeg_") and len(raw) > 40
    assert raw not in token.token_hash
    assert ApiToken.objects.filter(token_hash__contains=raw[4:]).count() == 0


@pytest.mark.django_db
def test_it_refuses_missing_bad_and_revoked_tokens(client, alice):
    assert client.get("/api/v1/audits").status_code == 401
    assert client.get("/api/v1/audits", **auth("aeg_nonsense")).status_code == 401
    token, raw = create_token(alice, "ci")
    assert client.get("/api/v1/audits", **auth(raw)).status_code == 200
    client.force_login(alice)
    client.post(f"/settings/tokens/{token.pk}/revoke")
    client.logout()
    response = client.get("/api/v1/audits", **auth(raw))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_it_ignores_session_cookies_on_the_api(client, alice):
    client.force_login(alice)
    assert client.get("/api/v1/audits").status_code == 401


@pytest.mark.django_db
def test_it_starts_an_audit_and_lists_my_runs(client, alice, bob, django_capture_on_commit_callbacks):
    make_run(bob)
    _, raw = create_token(alice, "ci", scope="write")
    with django_capture_on_commit_callbacks(execute=True):
        body = {"source": "demo", "frameworks": ["cis", "soc2"]}
        response = client.post("/api/v1/audits", body, content_type="application/json", **auth(raw))
    assert response.status_code == 201
    run = response.json()["run"]
    assert run["status"] == "queued" and run["frameworks"] == ["cis", "soc2"]
    assert run["events_url"].endswith(f"/api/v1/audits/{run['id']}/events")
    assert DBTaskResult.objects.count() == 1
    listed = client.get("/api/v1/audits", **auth(raw)).json()
    assert [r["id"] for r in listed["runs"]] == [run["id"]]


@pytest.mark.django_db
def test_it_explains_bad_start_requests(client, alice):
    _, raw = create_token(alice, "ci", scope="write")
    bad_bodies = ["not json", "[1]", '{"frameworks": ["gdpr"]}', '{"source": "connection"}']
    for body in bad_bodies:
        response = client.post("/api/v1/audits", body, content_type="application/json", **auth(raw))
        assert response.status_code == 400, body
        assert response.json()["error"]
    assert not AuditRun.objects.exists()


@pytest.mark.django_db
def test_it_limits_audits_running_at_once(client, alice, settings):
    settings.AEGIS_MAX_ACTIVE_RUNS = 2
    _, raw = create_token(alice, "ci", scope="write")
    make_run(alice, status=AuditRun.Status.RUNNING)
    make_run(alice, status=AuditRun.Status.QUEUED)
    response = client.post("/api/v1/audits", "{}", content_type="application/json", **auth(raw))
    assert response.status_code == 429
    assert "limit is 2" in response.json()["error"]


@pytest.mark.django_db
def test_it_reads_a_runs_findings_but_not_a_strangers(client, alice, bob):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    Recorder(run.pk).emit("finding", "admin", 10, {"finding": {
        "check_id": "c1", "category": "admin_access", "severity": "critical", "title": "Admin", "fingerprint": "a" * 64,
    }})  # fmt: skip
    _, mine = create_token(alice, "mine")
    _, theirs = create_token(bob, "theirs")
    body = client.get(f"/api/v1/audits/{run.pk}/findings", **auth(mine)).json()
    assert body["count"] == 1 and body["findings"][0]["check_id"] == "c1"
    assert client.get(f"/api/v1/audits/{run.pk}/findings", **auth(theirs)).status_code == 404
    assert client.get(f"/api/v1/audits/{run.pk}", **auth(theirs)).status_code == 404
    assert client.delete(f"/api/v1/audits/{run.pk}", **auth(mine)).status_code == 405


def test_it_streams_events_to_a_bearer_token(server, alice, bob):
    run = make_finished_run(alice, count=3)
    _, raw = create_token(alice, "terminal")
    url = f"{server}/api/v1/audits/{run.pk}/events"
    response, data = read_stream(url, {}, headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert [d["seq"] for d in data] == [1, 2, 3]
    _, other = create_token(bob, "other")
    denied = httpx.get(f"{server}/api/v1/audits/{run.pk}/events", headers={"Authorization": f"Bearer {other}"})
    assert denied.status_code == 404
    basic = httpx.get(f"{server}/api/v1/audits/{run.pk}/events", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401


@pytest.mark.django_db
def test_it_keeps_token_pages_private(client, alice, bob):
    token, _ = create_token(alice, "ci")
    client.force_login(bob)
    assert client.post(f"/settings/tokens/{token.pk}/revoke").status_code == 404
    assert client.get(f"/settings/tokens/{token.pk}/revoke").status_code == 405
    token.refresh_from_db()
    assert token.revoked is None
