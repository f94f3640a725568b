"""An open stream closes within a heartbeat of its access ending, with a final frame saying why,
and a reconnect is refused (quick_server: AEGIS_SSE_HEARTBEAT_S=1)."""

from collections.abc import Callable
from datetime import timedelta

import httpx
from django.contrib.sessions.models import Session
from django.utils import timezone

from audits.models import ApiToken, AuditEvent, AuditRun
from audits.runs.recorder import Recorder
from audits.tokens import create_token
from tests.helpers import make_run, session_cookie, sse_events


def live_run(owner) -> AuditRun:
    run = make_run(owner, status=AuditRun.Status.RUNNING)
    Recorder(run.pk).emit("start", "Audit started", 5)
    return run


def follow_until_closed(url: str, headers: dict, then: Callable[[], None]) -> list[dict]:
    """Read the first event, do `then`, and return every data frame until the server ends the stream."""
    with httpx.Client(timeout=20) as client, client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        frames = sse_events(response)
        assert next(f for f in frames if "data" in f)["data"]["seq"] == 1
        then()
        rest, pings = [], 0
        for frame in frames:
            pings += frame.get("comment") == "ping"
            if "data" in frame:
                rest.append(frame["data"])
            if pings > 10:  # ten heartbeats without closing: give up (the assertion then fails)
                break
        return rest


def update(model, pk: int, **fields) -> Callable[[], None]:
    return lambda: model.objects.filter(pk=pk).update(**fields)


def cookie_header(user) -> dict:
    return {"Cookie": f"sessionid={session_cookie(user)['sessionid']}"}


def assert_closed(rest: list[dict], reason: str) -> None:
    assert rest and rest[-1]["type"] == "closed", rest
    assert rest[-1]["reason"] == reason
    assert rest[-1]["message"]


def test_it_closes_a_stream_at_logout(quick_server, alice):
    run = live_run(alice)
    url = f"{quick_server}/audits/{run.pk}/events"
    headers = cookie_header(alice)
    key = headers["Cookie"].split("=", 1)[1]
    rest = follow_until_closed(url, headers, lambda: Session.objects.filter(session_key=key).delete())
    assert_closed(rest, "signed_out")
    assert httpx.get(url, headers=headers).status_code == 401


def test_it_closes_a_stream_when_the_password_changes(quick_server, alice):
    run = live_run(alice)
    url = f"{quick_server}/audits/{run.pk}/events"
    headers = cookie_header(alice)

    def change() -> None:
        alice.set_password("a-new-password-456")
        alice.save()

    assert_closed(follow_until_closed(url, headers, change), "password_changed")
    assert httpx.get(url, headers=headers).status_code == 401


def test_it_closes_a_stream_when_the_account_is_deactivated(quick_server, alice):
    run = live_run(alice)
    url = f"{quick_server}/audits/{run.pk}/events"
    headers = cookie_header(alice)
    rest = follow_until_closed(url, headers, update(type(alice), alice.pk, is_active=False))
    assert_closed(rest, "deactivated")
    assert httpx.get(url, headers=headers).status_code == 401


def test_it_closes_a_stream_when_its_token_is_revoked_or_expires(quick_server, alice):
    run = live_run(alice)
    url = f"{quick_server}/api/v1/audits/{run.pk}/events"
    for field, reason in (("revoked", "token_revoked"), ("expires_at", "token_expired")):
        token, raw = create_token(alice, reason)
        headers = {"Authorization": f"Bearer {raw}"}
        ends = update(ApiToken, token.pk, **{field: timezone.now()})
        assert_closed(follow_until_closed(url, headers, ends), reason)
        assert httpx.get(url, headers=headers).status_code == 401


def test_it_closes_a_reviewers_stream_when_staff_is_removed(quick_server, alice, reviewer):
    run = live_run(alice)
    url = f"{quick_server}/audits/{run.pk}/events"
    headers = cookie_header(reviewer)
    rest = follow_until_closed(url, headers, update(type(reviewer), reviewer.pk, is_staff=False))
    assert_closed(rest, "forbidden")
    assert httpx.get(url, headers=headers).status_code == 404


def test_it_closes_a_replay_when_access_ends(quick_server, alice):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    rec = Recorder(run.pk)
    for i in range(1, 4):
        rec.emit("progress", f"step {i}", i)
    # Ten minutes between events: at speed 1 the replay would sit in the 30 s gap cap.
    for event in AuditEvent.objects.filter(run=run):
        AuditEvent.objects.filter(pk=event.pk).update(created=timezone.now() + timedelta(minutes=10 * event.seq))
    AuditRun.objects.filter(pk=run.pk).update(status=AuditRun.Status.COMPLETED)
    url = f"{quick_server}/audits/{run.pk}/replay"
    headers = cookie_header(alice)
    rest = follow_until_closed(url, headers, update(type(alice), alice.pk, is_active=False))
    assert_closed(rest, "deactivated")


def test_it_keeps_streams_whose_access_holds(quick_server, alice):
    run = live_run(alice)
    url = f"{quick_server}/audits/{run.pk}/events"
    with httpx.Client(timeout=20) as client, client.stream("GET", url, headers=cookie_header(alice)) as response:
        pings = 0
        for frame in sse_events(response):
            assert frame.get("data", {}).get("type") != "closed"
            pings += frame.get("comment") == "ping"
            if pings == 3:  # three heartbeats, so three re-checks, went by
                break
    assert pings == 3
