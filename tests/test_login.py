"""Sign-in throttling."""

import pytest

pytestmark = pytest.mark.django_db


def test_it_throttles_repeated_failed_sign_ins(client, alice, settings):
    settings.AEGIS_LOGIN_FAILURES_ALLOWED = 3
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
    blocked = client.post("/accounts/login/", {"username": "alice", "password": "alice-pw-123"})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    assert "_auth_user_id" not in client.session


def test_it_signs_in_with_the_right_password(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-pw-123"})
    assert response.status_code == 302
    assert response["Location"] == "/audits/"


def test_it_sends_a_strict_content_security_policy(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
