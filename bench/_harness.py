"""Shared pieces of the scale benchmarks and fault tests: a throw-away Aegis stack and a browser-like viewer.

`Stack` migrates a fresh database (an SQLite file in a temporary directory, or a fresh PostgreSQL database
that is dropped again at the end), sets up Django in the calling process against it and starts real
`uvicorn` web processes and real `manage.py db_worker` processes on it.

`Viewer` follows one run's SSE stream over a raw socket the way a browser's EventSource does: it keeps
the id of the last complete event, reconnects with `Last-Event-ID` when the connection drops (a partial
frame is discarded, as the SSE spec says), stops on a terminal event or a 204, and records every event
it dispatches with the time it read it. `compare()` checks what a viewer got against the events table.

Everything here only talks to 127.0.0.1, and every loop is bounded in count or time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
TERMINAL_TYPES = frozenset({"complete", "error", "cancelled"})
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"


# --------------------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} within {timeout}s")


# The uvicorn protocol production serves with (audits.stream.protocol: a header-read deadline).
AEGIS_HTTP = "audits.stream.protocol:HttpToolsWithHeaderTimeout"


def server_cmd(port: int) -> list[str]:
    return [PYTHON, "-m", "uvicorn", "aegis_site.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", AEGIS_HTTP, "--no-access-log", "--log-level", "warning",
            "--timeout-graceful-shutdown", "1"]  # fmt: skip


def worker_cmd() -> list[str]:
    return [PYTHON, "manage.py", "db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload"]


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def kill_process(proc: subprocess.Popen) -> None:
    """SIGKILL: no cleanup, no graceful shutdown, as when a machine dies."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Stack:
    """A fresh database plus real web and worker processes, all on this machine."""

    def __init__(
        self,
        db: str = "sqlite",
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        if db not in ("sqlite", "postgres"):
            raise ValueError("db must be sqlite or postgres")
        self.db = db
        self.tmp = Path(tempfile.mkdtemp(prefix="aegis-bench-"))
        self.log_dir = log_dir or self.tmp
        self.env = dict(os.environ)
        self.env.update(
            DJANGO_SETTINGS_MODULE="aegis_site.settings", SECRET_KEY="aegis-bench-only", DEBUG="0", PYTHONPATH=str(ROOT)
        )
        self.env.update(env or {})
        self.pg_admin_url: str | None = None
        self.pg_name: str | None = None
        if db == "postgres":
            base = database_url or os.environ.get("DATABASE_URL") or DEFAULT_PG_URL
            parts = urlsplit(base)
            self.pg_name = f"aegis_bench_{os.getpid()}"
            self.pg_admin_url = base
            self.env["DATABASE_URL"] = parts._replace(path=f"/{self.pg_name}").geturl()
        else:
            self.env.pop("DATABASE_URL", None)
            self.env["AEGIS_DB_PATH"] = str(self.tmp / "aegis.sqlite3")
        self.servers: list[tuple[int, subprocess.Popen]] = []
        self.workers: list[subprocess.Popen] = []
        self._logs: list = []

    # -- database ------------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create and migrate the database, then set up Django in this process against it."""
        if self.db == "postgres":
            self._pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}"')
            self._pg_admin(f'CREATE DATABASE "{self.pg_name}"')
        for cmd in (["manage.py", "migrate", "--noinput"], ["manage.py", "createcachetable"]):
            res = subprocess.run([PYTHON, *cmd], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
        os.environ.update(self.env)
        if "DATABASE_URL" not in self.env:
            os.environ.pop("DATABASE_URL", None)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()

    def _pg_admin(self, sql: str) -> None:
        import psycopg

        if self.pg_admin_url is None:
            raise RuntimeError("this stack runs on SQLite: there is no PostgreSQL server to administer")
        parts = urlsplit(self.pg_admin_url)
        conninfo = psycopg.conninfo.make_conninfo(
            host=parts.hostname or "127.0.0.1", port=str(parts.port or 5432), user=parts.username or "postgres",
            password=parts.password or None, dbname="postgres",
        )  # fmt: skip
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)

    # -- processes -----------------------------------------------------------------------------------------------
    def _log(self, name: str):
        handle = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in close()
        self._logs.append(handle)
        return handle

    def start_server(self, port: int | None = None, env: dict[str, str] | None = None) -> int:
        port = port or free_port()
        log = self._log(f"server-{port}")
        proc = subprocess.Popen(
            server_cmd(port), cwd=ROOT, env=self.env | (env or {}), stdout=log, stderr=subprocess.STDOUT
        )
        wait_for_port(port, proc)
        self.servers.append((port, proc))
        return port

    def start_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self._log(f"worker-{len(self.workers)}")
        proc = subprocess.Popen(
            worker_cmd(), cwd=ROOT, env=self.env | (env or {}), stdout=log, stderr=subprocess.STDOUT
        )
        self.workers.append(proc)
        return proc

    def close(self) -> None:
        for _, proc in self.servers:
            stop_process(proc)
        for proc in self.workers:
            stop_process(proc)
        for handle in self._logs:
            handle.close()
        if self.db == "postgres":
            from django.db import connections

            connections.close_all()
            with contextlib.suppress(Exception):
                self._pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        if self.log_dir == self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                (self.tmp / "aegis.sqlite3").unlink()


