"""Sign-in with throttling that stops password guessing without letting a stranger lock a user out.

Attempts are counted in windows of AEGIS_LOGIN_LOCKOUT_S in the database (audits.sign_in_counts). Each attempt
takes its place before its password is checked, by one conditional UPDATE, so simultaneous guesses cannot all slip
under the limit; a successful sign-in gives its place back. The windows:

- per (name, address): after AEGIS_LOGIN_FAILURES_ALLOWED failures that pair is refused (429) until the window ends.
  Only failures made from the address itself count, so nobody elsewhere can trigger it.
- per address: after AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED failures for any names, the address is refused. This stops
  one address spraying many names.
- per name, from every address: past AEGIS_LOGIN_FAILURES_ALLOWED the name counts as under attack, which only slows:
  an address that fails on that name must wait AEGIS_LOGIN_SLOW_S before its next try for it. An address that never
  failed on the name is never refused, so the real user still signs in at the first try from their own address.

The name is normalised as Django signs in with it (strip, NFKC through the user model), then resolved to the account
it would sign in as, so fullwidth, mathematical-bold or modifier-letter spellings of `bob` count against `bob`, and
case is ignored only where the user model's own lookup ignores it. The address is REMOTE_ADDR, or the right-most
X-Forwarded-For hop that is not one of AEGIS_TRUSTED_PROXIES when the request came through one of them; with no
proxies named the header is ignored.
"""

import hashlib
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UsernameField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audits import sign_in_counts as counts
from audits.views import passwords

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(entries: list[str]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _is_trusted(host: str, proxies: list[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def client_address(request: HttpRequest) -> str:
    """The address that sent the request: X-Forwarded-For is believed only as far as the named proxies vouch."""
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    proxies = _networks(settings.AEGIS_TRUSTED_PROXIES)
    if not proxies or not _is_trusted(remote, proxies):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    # Each proxy appends the address it received from; walking right to left, the first hop that is not one of
    # ours is the client. Anything left of it was written by the client and proves nothing.
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else remote


def sign_in_name(raw: str) -> str:
    """Whom a sign-in with this name would try: the account's id if one matches, else the normalised name."""
    user_model = get_user_model()
    name = user_model.normalize_username(UsernameField().to_python(raw) or "")[:150]
    if "\x00" in name:  # no account has one, and PostgreSQL refuses it in a query (the form refuses it too)
        return f"name:{name}"
    try:
        user = user_model._default_manager.get_by_natural_key(name)
    except user_model.DoesNotExist:
        return f"name:{name}"
    return f"user:{user.pk}"


@dataclass(frozen=True)
class Keys:
    pair: str
    address: str
    name: str
    slow: str

    @classmethod
    def of(cls, request: HttpRequest) -> "Keys":
        name = _digest(sign_in_name(request.POST.get("username", "")))
        address = _digest(client_address(request))
        return cls(
            pair=f"login-fail:pair:{name}:{address}",
            address=f"login-fail:ip:{address}",
            name=f"login-fail:name:{name}",
            slow=f"login-slow:{name}:{address}",
        )


def _digest(text: str) -> str:
    # Counter keys must be short and plain whatever a client sends as its name.
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        keys = Keys.of(request)
        lockout_s = settings.AEGIS_LOGIN_LOCKOUT_S
        if not counts.take(keys.pair, settings.AEGIS_LOGIN_FAILURES_ALLOWED, lockout_s):
            return self._refused(lockout_s)
        if not counts.take(keys.address, settings.AEGIS_LOGIN_ADDRESS_FAILURES_ALLOWED, lockout_s):
            counts.give_back(keys.pair)
            return self._refused(lockout_s)
        if not counts.through_gate(keys.slow, settings.AEGIS_LOGIN_SLOW_S):
            counts.give_back(keys.pair)
            counts.give_back(keys.address)
            return self._refused(settings.AEGIS_LOGIN_SLOW_S)
        self.keys = keys
        return super().post(request, *args, **kwargs)

    def _refused(self, wait_s: int) -> HttpResponse:
        return render(
            self.request,
            "registration/login.html",
            {"form": self.get_form_class()(self.request), "throttled": True, "minutes": max(1, wait_s // 60)},
            status=429,
        )

    def form_invalid(self, form) -> HttpResponse:
        keys = self.keys  # the attempt already counts against the pair and the address
        if counts.add(keys.name, settings.AEGIS_LOGIN_LOCKOUT_S) > settings.AEGIS_LOGIN_FAILURES_ALLOWED:
            counts.hold(keys.slow, settings.AEGIS_LOGIN_SLOW_S)
        counts.forget_expired()
        return super().form_invalid(form)

    def form_valid(self, form) -> HttpResponse:
        # Only this pair is forgiven: clearing the address count would let anyone with an account reset it by
        # signing in to their own between guesses at someone else's. The address gets back this attempt's place.
        counts.forget(self.keys.pair, self.keys.slow)
        counts.give_back(self.keys.address)
        user = form.get_user()
        if passwords.must_change_password(user):
            # No session yet: a one-time password only buys the page that replaces it.
            return passwords.start_first_change(self.request, user, self.get_success_url())
        return super().form_valid(form)
