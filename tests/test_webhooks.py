"""Webhooks: one Slack-compatible call for new critical/high findings, to a real local HTTP server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.cache import cache

from audits import webhooks
from audits.models import AuditRun, UserSettings
from tests.helpers import make_run
from tests.view_helpers import make_completed_run, make_finding

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server on 127.0.0.1 that records posted JSON and answers with a chosen status."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        received: list = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def local_http(settings):
    settings.AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP = True
    settings.AEGIS_WEBHOOK_TIMEOUT_S = 2
    cache.clear()


def hook(user, url: str) -> None:
    UserSettings.objects.update_or_create(user=user, defaults={"webhook_url": url})


def test_it_announces_what_is_new_resolved_and_changed_since_the_previous_run_of_the_source(alice):
    previous = make_completed_run(
        alice,
        [
            make_finding("old", severity="critical"),
            make_finding("gone", severity="high"),
            make_finding("rated", severity="medium"),
            make_finding("muted-before", severity="high", suppressed=True),
        ],
    )
    other = make_run(alice, source=AuditRun.Source.SNAPSHOT, status=AuditRun.Status.COMPLETED)  # another source
    run = make_completed_run(
        alice,
        [
            make_finding("old", severity="critical"),
            make_finding("rated", severity="critical"),
            make_finding("new", severity="high"),
            make_finding("minor", severity="medium", title="<!channel> minor"),
            make_finding("muted-now", severity="critical", suppressed=True, muted_by="rule #1: lab"),
        ],
    )
    with Receiver() as receiver:
        hook(alice, receiver.url)
        assert webhooks.notify_finished(run.pk) == "sent"
    [message] = receiver.received
    assert f"Since audit #{previous.pk}: 2 new, 1 resolved, 1 changed in severity." in message["text"]
    assert f"/audits/{run.pk}/compare?with={previous.pk}" in message["text"] and f"#{other.pk}" not in message["text"]
    sections = [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]
    assert sections[1].splitlines() == [
        "*New (2)*",
        "• *high* Finding new (role new)",
        "• *medium* &lt;!channel&gt; minor (role minor)",  # IAM names cannot mention or link in Slack
    ]
    assert sections[2].splitlines() == ["*Resolved (1)*", "• *high* Finding gone (role gone)"]
    assert sections[3].splitlines() == ["*Changed in severity (1)*", "• *medium → critical* Finding rated (role rated)"]
    assert "muted" not in json.dumps(message["blocks"])  # muted now or before: neither new nor resolved
    data = message["aegis"]
    assert (data["run"], data["previous"], data["organization"]) == (run.pk, previous.pk, False)
    assert [data[kind]["count"] for kind in ("new", "resolved", "changed")] == [2, 1, 1]
    changed = data["changed"]["top"][0]
    assert (changed["fingerprint"], changed["severity"]) == ("rated", "critical")
    assert changed["previous_severity"] == "medium"
    assert data["compare_url"] == f"/audits/{run.pk}/compare?with={previous.pk}"
    # Without AEGIS_PUBLIC_URL the links are paths, shown as text (a Slack button needs an https URL).
    assert message["blocks"][-1]["type"] == "context"


def test_it_lists_the_worst_few_of_each_kind_and_counts_the_rest(alice, settings):
    settings.AEGIS_PUBLIC_URL = "https://aegis.example.com"
    make_completed_run(alice, [make_finding(f"gone{i}", severity="low") for i in range(7)])
    severities = ["low", "critical", "info", "high", "medium", "critical", "low", "high"]
    run = make_completed_run(alice, [make_finding(f"n{i}", severity=sev) for i, sev in enumerate(severities)])
    with Receiver() as receiver:
        hook(alice, receiver.url)
        assert webhooks.notify_finished(run.pk) == "sent"
    [message] = receiver.received
    new = message["blocks"][1]["text"]["text"].splitlines()
    assert new[0] == "*New (8)*" and new[-1] == "… and 3 more"
    assert [line.split("*")[1] for line in new[1:-1]] == ["critical", "critical", "high", "high", "medium"]
    assert message["blocks"][2]["text"]["text"].splitlines()[-1] == "… and 2 more"
    buttons = message["blocks"][-1]["elements"]
    assert [b["url"] for b in buttons] == [
        f"https://aegis.example.com/audits/{run.pk}/",
        f"https://aegis.example.com/audits/{run.pk}/compare?with={run.pk - 1}",
    ]
    assert message["aegis"]["new"]["count"] == 8 and len(message["aegis"]["new"]["top"]) == webhooks.LISTED


def test_a_first_audit_of_its_source_says_so_with_its_findings(alice):
    run = make_completed_run(
        alice,
        [make_finding("a", severity="critical"), make_finding("b", severity="high"), make_finding("c", severity="low")],
    )
    with Receiver() as receiver:
        hook(alice, receiver.url)
        assert webhooks.notify_finished(run.pk) == "sent"
    [message] = receiver.received
    said = "The first audit of its source, nothing to compare with: 3 findings (1 critical, 1 high)."
    assert said in message["text"]
    assert message["aegis"]["previous"] is None and message["aegis"]["compare_url"] == ""


def test_it_sends_once_per_run_and_nothing_when_nothing_is_new(alice):
    first = make_completed_run(alice, [make_finding("a", severity="critical")])
    same = make_completed_run(alice, [make_finding("a", severity="critical")])
    with Receiver() as receiver:
        hook(alice, receiver.url)
        assert webhooks.notify_finished(first.pk) == "sent"
        assert webhooks.notify_finished(first.pk) == "already sent"
        assert webhooks.notify_finished(same.pk) == "nothing new"
    assert len(receiver.received) == 1


def test_it_never_fails_on_a_broken_webhook(alice, settings):
    run = make_completed_run(alice, [make_finding("a", severity="critical")])
    with Receiver(status=500) as receiver:
        hook(alice, receiver.url)
        assert webhooks.notify_finished(run.pk) == "the webhook answered HTTP 500"
    assert len(receiver.received) == 1  # one attempt, no retries
    cache.clear()
    hook(alice, "http://127.0.0.1:9/closed")  # nothing listens there
    assert webhooks.notify_finished(run.pk).startswith("could not reach the webhook")


def test_it_follows_no_redirect(alice):
    run = make_completed_run(alice, [make_finding("a", severity="critical")])
    with Receiver() as target, Receiver(status=307, location=target.url) as redirector:
        hook(alice, redirector.url)
        assert webhooks.notify_finished(run.pk) == "the webhook answered HTTP 307"
    assert len(redirector.received) == 1 and target.received == []


def test_it_ignores_runs_without_a_webhook_or_not_completed(alice):
    failed = make_run(alice, status=AuditRun.Status.FAILED)
    assert webhooks.notify_finished(failed.pk) == "not a completed run"
    run = make_completed_run(alice, [make_finding("a", severity="critical")])
    assert webhooks.notify_finished(run.pk) == "no webhook"
    assert webhooks.notify_finished(999999) == "not a completed run"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/x", "must use https"),
        ("ftp://example.com/x", "must use https"),
        ("https://user:pw@example.com/x", "without a user name"),
        ("https://127.0.0.1/x", "public address"),
        ("https://10.0.0.5/x", "public address"),
        ("https://169.254.169.254/latest", "public address"),
        ("https://[::1]/x", "public address"),
        ("https://host.invalid/x", "could not be resolved"),
    ],
)
def test_it_validates_webhook_urls(url, words):
    assert words in webhooks.validate_url(url)


def test_it_allows_local_http_only_when_configured(settings):
    assert webhooks.validate_url("http://localhost:8080/hook") == ""
    settings.AEGIS_WEBHOOK_ALLOW_LOCAL_HTTP = False
    assert "https" in webhooks.validate_url("http://localhost:8080/hook")


def test_it_saves_tests_and_refuses_webhooks_on_the_settings_page(client, alice, bob):
    client.force_login(alice)
    page = client.post("/settings/webhook", {"webhook_url": "http://hooks.example.com/x"}, follow=True)
    assert "must use https" in page.text and not UserSettings.objects.exists()
    with Receiver() as receiver:
        client.post("/settings/webhook", {"webhook_url": receiver.url})
        page = client.post("/settings/webhook/test", follow=True)
    assert "Test message delivered." in page.text and "test message for alice" in receiver.received[0]["text"]
    client.post("/settings/webhook", {"webhook_url": ""})
    assert UserSettings.objects.get(user=alice).webhook_url == ""
    assert client.get("/settings/webhook").status_code == 405
    assert client.get("/settings/webhook/test").status_code == 405
    client.logout()
    assert client.post("/settings/webhook", {"webhook_url": receiver.url}).status_code == 302  # to sign-in
    assert UserSettings.objects.get(user=alice).webhook_url == ""


def threshold(user, url: str, value: str) -> None:
    UserSettings.objects.update_or_create(user=user, defaults={"webhook_url": url, "webhook_threshold": value})


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("any", "sent"),
        ("info", "sent"),  # the new low finding
        ("low", "sent"),
        ("medium", "sent"),  # "worse" rose from low to medium
        ("high", "below the threshold"),  # "gone" high was resolved and "better" fell from high: neither counts
        ("critical", "below the threshold"),
    ],
)
def test_it_sends_only_for_a_new_or_worsened_finding_at_or_above_the_threshold(alice, value, outcome):
    make_completed_run(
        alice,
        [
            make_finding("same", severity="critical"),
            make_finding("gone", severity="high"),
            make_finding("better", severity="high"),
            make_finding("worse", severity="low"),
        ],
    )
    run = make_completed_run(
        alice,
        [
            make_finding("same", severity="critical"),
            make_finding("better", severity="medium"),
            make_finding("worse", severity="medium"),
            make_finding("fresh", severity="low"),
        ],
    )
    with Receiver() as receiver:
        threshold(alice, receiver.url, value)
        assert webhooks.notify_finished(run.pk) == outcome
    assert len(receiver.received) == (1 if outcome == "sent" else 0)
    if receiver.received:  # the threshold decides whether to send, not what is said
        data = receiver.received[0]["aegis"]
        assert [data[kind]["count"] for kind in ("new", "resolved", "changed")] == [1, 1, 2]


def test_a_high_threshold_sends_one_message_for_a_new_high_finding_and_none_for_a_resolved_one(alice):
    make_completed_run(alice, [make_finding("kept", severity="low"), make_finding("gone", severity="critical")])
    resolved_only = make_completed_run(alice, [make_finding("kept", severity="low")])
    with Receiver() as receiver:
        threshold(alice, receiver.url, "high")
        assert webhooks.notify_finished(resolved_only.pk) == "below the threshold"
        new_high = make_completed_run(alice, [make_finding("kept", severity="low"), make_finding("admin")])
        assert webhooks.notify_finished(new_high.pk) == "sent"
        assert webhooks.notify_finished(new_high.pk) == "already sent"
    [message] = receiver.received
    assert message["aegis"]["run"] == new_high.pk and message["aegis"]["new"]["top"][0]["fingerprint"] == "admin"


def test_resolved_findings_alone_send_only_on_any_change(alice):
    make_completed_run(alice, [make_finding("kept", severity="info"), make_finding("gone", severity="critical")])
    run = make_completed_run(alice, [make_finding("kept", severity="info")])
    with Receiver() as receiver:
        threshold(alice, receiver.url, "info")
        assert webhooks.notify_finished(run.pk) == "below the threshold"
        threshold(alice, receiver.url, "any")
        assert webhooks.notify_finished(run.pk) == "sent"
    [message] = receiver.received
    assert message["aegis"]["resolved"]["count"] == 1 and message["aegis"]["new"]["count"] == 0


def test_a_first_audit_counts_all_its_findings_as_new_against_the_threshold(alice):
    run = make_completed_run(alice, [make_finding("a", severity="high"), make_finding("b", severity="low")])
    with Receiver() as receiver:
        threshold(alice, receiver.url, "critical")
        assert webhooks.notify_finished(run.pk) == "below the threshold"
        threshold(alice, receiver.url, "high")
        assert webhooks.notify_finished(run.pk) == "sent"
    assert len(receiver.received) == 1


def test_existing_settings_keep_announcing_any_change(alice):
    # A row saved before thresholds existed reads the field's default, the behaviour it always had.
    assert UserSettings.objects.create(user=alice).webhook_threshold == UserSettings.WebhookThreshold.ANY


def test_it_saves_a_threshold_and_refuses_an_unknown_one_on_the_settings_page(client, alice):
    client.force_login(alice)
    with Receiver() as receiver:
        unknown = {"webhook_url": receiver.url, "webhook_threshold": "urgent"}
        page = client.post("/settings/webhook", unknown, follow=True)
        assert page.status_code == 200 and "Choose when to send a message" in page.text
        assert not UserSettings.objects.exists()
        client.post("/settings/webhook", {"webhook_url": receiver.url, "webhook_threshold": "high"})
        assert UserSettings.objects.get(user=alice).webhook_threshold == "high"
        page = client.get("/settings/tokens")
        assert '<option value="high" selected>' in page.text
        client.post("/settings/webhook", {"webhook_url": receiver.url})  # a threshold left out keeps the saved one
        assert UserSettings.objects.get(user=alice).webhook_threshold == "high"
        client.post("/settings/webhook", {"webhook_url": receiver.url, "webhook_threshold": "critical"})
        # The test message checks the URL: no threshold holds it back.
        page = client.post("/settings/webhook/test", follow=True)
    assert "Test message delivered." in page.text and len(receiver.received) == 1
    assert UserSettings.objects.get(user=alice).webhook_threshold == "critical"