def make_users(count: int, prefix: str = "bench") -> list[tuple[object, str]]:
    """`count` users, each with a session cookie value; no password hashing (that costs ~0.3 s each)."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user_model = get_user_model()
    out = []
    for i in range(count):
        user, _ = user_model.objects.get_or_create(username=f"{prefix}-{i}")
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        out.append((user, session.session_key))
    return out


# --------------------------------------------------------------------------------------------------------------
# A browser-like SSE viewer
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Viewer:
    run_id: int
    ports: list[int]
    cookie: str | None = None
    token: str | None = None
    reconnect_delay: tuple[float, float] = (0.02, 0.2)
    # What it saw, in order: seq, the decoded data, the time it read the bytes (time.time()).
    seqs: list[int] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    last_id: str | None = None
    done: bool = False
    connections: int = 0
    cuts: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    connected: bool = False
    id_mismatches: int = 0
    _writer: asyncio.StreamWriter | None = None

    async def follow(self, deadline: float, max_connections: int = 100_000) -> None:
        """Follow the stream until a terminal event, a 204, the deadline or max_connections."""
        while not self.done and time.monotonic() < deadline and self.connections < max_connections:
            try:
                await asyncio.wait_for(self._connect_once(), max(0.1, deadline - time.monotonic()))
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                self.errors[type(exc).__name__] += 1
            except TimeoutError:
                self.errors["timeout"] += 1
            finally:
                self.connected = False
                self._writer = None
            if not self.done:
                await asyncio.sleep(random.uniform(*self.reconnect_delay))

    def cut(self) -> bool:
        """Drop the connection abruptly, at whatever point of a frame the reader is (a network failure)."""
        writer = self._writer
        if writer is None or not self.connected:
            return False
        writer.transport.abort()
        self.cuts += 1
        return True

    async def _connect_once(self) -> None:
        port = random.choice(self.ports)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer = writer
        self.connections += 1
        try:
            lines = [f"GET /audits/{self.run_id}/events HTTP/1.1", f"Host: 127.0.0.1:{port}",
                     "Accept: text/event-stream", "Cache-Control: no-cache"]  # fmt: skip
            if self.cookie:
                lines.append(f"Cookie: sessionid={self.cookie}")
            if self.token:
                lines.append(f"Authorization: Bearer {self.token}")
            if self.last_id is not None:
                lines.append(f"Last-Event-ID: {self.last_id}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ", 2)[1])
            self.statuses[status] += 1
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if status == 204:
                self.done = True  # EventSource stops reconnecting on 204: the run is over
                return
            if status != 200:
                return
            self.connected = True
            if headers.get("transfer-encoding", "").lower() != "chunked":
                raise RuntimeError(f"expected a chunked event stream, got headers {headers}")
            buffer = b""
            while True:
                size_line = await reader.readline()
                if not size_line:
                    return  # closed mid-stream
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    return  # the server ended the stream
                chunk = await reader.readexactly(size + 2)
                now = time.time()
                buffer += chunk[:-2]
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    self._dispatch(frame, now)
                    if self.done:
                        return
        finally:
            writer.transport.abort()

    def _dispatch(self, frame: bytes, now: float) -> None:
        event_id = None
        data = None
        for line in frame.decode("utf-8").split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = value
            elif name == "data":
                data = value if data is None else data + "\n" + value
        if event_id is not None:
            self.last_id = event_id
        if data is None:
            return
        decoded = json.loads(data)
        if event_id is None or str(decoded.get("seq")) != event_id:
            self.id_mismatches += 1
        self.seqs.append(decoded["seq"])
        self.events.append(decoded)
        self.received_at.append(now)
        if decoded.get("type") in TERMINAL_TYPES:
            self.done = True


def table_events(run_id: int) -> list[dict]:
    """The run's log as the wire carries it, straight from the events table."""
    from audits.models import AuditEvent

    return [e.to_event_dict() for e in AuditEvent.objects.filter(run_id=run_id).order_by("seq")]


