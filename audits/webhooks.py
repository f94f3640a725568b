"""Per-user webhook (Slack-compatible JSON) when a run finishes: what is new, resolved or changed in severity.

A finished run is compared with the previous finished run of the same source (audits.schedule_drift): the message
gives the three counts, the worst findings of each kind and links to the run and to the comparison; an organization
run sends one message with each member account's counts (its member accounts' own runs send none). The same facts
travel as data under the message's "aegis" key for a receiver that is not Slack. Nothing changed: no message.

Each user chooses which changes are worth a message (UserSettings.webhook_threshold, `worth_sending`):
- "any" (the default, and how webhooks behaved before the choice): anything new, resolved or changed in severity.
- a severity ("critical", "high", "medium", "low", "info"): a finding that is new at that severity or above, or one
  that got worse (its severity rose) and now stands at that severity or above. Resolved findings and findings that
  got better never send on their own; they are still listed when something else sends the message. A first audit
  of its source has nothing to compare with, so all its findings count as new.
The message itself is the same whatever the threshold: the threshold decides whether it is sent, not what it says.
"Send a test message" on the settings page ignores the threshold: it checks the URL, not the audits.

`notify_finished(run_id)` is called once from each finish path (the runner's for an account, the organization's
when its last account ends). It sends at most one message per run (a cache key shared by all processes guards
against a second call), makes one attempt with a short timeout and no retries, follows no redirects, and never
raises: a broken webhook must not fail or delay an audit.

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

from audits import schedule_drift
from audits.models import AuditRun, UserSettings
from audits.runs import sources
from audits.webhook_addresses import is_public

log = logging.getLogger(__name__)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
NOTIFY_SEVERITIES = ("critical", "high")  # counted in a first audit's message
LISTED = 5  # findings listed of each kind (new, resolved, changed), and member accounts
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
        self.connect_timeout = timeout  # self.timeout is typed as optional; this one always is a number

    def connect(self) -> None:
        self.sock = _connect_first(self.addresses, self.port, self.connect_timeout)


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


def message_for(run: AuditRun, drift: schedule_drift.Drift, members: dict[str, str] | None = None) -> dict:
    """The Slack-compatible message for a finished run's drift, with the same facts as data under "aegis"."""
    url = _link(reverse("audits:run", args=[run.pk]))
    compare_url = ""
    if drift.previous is not None and not drift.organization:
        # The compare page compares one account's findings; an organization's drift is read on its own page.
        compare_url = _link(reverse("audits:compare", args=[run.pk]) + f"?with={drift.previous}")
    text = _headline(run, drift)
    items = {kind: schedule_drift.top_items(drift, kind, LISTED) for kind in schedule_drift.KINDS}
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": _plain(text)}}]
    for kind, heading in SECTIONS.items():
        count = len(getattr(drift, kind))
        if count:
            lines = [f"*{heading} ({count})*", *(_item_line(item) for item in items[kind])]
            if count > len(items[kind]):
                lines.append(f"… and {count - len(items[kind])} more")
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    per_member = _member_rows(drift, members or {})
    if per_member:
        lines = ["*By account*", *(_member_line(row) for row in per_member[:LISTED])]
        if len(per_member) > LISTED:
            lines.append(f"… and {len(per_member) - LISTED} more accounts")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    blocks.append(_links_block(url, compare_url, drift.previous))
    return {
        "text": f"{text} {compare_url or url}",
        "blocks": blocks,
        "aegis": {
            "run": run.pk,
            "account_id": run.account_id,
            "source": sources.label(run),
            "organization": drift.organization,
            "scheduled": "schedule" in (run.target or {}),
            "risk_score": run.risk_score,
            "previous": drift.previous,
            "url": url,
            "compare_url": compare_url,
            **{kind: {"count": len(getattr(drift, kind)), "top": items[kind]} for kind in schedule_drift.KINDS},
            "members": per_member,
        },
    }


SECTIONS = {"new": "New", "resolved": "Resolved", "changed": "Changed in severity"}


def _headline(run: AuditRun, drift: schedule_drift.Drift) -> str:
    what = "organization audit" if drift.organization else "audit"
    scheduled = "scheduled " if "schedule" in (run.target or {}) else ""
    account = run.account_id or "an uploaded snapshot"
    text = f"Aegis IAM: {scheduled}{what} #{run.pk} of {account} ({sources.label(run)}) finished"
    text += f", risk score {run.risk_score}." if run.risk_score is not None else "."
    if drift.previous is None:
        by_severity = drift.new_by_severity
        worst = ", ".join(f"{by_severity[sev]} {sev}" for sev in NOTIFY_SEVERITIES if by_severity[sev])
        count = len(drift.new)
        return text + (
            f" The first audit of its source, nothing to compare with: {count} finding{'s' if count != 1 else ''}"
            + (f" ({worst})." if worst else ".")
        )
    counts = drift.counts()
    return text + f" Since audit #{drift.previous}: {schedule_drift.summary(counts)}."


