"""Per-user webhook (Slack-compatible JSON) when a run finishes with new critical or high findings.

`notify_finished(run_id)` is called once from the runner's finish path. It sends at most one message per run (a
cache key shared by all processes guards against a second call), makes one attempt with a short timeout and no
retries, follows no redirects, and never raises: a broken webhook must not fail or delay an audit.

URL rules (checked when saved and again when sent): https to a public address; http only to localhost and only
when AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP is on (default: DEBUG), for development and tests. Addresses that resolve to
private, loopback or link-local networks are refused over https too, so a webhook cannot probe the server's network.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from audits.models import AuditRun, Finding, UserSettings

log = logging.getLogger(__name__)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
NOTIFY_SEVERITIES = ("critical", "high")
LISTED = 10
SENT_KEY = "aegis-webhook-sent-{run_id}"
SENT_TTL_S = 7 * 24 * 3600


def validate_url(url: str) -> str:
    """ "" when the URL may be used, else what is wrong with it, in words."""
    if len(url) > 500:
        return "The webhook URL is too long (500 characters at most)."
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "Enter a valid webhook URL, such as https://hooks.slack.com/services/..."
    if not host or parts.username or parts.password:
        return "Enter a valid webhook URL (https://host/path, without a user name or password)."
    if parts.scheme == "http":
        if host in LOCAL_HOSTS and settings.AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP:
            return ""
        return "The webhook URL must use https (plain http is allowed only to localhost in development)."
    if parts.scheme != "https":
        return "The webhook URL must use https."
    public = False if host in LOCAL_HOSTS else _public(host)
    if public is None:
        return f"The webhook host {host} could not be resolved."
    if not public:
        return "The webhook URL must point to a public address, not a private or local network."
    return ""


def _public(host: str) -> bool | None:
    """True when every address of the host is public; None when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return False
    return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect could lead anywhere the URL rules forbid
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def send(url: str, message: dict) -> str:
    """POST the message once; "" on a 2xx answer, else a short reason. Never raises."""
    error = validate_url(url)
    if error:
        return error
    body = json.dumps(message).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "Aegis-IAM"}
    )
    try:
        with _opener.open(request, timeout=settings.AEGIS_WEBHOOK_TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"could not reach the webhook ({getattr(exc, 'reason', exc)})"
    return "" if 200 <= status < 300 else f"the webhook answered HTTP {status}"


def _link(path: str) -> str:
    return f"{settings.AEGIS_PUBLIC_URL}{path}" if settings.AEGIS_PUBLIC_URL else path


def previous_run(run: AuditRun) -> AuditRun | None:
    """The owner's last completed run of the same account before this one."""
    if not run.account_id:
        return None
    return (
        AuditRun.objects.filter(
            owner_id=run.owner_id, account_id=run.account_id, status=AuditRun.Status.COMPLETED, created__lt=run.created
        )
        .exclude(pk=run.pk)
        .only("pk")
        .order_by("-created", "-pk")
        .first()
    )


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
        error = send(row.webhook_url, message_for(run, findings, previous_run(run) is not None))
    except Exception:  # the audit is done and recorded; a notification problem must never surface as its failure
        log.exception("webhook for run %s failed", run_id)
        return "error"
    if error:
        log.warning("webhook for run %s of user %s: %s", run_id, run.owner_id, error)
        return error
    return "sent"
