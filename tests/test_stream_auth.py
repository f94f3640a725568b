"""audits.stream.auth decides who a stream's user is on both stream paths: the same answer as
django.contrib.auth.get_user over a matrix of sessions, and one batched re-check for many streams."""

from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, get_user
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.models import ApiToken
from audits.stream import access, auth
from audits.stream.auth import Credential
from audits.tokens import create_token
from tests.helpers import make_run, make_user

pytestmark = pytest.mark.django_db


def login(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def edit_session(key: str, **changes) -> None:
    store = SessionStore(key)
    for name, value in changes.items():
        if value is None:
            store.pop(name, None)
        else:
            store[name] = value
    store.save()


def case_expired(user) -> str:
    key = login(user)
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    return key


def case_wrong_hash(user) -> str:
    key = login(user)
    edit_session(key, **{HASH_SESSION_KEY: "0" * 64})
    return key


def case_no_hash(user) -> str:
    key = login(user)
    edit_session(key, **{HASH_SESSION_KEY: None})
    return key


def case_inactive(user) -> str:
    key = login(user)
    user.is_active = False
    user.save()
    return key


def case_deleted(user) -> str:
    key = login(user)
    user.delete()
    return key


def case_other_backend(user) -> str:
    key = login(user)
    edit_session(key, **{BACKEND_SESSION_KEY: "django.contrib.auth.backends.RemoteUserBackend"})
    return key


def case_malformed(user) -> str:
    key = login(user)
    Session.objects.filter(session_key=key).update(session_data="not a signed session")
    return key


CASES = {
    "valid": login,
    "expired": case_expired,
    "wrong hash": case_wrong_hash,
    "no hash": case_no_hash,
    "inactive user": case_inactive,
    "deleted user": case_deleted,
    "other backend": case_other_backend,
    "malformed": case_malformed,
    "unknown key": lambda user: "x" * 32,
}


class SessionOnly:
    def __init__(self, key: str) -> None:
        self.session = SessionStore(key)


def django_says(key: str) -> int | None:
    return get_user(SessionOnly(key)).pk


def we_say(key: str) -> int | None:
    user = auth.identify(Credential("session", key)).user
    return user.pk if user else None


@pytest.mark.parametrize("case", CASES)
def test_it_agrees_with_django_get_user(case):
    key = CASES[case](make_user(f"u-{case.replace(' ', '-')}"))
    ours = we_say(key)  # first: Django's get_user flushes a session whose hash does not match
    assert ours == django_says(key), case
    assert (ours is not None) == (case == "valid"), case


def test_it_agrees_under_a_fallback_secret():
    user = make_user("rotated")
    with override_settings(SECRET_KEY="the-old-secret-key-0123456789-abcdefghij"):
        key = login(user)
    with override_settings(SECRET_KEY="a-new-secret-key-0123456789-abcdefghij-x",
                           SECRET_KEY_FALLBACKS=["the-old-secret-key-0123456789-abcdefghij"]):  # fmt: skip
        assert we_say(key) == user.pk
        assert django_says(key) == user.pk
    with override_settings(SECRET_KEY="a-new-secret-key-0123456789-abcdefghij-x", SECRET_KEY_FALLBACKS=[]):
        assert we_say(key) is None
        assert django_says(key) is None


def test_it_says_why_a_credential_no_longer_works(alice):
    token, raw = create_token(alice, "t")
    assert auth.identify(Credential.of(None, raw)).user == alice
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert auth.identify(Credential.of(None, raw)).reason == "token_expired"
    ApiToken.objects.filter(pk=token.pk).update(expires_at=None, revoked=timezone.now())
    assert auth.identify(Credential.of(None, raw)).reason == "token_revoked"
    key = login(alice)
    alice.set_password("another-password-789")
    alice.save()
    assert auth.identify(Credential("session", key)).reason == "password_changed"


def test_it_rechecks_many_streams_in_the_same_few_queries(alice, reviewer):
    runs = [make_run(alice) for _ in range(10)]
    keys = [login(alice) for _ in range(10)]
    one = [(Credential("session", keys[0]), runs[0].pk, alice.pk)]
    many = [(Credential("session", key), run.pk, alice.pk) for key in keys for run in runs]  # 100 streams
    with CaptureQueriesContext(connection) as few:
        auth.recheck(one)
    with CaptureQueriesContext(connection) as lots:
        verdicts = auth.recheck(many)
    assert len(lots) == len(few)
    assert all(identity.user == alice for identity in verdicts.values())
    staff_key = login(reviewer)
    reviewer.is_staff = False
    reviewer.save()
    verdict = auth.recheck([(Credential("session", staff_key), runs[0].pk, reviewer.pk)])
    assert [identity.reason for identity in verdict.values()] == ["forbidden"]


def test_it_shares_one_grant_between_tabs_of_a_session(alice, monkeypatch):
    # Streams that earlier tests' test-client responses never closed belong to a user with the same primary key:
    # this test counts on a registry of its own.
    monkeypatch.setattr(access, "_grants", {})
    monkeypatch.setattr(access, "_streams_per_user", Counter())
    run = make_run(alice)
    credential = Credential("session", login(alice))
    before = access.open_streams(alice.pk)
    leases = [access.admit(credential, run.pk, alice.pk) for _ in range(5)]
    try:
        assert len({id(lease.grant) for lease in leases}) == 1
        assert access.open_streams(alice.pk) == before + 5
    finally:
        for lease in leases:
            lease.release()
            lease.release()  # idempotent
    assert access.open_streams(alice.pk) == 0
