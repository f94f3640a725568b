"""Changing one's password: Django's own page, linked from the menu; a one-time password is replaced at the first
sign-in before anything else; a password change revokes the user's API tokens; all tokens revoke in one step."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audits.models import ApiToken, UserSettings
from audits.tokens import create_token

pytestmark = pytest.mark.django_db

NEW = "a-much-longer-new-secret-42"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_in(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_it_links_the_password_page_from_the_menu(client, alice):
    client.force_login(alice)
    page = client.get("/audits/")
    assert 'href="/accounts/password/"' in page.text
    form = client.get("/accounts/password/")
    assert form.status_code == 200 and 'name="old_password"' in form.text and 'name="new_password2"' in form.text


def test_it_changes_the_password_keeps_the_session_and_revokes_every_token(client, alice):
    _, raw = create_token(alice, "ci")
    client.force_login(alice)
    response = client.post(
        "/accounts/password/", {"old_password": "alice-pw-123", "new_password1": NEW, "new_password2": NEW}
    )
    assert response["Location"] == "/accounts/password/done/"
    assert "revoked" in client.get("/accounts/password/done/").text
    assert client.get("/audits/").status_code == 200  # still signed in here
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert client.get("/api/v1/audits", **bearer(raw)).status_code == 401
    assert not ApiToken.objects.filter(user=alice, revoked__isnull=True).exists()


def test_it_refuses_a_wrong_old_password_with_a_clear_error(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/password/", {"old_password": "nope", "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 200 and "old password was entered incorrectly" in response.text
    alice.refresh_from_db()
    assert alice.check_password("alice-pw-123")


def test_it_sends_strangers_to_sign_in(client):
    assert client.get("/accounts/password/")["Location"].startswith("/accounts/login/")


def create_reviewer(name: str) -> str:
    out = StringIO()
    call_command("create_reviewer", name, stdout=out)
    return out.getvalue().strip().rsplit(": ", 1)[1]


def test_it_makes_a_one_time_password_be_changed_before_anything_else(client):
    one_time = create_reviewer("rita")
    response = sign_in(client, "rita", one_time)
    assert response["Location"] == "/accounts/password/first/"
    # The one-time password signed nobody in: every page still asks to sign in.
    assert client.get("/audits/")["Location"].startswith("/accounts/login/")
    page = client.get("/accounts/password/first/")
    assert page.status_code == 200 and "one-time password" in page.text
    mismatch = client.post("/accounts/password/first/", {"new_password1": NEW, "new_password2": NEW + "x"})
    assert mismatch.status_code == 400 and "two password fields" in mismatch.text
    done = client.post("/accounts/password/first/", {"new_password1": NEW, "new_password2": NEW})
    assert done["Location"] == "/audits/"
    assert client.get("/audits/").status_code == 200
    rita = get_user_model().objects.get(username="rita")
    assert rita.check_password(NEW) and not UserSettings.objects.get(user=rita).must_change_password
    client.logout()
    assert sign_in(client, "rita", NEW)["Location"] == "/audits/"


def test_it_does_not_open_the_first_change_page_without_a_sign_in(client, alice):
    create_reviewer("rita")
    response = client.post("/accounts/password/first/", {"new_password1": NEW, "new_password2": NEW}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Sign in with your one-time password first" in response.text
    assert not get_user_model().objects.get(username="rita").check_password(NEW)


def test_it_ends_a_pending_change_when_the_password_changed_elsewhere(client):
    one_time = create_reviewer("rita")
    sign_in(client, "rita", one_time)
    rita = get_user_model().objects.get(username="rita")
    rita.set_password("set-by-an-admin-99")
    rita.save()
    response = client.post("/accounts/password/first/", {"new_password1": NEW, "new_password2": NEW})
    assert response["Location"] == "/accounts/login/"
    rita.refresh_from_db()
    assert rita.check_password("set-by-an-admin-99")


def test_it_does_not_force_the_demo_login_to_change(client, settings):
    settings.AEGIS_DEMO_PASSWORD = "demo-pw-123"
    call_command("ensure_demo_user", stdout=StringIO())
    assert sign_in(client, "demo", "demo-pw-123")["Location"] == "/audits/"


def test_it_revokes_all_my_tokens_in_one_step_and_no_one_elses(client, alice, bob):
    _, first = create_token(alice, "one")
    _, second = create_token(alice, "two", scope="write")
    _, bobs = create_token(bob, "bob's")
    client.force_login(alice)
    assert "Revoke all my tokens" in client.get("/settings/tokens").text
    page = client.post("/settings/tokens/revoke-all", follow=True)
    assert "Revoked all your API tokens (2)" in page.text
    for raw in (first, second):
        assert client.get("/api/v1/audits", **bearer(raw)).status_code == 401
    assert client.get("/api/v1/audits", **bearer(bobs)).status_code == 200
    assert client.get("/settings/tokens/revoke-all").status_code == 405
