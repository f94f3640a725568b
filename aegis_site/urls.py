from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from audits.views import passwords, tokens
from audits.views.auth import ThrottledLoginView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="audits:list", permanent=False)),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", passwords.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/first/", passwords.first_password_change, name="password_first_change"),
    path("audits/", include("audits.urls")),
    path("api/v1/", include("audits.api_urls")),
    path("settings/tokens", tokens.tokens, name="tokens"),
    path("settings/tokens/<int:pk>/revoke", tokens.revoke_token, name="revoke_token"),
    path("settings/tokens/revoke-all", tokens.revoke_all_tokens, name="revoke_all_tokens"),
    path("settings/webhook", tokens.save_webhook, name="save_webhook"),
    path("settings/webhook/test", tokens.test_webhook, name="test_webhook"),
    path("admin/", admin.site.urls),
]

handler403 = "aegis_site.errors.forbidden"
handler404 = "aegis_site.errors.not_found"
handler500 = "aegis_site.errors.server_error"
