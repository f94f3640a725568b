"""Per-user webhook (Slack-compatible JSON) when a run finishes with new critical or high findings.

`notify_finished(run_id)` is called once from the runner's finish path. It sends at most one message per run (a
cache key shared by all processes guards against a second call), makes one attempt with a short timeout and no
retries, follows no redirects, and never raises: a broken webhook must not fail or delay an audit.

URL rules (checked when saved and again when sent): https to a public address; http only to localhost and only
when AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP is on (default: DEBUG), for development and tests. A host is public when every
address it resolves to is (`webhook_addresses.is_public`, which also judges IPv4 addresses hidden in IPv6 forms).
The host is resolved once per call and the connection goes to an address that was just checked (TLS still checks
the certificate against the host name), so a DNS answer that changes between the check and the connection cannot
reach an internal address. Whatever goes wrong, the user reads one message; the reason goes to the server log only,
so a webhook cannot tell whether a port is open, closed or filtered.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from audits import compare, schedule_drift
from audits.models import AuditRun, Finding, UserSettings
from audits.webhook_addresses import is_public

log = logging.getLogger(__name__)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
NOTIFY_SEVERITIES = ("critical", "high")
LISTED = 10
SENT_KEY = "aegis-webhook-sent-{run_id}"
SENT_TTL_S = 7 * 24 * 3600
# What a user reads for every failed delivery, whatever the reason (the reason itself is logged).
DELIVERY_FAILED = "the message was not delivered (the server log has the reason)."


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the addresses its host resolved to when it was checked."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def validate_url(url: str) -> str:
    """ "" when the URL may be used, else what is wrong with it, in words."""
    return check_url(url)[0]


def check_url(url: str) -> tuple[str, Target | None]:
    """(error, None) when the URL may not be used, else ("", the target with its checked addresses)."""
    if len(url) > 500:
        return "The webhook URL is too long (500 characters at most).", None
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (80 if parts.scheme == "http" else 443)
    except ValueError:
        return "Enter a valid webhook URL, such as https://hooks.slack.com/services/...", None
    if not host or parts.username or parts.password:
        return "Enter a valid webhook URL (https://host/path, without a user name or password).", None
    local = parts.scheme == "http" and host in LOCAL_HOSTS and settings.AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP
    if parts.scheme == "http" and not local:
        return "The webhook URL must use https (plain http is allowed only to localhost in development).", None
    if parts.scheme not in ("http", "https"):
        return "The webhook URL must use https.", None
    addresses = resolve_host(host, port)
    if not addresses:
        return f"The webhook host {host} could not be resolved.", None
    allowed = _loopback if local else is_public
    if not all(allowed(address) for address in addresses):
        return "The webhook URL must point to a public address, not a private or local network.", None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return "", Target(parts.scheme, host, port, path, addresses)


def resolve_host(host: str, port: int) -> tuple[str, ...]:
    """Every address the host resolves to, in the resolver's order; () when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def connect_to(address: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((address, port), timeout)


