"""Changing one's password (Django's own view and form), and replacing a one-time password at the first sign-in.

A password change revokes every API token of the user: a token made while the old password was known to someone
else must not outlive it. Other signed-in sessions end by Django's own rule (their session hash no longer matches),
and so do the streams they follow.

A one-time password (from `manage.py create_reviewer`) signs nobody in: the sign-in page hands over to
`first_password_change`, which alone accepts the pending sign-in and only for a few minutes.
"""

import time

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from audits.models import UserSettings
from audits.tokens import revoke_all

# The session entry that says whose one-time password was just proven, and until when it may be replaced.
PENDING_KEY = "aegis_password_change_pending"
PENDING_FOR_S = 10 * 60
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def must_change_password(user) -> bool:
    return UserSettings.objects.filter(user=user, must_change_password=True).exists()


def require_change(user) -> None:
    UserSettings.objects.update_or_create(user=user, defaults={"must_change_password": True})


def _after_change(request: HttpRequest, user) -> None:
    UserSettings.objects.filter(user=user, must_change_password=True).update(must_change_password=False)
    revoked = revoke_all(user)
    if revoked:
        messages.info(request, f"Your password changed, so your {revoked} API token(s) were revoked; create new ones.")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view (old password, new one twice, validators); it keeps this session signed in."""

    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        _after_change(self.request, self.request.user)
        return response


def start_first_change(request: HttpRequest, user, next_url: str) -> HttpResponse:
    """The sign-in proved a one-time password: send the user to replace it, without signing them in yet."""
    request.session.cycle_key()  # a fresh session id, as a sign-in would get
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "hash": user.get_session_auth_hash(),
        "until": time.time() + PENDING_FOR_S,
        "next": next_url,
    }
    return redirect("password_first_change")


def _pending_user(request: HttpRequest):
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    user = get_user_model()._default_manager.filter(pk=pending.get("user"), is_active=True).first()
    # A password changed since (elsewhere) ends the pending change too.
    if user is None or not constant_time_compare(pending.get("hash", ""), user.get_session_auth_hash()):
        return None
    return user


@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def first_password_change(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        request.session.pop(PENDING_KEY, None)
        messages.error(request, "Sign in with your one-time password first; it must then be changed within 10 minutes.")
        return redirect("login")
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        next_url = request.session.pop(PENDING_KEY)["next"]
        _after_change(request, user)
        login(request, user, backend=MODEL_BACKEND)
        messages.success(request, "Your password is changed; you are signed in.")
        return redirect(next_url)
    status = 400 if request.method == "POST" else 200
    return render(request, "registration/password_first_change.html", {"form": form, "pending": user}, status=status)