def compare(viewer: Viewer, table: list[dict]) -> dict[str, int]:
    """Lost, duplicated, reordered and mismatched events of one viewer against the table.

    - lost: table events the viewer never received;
    - duplicated: receipts of a seq the viewer already had;
    - reordered: receipts (not duplicates) whose seq is not the one after the previous new one;
    - mismatched: received events that differ from the table's row with the same seq."""
    by_seq = {e["seq"]: e for e in table}
    seen: set[int] = set()
    duplicated = reordered = mismatched = 0
    previous = 0
    for seq, event in zip(viewer.seqs, viewer.events, strict=True):
        if seq in seen:
            duplicated += 1
            continue
        seen.add(seq)
        if seq != previous + 1:
            reordered += 1
        previous = seq
        if by_seq.get(seq) != event:
            mismatched += 1
    lost = len(set(by_seq) - seen)
    gaps = 0 if [e["seq"] for e in table] == list(range(1, len(table) + 1)) else 1
    return {"lost": lost, "duplicated": duplicated, "reordered": reordered, "mismatched": mismatched,
            "table_gaps": gaps, "id_mismatches": viewer.id_mismatches}  # fmt: skip


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[index]


def follow_in_thread(viewers: list[Viewer], timeout: float) -> threading.Thread:
    """Follow every viewer on an event loop in a background thread (for synchronous callers such as tests)."""

    async def follow_all() -> None:
        deadline = time.monotonic() + timeout
        await asyncio.gather(*(viewer.follow(deadline) for viewer in viewers))

    thread = threading.Thread(target=asyncio.run, args=(follow_all(),), name="viewers", daemon=True)
    thread.start()
    return thread


class RssSampler(threading.Thread):
    """Peak RSS of each named process (with its children when `family`), sampled every 0.2 s; high_water_mb adds the
    kernel's own high-water mark (VmHWM) of the process itself, which catches a peak between two samples."""

    def __init__(self, pids: dict[str, int], *, family: bool = False) -> None:
        super().__init__(name="rss", daemon=True)
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.family = family
        self.peak_mb = dict.fromkeys(pids, 0.0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for name, proc in self.procs.items():
                try:
                    procs = [proc, *proc.children(recursive=True)] if self.family else [proc]
                    total = sum(p.memory_info().rss for p in procs if p.is_running())
                except Exception:  # a process that exited (or was killed by the kernel) has no RSS to read
                    continue
                self.peak_mb[name] = max(self.peak_mb[name], total / 1e6)

    def high_water_mb(self, name: str) -> float:
        try:
            status = Path(f"/proc/{self.procs[name].pid}/status").read_text()
        except OSError:
            return self.peak_mb[name]
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        return max(self.peak_mb[name], int(match.group(1)) / 1000 if match else 0.0)
