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
from audits.runs.access import may_see
from audits.stream import frames
from audits.stream.access import Grant, Lease
from audits.stream.auth import Credential, Identity, identify
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
    backlog: list[bytes]  # the first page of stored frames; the rest is read page by page as the viewer reads
    backlog_seq: int  # the seq of the last frame in backlog
    upto: int  # the run's last stored seq when the stream opened: the stored part ends there
    finished: bool  # the run ends at upto: no live part follows


@dataclass
class Page:
    frames: list[bytes]
    last_seq: int
    terminal: bool  # it holds the run's complete, error or cancelled event


# A page also ends at this many bytes, so a page of events that are each near their size cap stays small.
STREAM_PAGE_BYTES = 1024 * 1024


def stored_page(run_id: int, after: int, upto: int) -> Page:
    """Stored frames with after < seq <= upto: at most AEGIS_STREAM_PAGE rows or about STREAM_PAGE_BYTES."""
    rows = AuditEvent.objects.filter(run_id=run_id, seq__gt=after, seq__lte=upto).order_by("seq")
    page = Page([], after, False)
    size = 0
    for event in rows[: settings.AEGIS_STREAM_PAGE].iterator(chunk_size=64):
        frame = frames.encode(event)
        page.frames.append(frame)
        page.last_seq = event.seq
        page.terminal = page.terminal or event.type in frames.TERMINAL_TYPES
        size += len(frame)
        if size >= STREAM_PAGE_BYTES:
            break
    return page


def open_live(identity: Identity, run_id: int, after: int) -> Opening:
    run = visible_run(identity, run_id)
    # An id past the run's end (a stale or forged Last-Event-ID) would start the shared channel
    # beyond the real log, and every viewer of the run would wait for seqs that never come.
    after = min(after, run.last_seq)
    if run.last_seq <= after:
        # The usual reconnect: the viewer already has everything stored.
        return Opening(run_id, run.viewer_id, after, [], after, after, run.is_finished)
    first = stored_page(run.pk, after, run.last_seq)
    finished = run.is_finished or first.terminal
    return Opening(run_id, run.viewer_id, after, first.frames, first.last_seq, run.last_seq, finished)


async def _stored_frames(run_id: int, after: int, upto: int, read: DbRunner) -> AsyncIterator[tuple[bytes, int]]:
    """(one page of frames as one chunk, its last seq) for seq in (after, upto]. The next page is read only once
    the viewer has taken this one: a client that does not read holds the server to one page, not the run."""
    while after < upto:
        page = await read(stored_page, run_id, after, upto)
        if not page.frames:
            return
        yield b"".join(page.frames), page.last_seq
        after = page.last_seq


async def live_frames(opening: Opening, lease: Lease, read: DbRunner) -> AsyncIterator[bytes]:
    """retry, the stored backlog page by page, then new frames as the hub gets them, until the run ends.

    Frames that are ready together go out as one chunk (up to a page): one write per viewer, not per event."""
    grant = lease.grant
    try:
        yield frames.retry_frame(settings.AEGIS_SSE_RETRY_MS) + b"".join(opening.backlog)
        opening.backlog = []  # sent: the stream keeps no copy
        sent = opening.backlog_seq
        async for chunk, last in _stored_frames(opening.run_id, opening.backlog_seq, opening.upto, read):
            if grant.closed is not None:
                yield frames.closed_frame(grant.closed.reason, grant.closed.message)
                return
            yield chunk
            sent = last
        if opening.finished:
            return
        hub = get_hub()
        viewer = object()
        channel = hub.subscribe(opening.run_id, sent, viewer)
        heartbeat = channel.heartbeat
        loop = asyncio.get_running_loop()
        try:
            while True:
                if grant.closed is not None:
                    yield frames.closed_frame(grant.closed.reason, grant.closed.message)
                    return
                while channel.base_seq > sent:
                    # The channel starts past us (it began after our backlog read, or dropped what we had not
                    # taken yet): fill the gap from the table, a page at a time.
                    before = sent
                    async for chunk, last in _stored_frames(opening.run_id, before, channel.base_seq, read):
                        yield chunk
                        sent = channel.positions[viewer] = last
                    if sent == before:
                        sent = channel.base_seq  # nothing stored there (a purged run): never spin on it
                if channel.last_seq > sent:
                    ready = channel.frames_after(sent, settings.AEGIS_STREAM_PAGE)
                    yield b"".join(ready)
                    sent += len(ready)
                    channel.positions[viewer] = sent
                    heartbeat = channel.heartbeat
                    continue  # more may be ready: send it before waiting
                if channel.finished and sent >= channel.last_seq:
                    return
                if channel.heartbeat != heartbeat:
                    heartbeat = channel.heartbeat
                    yield frames.PING
                waiter = loop.create_future()
                channel.waiters.append(waiter)
                await waiter
        finally:
            hub.unsubscribe(channel, viewer)
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
