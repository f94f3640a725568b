"""Sign-in with throttling: repeated failures from one address or for one name are slowed down."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _keys(request: HttpRequest) -> list[str]:
    address = request.META.get("REMOTE_ADDR", "unknown")
    username = request.POST.get("username", "").strip().lower()[:150]
    return [f"login-fail:ip:{address}", f"login-fail:user:{username}"]


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        allowed = settings.AEGIS_LOGIN_FAILURES_ALLOWED
        if any((cache.get(key) or 0) >= allowed for key in _keys(request)):
            minutes = max(1, settings.AEGIS_LOGIN_LOCKOUT_S // 60)
            return render(
                request,
                "registration/login.html",
                {"form": self.get_form_class()(request), "throttled": True, "minutes": minutes},
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        for key in _keys(self.request):
            if not cache.add(key, 1, settings.AEGIS_LOGIN_LOCKOUT_S):
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.set(key, 1, settings.AEGIS_LOGIN_LOCKOUT_S)
        return super().form_invalid(form)

    def form_valid(self, form) -> HttpResponse:
        cache.delete_many(_keys(self.request))
        return super().form_valid(form)
