"""Sign-in throttling: guessing is stopped, and nobody can lock another user out."""

import re
import subprocess

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import RequestFactory

from audits.management.commands.runportal import proxy_options, server_command
from audits.views.auth import client_address
from tests.helpers import ROOT, free_port, stop, subprocess_env, wait_for_port

pytestmark = pytest.mark.django_db

RIGHT = "alice-pw-123"


@pytest.fixture(autouse=True)
def fresh_counts(settings):
    # A fast hasher: these tests sign in dozens of times (autouse runs before the people are made).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The database cache is not part of any test's rollback: start every test from zero.
    cache.clear()
    yield
    cache.clear()


def sign_in(client, username: str, password: str = "wrong", address: str = "127.0.0.1", **headers):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address,
                       **headers)  # fmt: skip


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


FULLWIDTH, BOLD = "\uff41\uff4c\uff49\uff43\uff45", "\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e"


@pytest.mark.parametrize("spelling", [FULLWIDTH, BOLD, "al\u2071ce", " alice "])
def test_it_counts_every_spelling_django_signs_in_with_against_the_account(client, alice, spelling):
    # Django signs these in as alice (NFKC), so they must share alice's count, and not get fresh tries.
    assert sign_in(client, spelling, RIGHT).status_code == 302
    client.logout()
    for _ in range(5):
        assert sign_in(client, spelling).status_code == 200
    assert sign_in(client, "alice", RIGHT).status_code == 429
    assert sign_in(client, spelling, RIGHT).status_code == 429


def test_it_keeps_case_apart_where_the_user_model_does(client, alice):
    # The default user model is case-sensitive: `ALICE` is another (unknown) name, so its failures are its own.
    for _ in range(5):
        sign_in(client, "ALICE")
    assert sign_in(client, "alice", RIGHT).status_code == 302


def test_it_ignores_case_where_the_user_model_does(client, alice, monkeypatch):
    # A model whose natural-key lookup ignores case signs `ALICE` in as alice: then the failures are alice's.
    manager = get_user_model()._default_manager
    monkeypatch.setattr(manager, "get_by_natural_key", lambda name: manager.get(username__iexact=name))
    for _ in range(5):
        sign_in(client, "ALICE")
    assert sign_in(client, "alice", RIGHT).status_code == 429


def test_it_answers_a_name_with_a_nul_character_as_a_failed_sign_in(client, alice):
    response = sign_in(client, "ali\x00ce", RIGHT)
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_it_ignores_x_forwarded_for_unless_proxies_are_named(client, settings):
    settings.AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED = 3
    for i in range(3):
        assert sign_in(client, f"nobody{i}", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code == 200
    assert sign_in(client, "nobody9", HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 429


def request_from(remote: str, forwarded: str | None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().post("/accounts/login/", REMOTE_ADDR=remote, **headers)


@pytest.mark.parametrize(("proxies", "remote", "forwarded", "client_is"), [
    ([], "203.0.113.7", "198.51.100.1", "203.0.113.7"),
    (["10.0.0.1"], "203.0.113.7", "198.51.100.1", "203.0.113.7"),  # not from our proxy: the header is the client's
    (["10.0.0.1"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),
    (["10.0.0.1"], "10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the left hop was written by the client
    (["10.0.0.0/8"], "10.0.0.1", "6.6.6.6, 198.51.100.1, 10.2.3.4", "198.51.100.1"),
    (["10.0.0.0/8"], "10.0.0.1", "10.9.9.9", "10.9.9.9"),
    (["10.0.0.1"], "10.0.0.1", None, "10.0.0.1"),
    (["10.0.0.1"], "10.0.0.1", "not-an-ip", "not-an-ip"),
    (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
])  # fmt: skip
def test_it_takes_the_right_most_untrusted_hop(settings, proxies, remote, forwarded, client_is):
    settings.AEGIS_TRUSTED_PROXIES = proxies
    assert client_address(request_from(remote, forwarded)) == client_is


def test_it_cannot_be_locked_out_by_a_stranger_at_other_addresses(client, alice):
    for i in range(12):
        sign_in(client, "alice", address=f"198.51.100.{i % 4}")
    # Alice has never failed from her address: she signs in at the first try.
    assert sign_in(client, "alice", RIGHT, address="203.0.113.9").status_code == 302


def test_it_slows_each_address_on_a_name_under_attack(client, alice, settings):
    settings.AEGIS_LOGIN_FAILURES_ALLOWED = 3
    for i in range(4):
        assert sign_in(client, "alice", address=f"198.51.100.{i}").status_code == 200
    # The name is under attack now: one more failure from a fresh address makes that address wait ...
    assert sign_in(client, "alice", address="198.51.100.50").status_code == 200
    waited = sign_in(client, "alice", RIGHT, address="198.51.100.50")
    assert waited.status_code == 429 and "Try again in 1 minutes" in waited.text
    # ... while an address that never failed on the name is not refused.
    assert sign_in(client, "alice", RIGHT, address="203.0.113.9").status_code == 302


def test_it_caps_one_address_spraying_many_names(client, alice, settings):
    settings.AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED = 6
    for i in range(6):
        assert sign_in(client, f"user{i}").status_code == 200
    assert sign_in(client, "alice", RIGHT).status_code == 429
    assert sign_in(client, "alice", RIGHT, address="203.0.113.9").status_code == 302


def test_it_does_not_forgive_an_address_for_signing_in_to_its_own_account(client, alice, bob, settings):
    settings.AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED = 4
    for _ in range(3):
        sign_in(client, "alice")
        assert sign_in(client, "bob", "bob-pw-123").status_code == 302
        client.logout()
    sign_in(client, "alice")
    assert sign_in(client, "alice", RIGHT).status_code == 429


def test_it_hands_uvicorn_only_the_named_proxies(settings):
    assert proxy_options([]) == ["--no-proxy-headers"]
    assert proxy_options(["10.0.0.1", "10.1.0.0/16"]) == ["--proxy-headers", "--forwarded-allow-ips",
                                                          "10.0.0.1,10.1.0.0/16"]  # fmt: skip
    assert "--no-proxy-headers" in server_command("127.0.0.1", 8000)
    settings.AEGIS_TRUSTED_PROXIES = ["10.0.0.1"]
    assert server_command("127.0.0.1", 8000)[-2:] == ["--forwarded-allow-ips", "10.0.0.1"]


@pytest.mark.server
@pytest.mark.django_db(transaction=True)
def test_it_does_not_let_a_local_client_pick_its_address_through_uvicorn():
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: the portal's own command must not."""
    port = free_port()
    env = subprocess_env() | {"AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED": "3", "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    proc = subprocess.Popen(server_command("127.0.0.1", port), cwd=ROOT, env=env)
    try:
        wait_for_port(port, proc)
        statuses = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            for i in range(4):
                page = http.get("/accounts/login/")
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
                response = http.post("/accounts/login/", data={"csrfmiddlewaretoken": token, "username": f"n{i}",
                                                               "password": "wrong"},
                                     headers={"X-Forwarded-For": f"198.51.100.{i}"})  # fmt: skip
                statuses.append(response.status_code)
    finally:
        stop(proc)
    assert statuses == [200, 200, 200, 429]
