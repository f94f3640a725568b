"""Limits with clear answers: streams per user, replays read in pages, fair opens.
(The header-read deadline is in test_stream_app.py.)"""

import asyncio
import contextlib

import httpx
import pytest

from audits.models import AuditRun
from audits.runs.recorder import Recorder
from audits.stream import access, opening
from audits.stream.access import Grant, Lease
from audits.stream.auth import Credential
from audits.stream.db import in_request_thread
from tests.helpers import make_finished_run, make_run, session_cookie


def test_it_refuses_streams_over_the_per_user_limit_with_429(quick_server, alice, bob):
    run = make_run(alice, status=AuditRun.Status.RUNNING)
    Recorder(run.pk).emit("start", "started", 1)
    url = f"{quick_server}/audits/{run.pk}/events"
    cookies = session_cookie(alice)
    with httpx.Client(timeout=20, cookies=cookies) as client, contextlib.ExitStack() as tabs:
        for _ in range(3):  # AEGIS_MAX_STREAMS_PER_USER=3 on quick_server
            assert tabs.enter_context(client.stream("GET", url)).status_code == 200
        refused = httpx.get(url, cookies=session_cookie(alice))  # even from another session
        assert refused.status_code == 429
        assert "at most 3" in refused.text
        assert refused.headers["x-content-type-options"] == "nosniff"
        other = make_run(bob, status=AuditRun.Status.COMPLETED)
        assert httpx.get(f"{quick_server}/audits/{other.pk}/events", cookies=session_cookie(bob)).status_code == 204
    with httpx.Client(timeout=20, cookies=cookies) as client, client.stream("GET", url) as again:
        assert again.status_code == 200  # closed tabs gave their places back


@pytest.mark.django_db(transaction=True)
def test_it_reads_a_replay_in_pages(alice, monkeypatch):
    monkeypatch.setattr(opening, "REPLAY_PAGE", 4)
    run = make_finished_run(alice, count=10)
    pages: list[int] = []

    async def read(fn, *args):
        result = await in_request_thread(fn, *args)
        pages.append(len(result))
        return result

    async def replay() -> list[bytes]:
        lease = Lease(Grant((Credential("session", "k"), run.pk, alice.pk)))
        body = opening.replay_frames(opening.ReplayOpening(run.pk, alice.pk, 0), 100.0, lease, read)
        return [frame async for frame in body]

    sent = asyncio.run(replay())
    assert pages == [4, 4, 2]
    assert [frame.split(b"\n", 1)[0] for frame in sent[1:]] == [f"id: {i}".encode() for i in range(1, 11)]


def test_it_lets_no_credential_queue_the_opens_of_others():
    entered: list[str] = []
    busy: dict[str, int] = {"greedy": 0}
    peak = 0

    async def open_as(name: str, credential: Credential) -> None:
        nonlocal peak
        async with access.open_slot(credential):
            entered.append(name)
            if name == "greedy":
                busy["greedy"] += 1
                peak = max(peak, busy["greedy"])
            await asyncio.sleep(0.01)  # the DB trip
            if name == "greedy":
                busy["greedy"] -= 1

    async def scenario() -> None:
        greedy = Credential("session", "greedy-session")
        opens = [open_as("greedy", greedy) for _ in range(50)]
        await asyncio.gather(*opens, open_as("polite", Credential("session", "polite-session")))

    asyncio.run(scenario())
    assert peak == access.OPENS_IN_FLIGHT
    assert entered.index("polite") <= access.OPENS_IN_FLIGHT  # not behind the other 48
    assert access._open_slots == {}
