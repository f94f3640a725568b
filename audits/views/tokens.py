"""The tokens page: create (post-redirect-get, the secret shown once), revoke one or all, and the user's webhook."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from audits import webhooks
from audits.forms import WebhookForm
from audits.models import ApiToken, UserSettings
from audits.tokens import DEFAULT_EXPIRY, EXPIRY_CHOICES, create_token, revoke_all

# The new secret waits in the session for the one GET after the redirect, then is gone: a reload shows nothing.
SESSION_KEY = "aegis_new_token"


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _create(request)
    new_token = request.session.pop(SESSION_KEY, None)
    settings_row = UserSettings.objects.filter(user=request.user).first()
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "new_token": new_token,
        "expiry_choices": [(key, label) for key, _, label in EXPIRY_CHOICES],
        "default_expiry": DEFAULT_EXPIRY,
        "scopes": ApiToken.Scope.choices,
        "webhook_url": settings_row.webhook_url if settings_row else "",
        "webhook_threshold": settings_row.webhook_threshold if settings_row else UserSettings.WebhookThreshold.ANY,
        "webhook_thresholds": UserSettings.WebhookThreshold.choices,
        "now": timezone.now(),
    }
    response = render(request, "audits/tokens.html", context)
    # The page may carry a secret: never from a cache, never via the back button of a shared browser.
    response["Cache-Control"] = "no-store"
    return response


def _create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    scope = request.POST.get("scope", ApiToken.Scope.READ)
    expiry = {key: days for key, days, _ in EXPIRY_CHOICES}
    chosen = request.POST.get("expires", DEFAULT_EXPIRY)
    if not name or len(name) > 100:
        messages.error(request, "Give the token a name of 1 to 100 characters.")
    elif scope not in ApiToken.Scope.values:
        messages.error(request, "Choose read-only or read and write.")
    elif chosen not in expiry:
        messages.error(request, "Choose an expiry: 30, 90 or 365 days, or none.")
    else:
        token, raw = create_token(request.user, name, scope=scope, expires_in_days=expiry[chosen])
        request.session[SESSION_KEY] = {"name": token.name, "secret": raw, "scope": token.get_scope_display()}
    return redirect("tokens")


@login_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoked is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked=timezone.now())
        messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("tokens")


@login_required
@require_POST
def revoke_all_tokens(request: HttpRequest) -> HttpResponse:
    revoked = revoke_all(request.user)
    if revoked:
        messages.success(request, f"Revoked all your API tokens ({revoked}).")
    else:
        messages.info(request, "You have no live API tokens to revoke.")
    return redirect("tokens")


@login_required
@require_POST
def save_webhook(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("tokens")
    url = form.cleaned_data["webhook_url"]
    saved = {"webhook_url": url}
    if form.cleaned_data["webhook_threshold"]:
        saved["webhook_threshold"] = form.cleaned_data["webhook_threshold"]
    UserSettings.objects.update_or_create(user=request.user, defaults=saved)
    messages.success(request, "Webhook saved." if url else "Webhook removed.")
    return redirect("tokens")


@login_required
@require_POST
def test_webhook(request: HttpRequest) -> HttpResponse:
    settings_row = UserSettings.objects.filter(user=request.user).first()
    if settings_row is None or not settings_row.webhook_url:
        messages.error(request, "Save a webhook URL first.")
        return redirect("tokens")
    error = webhooks.send(settings_row.webhook_url, webhooks.test_message(request.user))
    if error:
        messages.error(request, f"The webhook call failed: {error}")
    else:
        messages.success(request, "Test message delivered.")
    return redirect("tokens")
