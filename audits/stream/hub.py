"""One hub per web process: it follows new events and fans them out to viewers in memory.

Viewers of a run share one RunChannel holding that run's encoded frames. The hub reads the
database from a small fixed pool of threads (so DB connections and threads stay flat however
many viewers wait) and wakes viewers through plain futures: a waiting viewer owns no thread, no
connection and no queue. New events are noticed through PostgreSQL LISTEN/NOTIFY when the
database is PostgreSQL, and by one shared poll of the runs being watched otherwise.
"""

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from audits.models import AuditEvent, AuditRun
from audits.runs.recorder import NOTIFY_CHANNEL
from audits.stream import access, frames
from audits.stream.db import run_db

log = logging.getLogger(__name__)


# What a channel keeps past its slowest viewer. A viewer left further behind (a client that stopped reading) reads
# what it missed from the table, a page at a time, so one such viewer cannot make the channel hold the whole run.
CHANNEL_MAX_BYTES = 4 * 1024 * 1024


@dataclass(eq=False)
class RunChannel:
    run_id: int
    base_seq: int  # frames[i] holds seq base_seq + 1 + i
    frames: list[bytes] = field(default_factory=list)
    finished: bool = False
    viewers: int = 0
    heartbeat: int = 0
    waiters: list[asyncio.Future] = field(default_factory=list)
    positions: dict[object, int] = field(default_factory=dict)  # viewer -> the last seq it has taken
    size: int = 0  # bytes in frames

    @property
    def last_seq(self) -> int:
        return self.base_seq + len(self.frames)

    def frames_after(self, seq: int, limit: int) -> list[bytes]:
        start = seq - self.base_seq
        return self.frames[start : start + limit]

    def append(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.size += len(frame)

    def trim(self) -> None:
        """Drop the frames every viewer has taken, and the oldest beyond CHANNEL_MAX_BYTES."""
        floor = min(self.positions.values(), default=self.last_seq)
        drop = max(0, min(floor, self.last_seq) - self.base_seq)
        dropped = sum(len(frame) for frame in self.frames[:drop])
        while drop < len(self.frames) and self.size - dropped > CHANNEL_MAX_BYTES:
            dropped += len(self.frames[drop])
            drop += 1
        if drop:
            del self.frames[:drop]
            self.base_seq += drop
            self.size -= dropped

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _read_new_events(wanted: dict[int, int]) -> tuple[dict[int, list[tuple[int, str, bytes]]], set[int]]:
    """Events after each run's known seq, encoded (at most AEGIS_STREAM_PAGE per run: a run that is further on is
    read again at once), and which of these runs are finished.

    Each run is read on its own: a run whose events cannot be read is logged and left out of this
    refresh (its viewers wait for the next one), never taking the other runs down with it."""
    states = AuditRun.objects.filter(pk__in=wanted).values_list("pk", "last_seq", "status")
    fresh: dict[int, list[tuple[int, str, bytes]]] = {}
    finished: set[int] = set()
    for run_id, last_seq, status in states:
        known = wanted[run_id]
        if last_seq > known:
            try:
                events = AuditEvent.objects.filter(run_id=run_id, seq__gt=known).order_by("seq")
                events = events[: settings.AEGIS_STREAM_PAGE]
                fresh[run_id] = [(e.seq, e.type, frames.encode(e)) for e in events]
            except Exception:
                log.exception("run %s: new events could not be read; retrying on the next refresh", run_id)
                continue
        if status in AuditRun.FINISHED and known + len(fresh.get(run_id, ())) >= last_seq:
            finished.add(run_id)
    return fresh, finished


class SqliteCommits:
    """Tells, in microseconds and without touching a table, whether anyone committed to the file.

    PRAGMA data_version changes when another connection commits; reading it on a connection of
    our own in the event loop makes the shared poll nearly free while nothing happens."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._version: int | None = None

    def changed(self) -> bool:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        changed, self._version = version != self._version, version
        return changed

    def close(self) -> None:
        self._conn.close()


class Hub:
    def __init__(self) -> None:
        self.channels: dict[int, RunChannel] = {}
        self._dirty: set[int] = set()
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._listening = False
        self.poll_s = settings.AEGIS_HUB_POLL_MS / 1000
        self.heartbeat_s = settings.AEGIS_SSE_HEARTBEAT_S
        self._commits: SqliteCommits | None = None
        if connection.vendor == "sqlite":
            self._commits = SqliteCommits(settings.DATABASES["default"]["NAME"])

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._follow()))
        self._tasks.append(loop.create_task(self._heartbeat()))
        if connection.vendor == "postgresql":
            self._tasks.append(loop.create_task(self._listen()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._commits is not None:
            self._commits.close()
        for channel in self.channels.values():
            channel.finished = True
            channel.wake()

    def subscribe(self, run_id: int, seq: int, viewer: object) -> RunChannel:
        channel = self.channels.get(run_id)
        if channel is None:
            channel = self.channels[run_id] = RunChannel(run_id=run_id, base_seq=seq)
            self._dirty.add(run_id)
            self._kick.set()
        channel.viewers += 1
        channel.positions[viewer] = seq
        return channel

    def unsubscribe(self, channel: RunChannel, viewer: object) -> None:
        channel.viewers -= 1
        channel.positions.pop(viewer, None)
        if channel.viewers <= 0 and self.channels.get(channel.run_id) is channel:
            del self.channels[channel.run_id]

    async def _follow(self) -> None:
        """Read new events for the runs being watched; on SQLite this is the shared poll."""
        last_sweep = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                timeout = 1.0 if self._listening else self.poll_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout)
                self._kick.clear()
                if not self.channels:
                    continue
                quiet = self._commits is not None and not self._commits.changed()
                if quiet and not self._dirty and loop.time() - last_sweep < 1.0:
                    continue  # nobody committed since the last look: nothing to read
                last_sweep = loop.time()
                if self._listening:
                    # NOTIFY names the runs that moved; a slow full sweep guards against a lost one.
                    runs = self._dirty & self.channels.keys() or set(self.channels)
                else:
                    runs = set(self.channels)
                self._dirty.clear()
                await self._refresh(runs)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub refresh failed; retrying")
                await asyncio.sleep(1)

    async def _refresh(self, runs: set[int]) -> None:
        wanted = {run_id: self.channels[run_id].last_seq for run_id in runs if run_id in self.channels}
        if not wanted:
            return
        fresh, finished = await run_db(_read_new_events, wanted)
        for run_id in wanted:
            channel = self.channels.get(run_id)
            if channel is None:
                continue
            moved = False
            for seq, type_, frame in fresh.get(run_id, ()):
                if seq != channel.last_seq + 1:
                    continue  # another refresh already appended it
                channel.append(frame)
                moved = True
                if type_ in frames.TERMINAL_TYPES:
                    channel.finished = True
            if run_id in finished and not channel.finished:
                channel.finished = True
                moved = True
            if moved:
                channel.trim()
                channel.wake()
            if not channel.finished and len(fresh.get(run_id, ())) >= settings.AEGIS_STREAM_PAGE:
                self._dirty.add(run_id)  # a full page: more is stored, read it on the next turn
                self._kick.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            # Every open stream's access is re-checked once per heartbeat, in one batched read;
            # the wake below then lets the viewers whose access ended say why and close.
            try:
                await access.recheck_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-checking open streams failed; trying again next heartbeat")
            for channel in list(self.channels.values()):
                channel.heartbeat += 1
                channel.wake()

    async def _listen(self) -> None:
        import psycopg

        params = settings.DATABASES["default"]
        conninfo = psycopg.conninfo.make_conninfo(
            dbname=params["NAME"],
            user=params.get("USER") or None,
            password=params.get("PASSWORD") or None,
            host=params.get("HOST") or None,
            port=str(params["PORT"]) if params.get("PORT") else None,
        )
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._listening = True
                    delay = 0.5
                    # Catch up on anything committed while we were not listening.
                    self._kick.set()
                    async for note in conn.notifies():
                        run_id = int(note.payload.split(":", 1)[0])
                        if run_id in self.channels:
                            self._dirty.add(run_id)
                            self._kick.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
            self._listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)


# One hub per event loop (in practice one per process; tests may create several loops).
_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for stale in [other for other in _hubs if other.is_closed()]:
            del _hubs[stale]
        hub = _hubs[loop] = Hub()
        hub.start()
    return hub


async def stop_hub() -> None:
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await hub.stop()
