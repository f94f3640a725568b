"""What a stream sends, independent of how it is served (lean ASGI app or Django view).

`open_kind` does every DB read a new viewer needs in one trip to the hub's thread pool: who is
asking, whether they may see the run, and the stored events after their last seq. The bodies
then follow the hub (live) or page through the log (replay) until the run ends or the viewer's
access does.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from audits.models import AuditEvent, AuditRun
from audits.stream import frames
from audits.stream.access import Grant, Lease
from audits.stream.auth import Credential, Identity, identify, may_see
from audits.stream.db import DbRunner
from audits.stream.errors import StreamError
from audits.stream.hub import get_hub

# A gap longer than this (a paused run, say) is shortened before the speed divides it.
REPLAY_MAX_GAP_S = 30.0
MAX_SPEED = 100
MIN_SPEED = 0.25  # slow enough to read each row as it arrives
# A replay holds one page of the log at a time, not the whole run.
REPLAY_PAGE = 500
MAX_RUN_ID = 2**63 - 1  # the largest id a bigint column holds; larger ones overflow SQLite's driver
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() also accepts "²" and "٣"


def parse_after(last_event_id: str | None, after: str | None) -> int:
    """The Last-Event-ID header wins over ?after=, as a browser reconnect sends the header."""
    raw = last_event_id if last_event_id not in (None, "") else after
    if raw in (None, ""):
        return 0
    raw = raw.strip()
    if not _WHOLE_NUMBER.fullmatch(raw):
        if raw.isascii() and raw.isdigit():
            raise StreamError(400, "Invalid event id: too large.")
        raise StreamError(400, f"Invalid event id {raw[:40]!r}: expected a whole number >= 0.")
    value = int(raw)
    if value > 2**31:
        raise StreamError(400, "Invalid event id: too large.")
    return value


def parse_speed(raw: str | None) -> float:
    if raw in (None, ""):
        return 1.0
    expected = f"expected a number from {MIN_SPEED:g} to {MAX_SPEED}"
    try:
        speed = float(raw)
    except ValueError:
        raise StreamError(400, f"Invalid speed {raw[:20]!r}: {expected}.") from None
    if not (MIN_SPEED <= speed <= MAX_SPEED):  # also refuses nan
        raise StreamError(400, f"Invalid speed {raw[:20]!r}: {expected}.")
    return speed


@dataclass
class RunState:
    viewer_id: int
    pk: int
    owner_id: int
    status: str
    last_seq: int

    @property
    def is_finished(self) -> bool:
        return self.status in AuditRun.FINISHED


def visible_run(identity: Identity, run_id: int) -> RunState:
    user = identity.user
    if user is None:
        raise StreamError(401, identity.message)
    row = None
    if 0 < run_id <= MAX_RUN_ID:
        # Plain SQL: this runs on every stream opening, where the ORM's query building dominated.
        with connection.cursor() as cursor:
            sql = f"SELECT owner_id, status, last_seq FROM {AuditRun._meta.db_table} WHERE id = %s"
            cursor.execute(sql, [run_id])
            row = cursor.fetchone()
    # Strangers get the same answer whether the run exists or not.
    if row is None or not may_see(user, row[0]):
        raise StreamError(404, "No such audit.")
    return RunState(user.pk, run_id, *row)


@dataclass
class Opening:
    run_id: int
    user_id: int
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


def open_live(identity: Identity, run_id: int, after: int) -> Opening:
    run = visible_run(identity, run_id)
    # An id past the run's end (a stale or forged Last-Event-ID) would start the shared channel
    # beyond the real log, and every viewer of the run would wait for seqs that never come.
    after = min(after, run.last_seq)
    backlog, last, finished = _stored_after(run, after)
    return Opening(run_id, run.viewer_id, after, backlog, last, finished)


def _events_between(run_id: int, after: int, upto: int) -> list[bytes]:
    events = AuditEvent.objects.filter(run_id=run_id, seq__gt=after, seq__lte=upto).order_by("seq")
    return [frames.encode(event) for event in events]


async def live_frames(opening: Opening, lease: Lease, read: DbRunner) -> AsyncIterator[bytes]:
    """retry, the stored backlog, then new frames as the hub gets them, until the run ends.

    Frames that are ready together go out as one chunk: one write per viewer, not per event."""
    grant = lease.grant
    try:
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
                if grant.closed is not None:
                    yield frames.closed_frame(grant.closed.reason, grant.closed.message)
                    return
                if channel.base_seq > sent:
                    # The channel started after our backlog read: fill the gap from the table.
                    yield b"".join(await read(_events_between, opening.run_id, sent, channel.base_seq))
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
    finally:
        lease.release()


@dataclass
class ReplayOpening:
    run_id: int
    user_id: int
    after: int


def open_replay(identity: Identity, run_id: int, after: int) -> ReplayOpening:
    run = visible_run(identity, run_id)
    if not run.is_finished:
        raise StreamError(409, "Replay is available once the audit has finished.")
    return ReplayOpening(run_id, run.viewer_id, after)


def _replay_page(run_id: int, after: int) -> list[tuple[int, float, bytes]]:
    """The next page of the log by keyset (seq > after), so a replay never holds the whole run."""
    events = AuditEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:REPLAY_PAGE]
    return [(event.seq, event.created.timestamp(), frames.encode(event)) for event in events]


async def _pause(seconds: float, grant: Grant) -> None:
    # Slept in slices so a heartbeat that closes the grant ends a long gap too.
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while grant.closed is None and (left := end - loop.time()) > 0:
        await asyncio.sleep(min(left, 1.0))


async def replay_frames(opening: ReplayOpening, speed: float, lease: Lease, read: DbRunner) -> AsyncIterator[bytes]:
    grant = lease.grant
    try:
        get_hub()  # its heartbeat re-checks this replay's access
        yield frames.retry_frame(settings.AEGIS_SSE_RETRY_MS)
        previous: float | None = None
        after = opening.after
        while page := await read(_replay_page, opening.run_id, after):
            for seq, created, frame in page:
                if previous is not None:
                    gap = min(created - previous, REPLAY_MAX_GAP_S)
                    if gap > 0:
                        await _pause(gap / speed, grant)
                if grant.closed is not None:
                    yield frames.closed_frame(grant.closed.reason, grant.closed.message)
                    return
                previous = created
                after = seq
                yield frame
            if len(page) < REPLAY_PAGE:
                return
    finally:
        lease.release()


def open_kind(kind: str, credential: Credential, run_id: int, after: int) -> Opening | ReplayOpening:
    """The DB half of opening either stream path ("events" or "replay"); run it off the event loop."""
    identity = identify(credential, touch=True)
    return (open_live if kind == "events" else open_replay)(identity, run_id, after)


def is_empty(opening: Opening | ReplayOpening) -> bool:
    """A finished run with nothing left is answered with 204, which tells EventSource the stream is
    over (instead of re-polling a finished run forever)."""
    return isinstance(opening, Opening) and opening.finished and not opening.backlog


def body_for(
    opening: Opening | ReplayOpening, speed: float, lease: Lease, read: DbRunner, replay_read: DbRunner
) -> AsyncIterator[bytes]:
    if isinstance(opening, ReplayOpening):
        return replay_frames(opening, speed, lease, replay_read)
    return live_frames(opening, lease, read)
