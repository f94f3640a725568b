"""What a stream sends, independent of how it is served (lean ASGI app or Django view).

`open_stream` does every DB read a new viewer needs in one trip to the hub's thread pool:
who is asking, whether they may see the run, and the stored events after their last seq.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection

from audits import frames
from audits.hub import get_hub, run_db
from audits.models import AuditEvent, AuditRun

# A gap longer than this (a paused run, say) is shortened before the speed divides it.
REPLAY_MAX_GAP_S = 30.0
MAX_SPEED = 100


class StreamError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_after(last_event_id: str | None, after: str | None) -> int:
    """The Last-Event-ID header wins over ?after=, as a browser reconnect sends the header."""
    raw = last_event_id if last_event_id not in (None, "") else after
    if raw in (None, ""):
        return 0
    raw = raw.strip()
    if not raw.isdigit():
        raise StreamError(400, f"Invalid event id {raw[:40]!r}: expected a whole number >= 0.")
    value = int(raw)
    if value > 2**31:
        raise StreamError(400, "Invalid event id: too large.")
    return value


def parse_speed(raw: str | None) -> float:
    if raw in (None, ""):
        return 1.0
    try:
        speed = float(raw)
    except ValueError:
        raise StreamError(400, f"Invalid speed {raw[:20]!r}: expected a number from 1 to {MAX_SPEED}.") from None
    if not (1 <= speed <= MAX_SPEED):
        raise StreamError(400, f"Invalid speed {raw[:20]!r}: expected a number from 1 to {MAX_SPEED}.")
    return speed


@dataclass
class RunState:
    pk: int
    owner_id: int
    status: str
    last_seq: int

    @property
    def is_finished(self) -> bool:
        return self.status in AuditRun.FINISHED


def visible_run(user: AbstractBaseUser | AnonymousUser, run_id: int) -> RunState:
    if not user.is_authenticated:
        raise StreamError(401, "Sign in to follow this audit.")
    # Plain SQL: this runs on every stream opening, where the ORM's query building dominated.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT owner_id, status, last_seq FROM {AuditRun._meta.db_table} WHERE id = %s", [run_id])
        row = cursor.fetchone()
    # Strangers get the same answer whether the run exists or not.
    if row is None or (row[0] != user.pk and not user.is_staff):
        raise StreamError(404, "No such audit.")
    return RunState(run_id, *row)


@dataclass
class Opening:
    run_id: int
    after: int
    backlog: list[bytes]
    backlog_seq: int
    finished: bool


def _stored_after(run: RunState, after: int) -> tuple[list[bytes], int, bool]:
    if run.last_seq <= after:
        # The usual reconnect: the viewer already has everything stored.
        return [], after, run.is_finished
    events = list(AuditEvent.objects.filter(run_id=run.pk, seq__gt=after).order_by("seq"))
    backlog = [frames.encode(event) for event in events]
    last = events[-1].seq if events else after
    finished = run.is_finished or any(e.type in frames.TERMINAL_TYPES for e in events)
    return backlog, last, finished and last >= run.last_seq


def open_stream(user, run_id: int, after: int) -> Opening:
    run = visible_run(user, run_id)
    backlog, last, finished = _stored_after(run, after)
    return Opening(run_id, after, backlog, last, finished)


def _events_between(run_id: int, after: int, upto: int) -> list[bytes]:
    events = AuditEvent.objects.filter(run_id=run_id, seq__gt=after, seq__lte=upto).order_by("seq")
    return [frames.encode(event) for event in events]


async def live_frames(opening: Opening) -> AsyncIterator[bytes]:
    """retry, the stored backlog, then new frames as the hub gets them, until the run ends.

    Frames that are ready together go out as one chunk: one write per viewer, not per event."""
    yield frames.retry_frame(settings.AEGIS_SSE_RETRY_MS) + b"".join(opening.backlog)
    if opening.finished:
        return
    hub = get_hub()
    channel = hub.subscribe(opening.run_id, opening.backlog_seq)
    sent = opening.backlog_seq
    heartbeat = channel.heartbeat
    loop = asyncio.get_running_loop()
    try:
        while True:
            if channel.base_seq > sent:
                # The channel started after our backlog read: fill the gap from the table.
                yield b"".join(await run_db(_events_between, opening.run_id, sent, channel.base_seq))
                sent = channel.base_seq
            if channel.last_seq > sent:
                yield b"".join(channel.frames_after(sent))
                sent = channel.last_seq
                heartbeat = channel.heartbeat
            if channel.finished and sent >= channel.last_seq:
                return
            if channel.heartbeat != heartbeat:
                heartbeat = channel.heartbeat
                yield frames.PING
            waiter = loop.create_future()
            channel.waiters.append(waiter)
            await waiter
    finally:
        hub.unsubscribe(channel)


@dataclass
class ReplayOpening:
    events: list[tuple[datetime, bytes]]


def open_replay(user, run_id: int, after: int) -> ReplayOpening:
    run = visible_run(user, run_id)
    if not run.is_finished:
        raise StreamError(409, "Replay is available once the audit has finished.")
    events = AuditEvent.objects.filter(run_id=run.pk, seq__gt=after).order_by("seq")
    return ReplayOpening([(event.created, frames.encode(event)) for event in events])


async def replay_frames(opening: ReplayOpening, speed: float) -> AsyncIterator[bytes]:
    yield frames.retry_frame(settings.AEGIS_SSE_RETRY_MS)
    previous: datetime | None = None
    for created, frame in opening.events:
        if previous is not None:
            gap = min((created - previous).total_seconds(), REPLAY_MAX_GAP_S)
            if gap > 0:
                await asyncio.sleep(gap / speed)
        previous = created
        yield frame


def open_kind(kind: str, user, run_id: int, after: int) -> Opening | ReplayOpening:
    """The DB half of opening either stream path ("events" or "replay"); run it off the event loop."""
    return (open_stream if kind == "events" else open_replay)(user, run_id, after)


def body_for(kind: str, opening: Opening | ReplayOpening, speed: float) -> AsyncIterator[bytes] | None:
    """The frames to send; None when a finished run has nothing left, which is answered with 204
    because that tells EventSource the stream is over (instead of re-polling a finished run forever)."""
    if kind == "replay":
        return replay_frames(opening, speed)
    if opening.finished and not opening.backlog:
        return None
    return live_frames(opening)