def _connect_first(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    """A socket to the first checked address that accepts, all tries within one timeout."""
    deadline = time.monotonic() + timeout
    error: OSError = ConnectionError("no address to connect to")
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock = connect_to(address, port, remaining)
        except OSError as exc:
            error = exc
            continue
        sock.settimeout(timeout)
        return sock
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses checked for the host instead of resolving it again; the Host header keeps the name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.addresses = target.addresses

    def connect(self) -> None:
        self.sock = _connect_first(self.addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = 443

    def connect(self) -> None:
        super().connect()
        # SNI and the certificate check use the host name from the URL, not the address connected to.
        self.sock = _tls_context().wrap_socket(self.sock, server_hostname=self.host)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def post_to(target: Target, body: bytes, timeout: float) -> int:
    """POST once and return the answer's status; redirects are not followed (one request, its status is the answer)."""
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target, timeout)
    # A server that trickles its answer a byte at a time would hold the call far past the socket timeout.
    watchdog = threading.Timer(2 * timeout, _cut, args=(connection,))
    watchdog.start()
    try:
        headers = {"Content-Type": "application/json", "User-Agent": "Aegis-IAM"}
        connection.request("POST", target.path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        watchdog.cancel()
        connection.close()


def _cut(connection: http.client.HTTPConnection) -> None:
    with contextlib.suppress(OSError, AttributeError):
        connection.sock.shutdown(socket.SHUT_RDWR)


def deliver(url: str, message: dict) -> str:
    """POST the message once; "" on a 2xx answer, else the reason, for the server log only. Never raises."""
    error, target = check_url(url)
    if target is None:
        return error
    try:
        status = post_to(target, json.dumps(message).encode(), settings.AEGIS_WEBHOOK_TIMEOUT_S)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"could not reach the webhook ({exc.__class__.__name__}: {exc})"
    return "" if 200 <= status < 300 else f"the webhook answered HTTP {status}"


def send(url: str, message: dict) -> str:
    """Deliver for a user who is watching: "" when delivered, else DELIVERY_FAILED whatever the reason."""
    reason = deliver(url, message)
    if not reason:
        return ""
    log.warning("webhook delivery to %s failed: %s", _host(url), reason)  # the host only: the path holds a secret
    return DELIVERY_FAILED


def _host(url: str) -> str:
    with contextlib.suppress(ValueError):
        return urlsplit(url).hostname or "?"
    return "?"


def _link(path: str) -> str:
    return f"{settings.AEGIS_PUBLIC_URL}{path}" if settings.AEGIS_PUBLIC_URL else path


def previous_run(run: AuditRun) -> AuditRun | None:
    """The owner's last completed run of the same source and account before this one (audits.compare)."""
    return compare.previous_run(run)


def new_serious_findings(run: AuditRun) -> list[Finding]:
    findings = Finding.objects.filter(run=run, severity__in=NOTIFY_SEVERITIES, suppressed=False).only(
        "pk", "severity", "title", "principal_name", "principal_type", "fingerprint", "seq"
    )
    before = previous_run(run)
    if before is not None:
        findings = findings.exclude(fingerprint__in=Finding.objects.filter(run=before).values("fingerprint"))
    rank = {sev: i for i, sev in enumerate(NOTIFY_SEVERITIES)}
    return sorted(findings, key=lambda f: (rank[f.severity], f.seq or 0))


def message_for(run: AuditRun, findings: list[Finding], compared: bool) -> dict:
    critical = sum(f.severity == "critical" for f in findings)
    account = run.account_id or "an uploaded snapshot"
    since = "since the previous audit" if compared else "in the first audit"
    text = (
        f"Aegis IAM: audit #{run.pk} of {account} finished with {len(findings)} new critical or high "
        f"finding{'s' if len(findings) != 1 else ''} {since} ({critical} critical)"
        + (f", risk score {run.risk_score}" if run.risk_score is not None else "")
        + "."
        + _drift_sentence(run)
    )
    url = _link(reverse("audits:run", args=[run.pk]))
    lines = [
        f"• *{f.severity}* {_plain(f.title)}"
        + (f" ({f.principal_type} {_plain(f.principal_name)})" if f.principal_name else "")
        for f in findings[:LISTED]
    ]
    if len(findings) > LISTED:
        lines.append(f"… and {len(findings) - LISTED} more")
    return {
        "text": f"{text} {url}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _plain(text)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open audit"}, "url": url}],
            }
            if url.startswith("https://")
            else {"type": "context", "elements": [{"type": "mrkdwn", "text": url}]},
        ],
    }


def _drift_sentence(run: AuditRun) -> str:
    """For a scheduled run: what changed since the previous run of the same source (audits.schedule_drift)."""
    target = run.target or {}
    if "schedule" not in target:
        return ""
    drift = target.get("drift") or {}
    said = schedule_drift.summary(drift)
    if not said:
        return " Scheduled audit: the first of its source, nothing to compare with yet."
    return f" Scheduled audit, since audit #{drift['previous']}: {said}."


def _plain(text: str) -> str:
    # IAM names are attacker-controlled: keep Slack from reading them as mentions or links.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")[:300]


def test_message(user) -> dict:
    text = f"Aegis IAM: test message for {user.get_username()}. Finished audits with new critical or high findings "
    text += "will be announced here."
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _plain(text)}}]}


def notify_finished(run_id: int) -> str:
    """Announce a finished run's new critical/high findings to its owner's webhook. Returns what happened."""
    try:
        run = AuditRun.objects.defer("result", "checkpoint").select_related("owner").filter(pk=run_id).first()
        if run is None or run.status != AuditRun.Status.COMPLETED:
            return "not a completed run"
        row = UserSettings.objects.filter(user_id=run.owner_id).exclude(webhook_url="").first()
        if row is None:
            return "no webhook"
        findings = new_serious_findings(run)
        if not findings:
            return "nothing new"
        if not cache.add(SENT_KEY.format(run_id=run.pk), 1, SENT_TTL_S):
            return "already sent"
        error = deliver(row.webhook_url, message_for(run, findings, previous_run(run) is not None))
    except Exception:  # the audit is done and recorded; a notification problem must never surface as its failure
        log.exception("webhook for run %s failed", run_id)
        return "error"
    if error:
        log.warning("webhook for run %s of user %s: %s", run_id, run.owner_id, error)
        return error
    return "sent"