def _item_line(item: dict) -> str:
    severity = item["severity"]
    if "previous_severity" in item:
        severity = f"{item['previous_severity']} → {severity}"
    line = f"• *{severity}* {_plain(item['title'])}"
    if item["principal_name"]:
        line += f" ({item['principal_type']} {_plain(item['principal_name'])})"
    if item["account_id"]:
        line += f" in {_plain(item['account_id'])}"
    return line


def _member_rows(drift: schedule_drift.Drift, names: dict[str, str]) -> list[dict]:
    """Each member account with any drift, most first: account id, name and its three counts."""
    members = drift.counts().get("members") or {}
    rows = [{"account_id": account, "name": names.get(account, ""), **counts} for account, counts in members.items()]
    return sorted(rows, key=lambda row: (-sum(row[kind] for kind in schedule_drift.KINDS), row["account_id"]))


def _member_line(row: dict) -> str:
    name = f" ({_plain(row['name'])})" if row["name"] else ""
    return f"• {row['account_id']}{name}: {schedule_drift.summary({'previous': 0, **row})}"


def _links_block(url: str, compare_url: str, previous: int | None) -> dict:
    links = [("Open audit", url)] + ([(f"Compare with #{previous}", compare_url)] if compare_url else [])
    if url.startswith("https://"):
        return {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": label}, "url": link} for label, link in links
            ],
        }
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(link for _, link in links)}]}


def _plain(text: str) -> str:
    # IAM names are attacker-controlled: keep Slack from reading them as mentions or links.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")[:300]


def test_message(user) -> dict:
    text = f"Aegis IAM: test message for {user.get_username()}. Finished audits will be announced here with what is "
    text += "new, resolved or changed in severity since the previous audit of the same source."
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _plain(text)}}]}


def notify_finished(run_id: int) -> str:
    """Announce what a finished run found new, resolved or changed since the previous run of its source to its
    owner's webhook. An organization run sends one message, its member accounts' drift in it; a member account's
    own run sends none. Returns what happened."""
    try:
        run = AuditRun.objects.defer("result", "checkpoint").select_related("owner").filter(pk=run_id).first()
        if run is None or run.status != AuditRun.Status.COMPLETED:
            return "not a completed run"
        if run.parent_id is not None:
            return "announced with its organization run"
        row = UserSettings.objects.filter(user_id=run.owner_id).exclude(webhook_url="").first()
        if row is None:
            return "no webhook"
        drift = schedule_drift.drift_of(run)
        if not drift.total:
            return "nothing new"
        if not worth_sending(drift, row.webhook_threshold):
            return "below the threshold"
        if not cache.add(SENT_KEY.format(run_id=run.pk), 1, SENT_TTL_S):
            return "already sent"
        error = deliver(row.webhook_url, message_for(run, drift, _member_names(run) if drift.organization else None))
    except Exception:  # the audit is done and recorded; a notification problem must never surface as its failure
        log.exception("webhook for run %s failed", run_id)
        return "error"
    if error:
        log.warning("webhook for run %s of user %s: %s", run_id, run.owner_id, error)
        return error
    return "sent"


def worth_sending(drift: schedule_drift.Drift, threshold: str) -> bool:
    """Whether a run's drift reaches a webhook threshold: any change, or a new or worsened finding at or above a
    severity (the module docstring has the rules)."""
    rank = schedule_drift.RANK
    limit = rank.get(threshold)
    if limit is None:  # "any", or a value no choice has (never silence a webhook over it)
        return bool(drift.total)
    unknown = len(rank)  # a severity outside the list ranks below info
    if any(rank.get(severity, unknown) <= limit for severity in drift.new_by_severity):
        return True
    return any(
        rank.get(drift.after[key], unknown) <= limit
        and rank.get(drift.after[key], unknown) < rank.get(drift.before[key], unknown)
        for key in drift.changed
    )


def _member_names(run: AuditRun) -> dict[str, str]:
    """account id -> the account's name in the organization, from the member runs."""
    rows = AuditRun.objects.filter(parent_id=run.pk).values_list("account_id", "target")
    return {account: str((target or {}).get("account_name") or "") for account, target in rows if account}
