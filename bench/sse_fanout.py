#!/usr/bin/env python
"""SSE fan-out benchmark: the real Aegis server against sse-starlette and django-eventstream.

For each server it opens viewers on 127.0.0.1 from a separate client process, records events at
R events/s (Aegis: through audits.runs.recorder.Recorder in another process, committed to the real
database; peers: their idiomatic in-process publisher) and reports latency from record to
receipt, deliveries/s, server CPU per delivery, RSS per idle viewer, threads and DB connections
held by the web process, the server CPU to open one stream and the time to a stream's first frame.
It prints a table, PASS/FAIL per target (it never asserts) and ends with ONE JSON line.

    .venv/bin/python bench/sse_fanout.py                 # full matrix: 10, 1,000, 2,000 viewers x 10 ev/s
    .venv/bin/python bench/sse_fanout.py --quick         # smoke run, under a minute
    .venv/bin/python bench/sse_fanout.py --viewers 1000,2000 --rate 10 --seconds 30
    .venv/bin/python bench/sse_fanout.py --db postgres   # Aegis on DATABASE_URL (default sqlite)
    .venv/bin/python bench/sse_fanout.py --servers aegis --profile   # py-spy profile of Aegis under load

The peers run from .venv-sse-peers, created from bench/requirements-peers.txt when missing.
Measurement notes:
- Server CPU is utime+stime of the server process from /proc/<pid>/stat (all threads, including
  exited ones); short windows (opening a few streams) use the per-thread schedstat nanoseconds.
- Each event carries {"t_rec": time.time(), "bench_n": i}; a viewer's latency is its receipt time
  (taken once per socket read) minus t_rec. Deliveries are counted once per viewer and event;
  repeats (a server re-sending an event) are counted apart as duplicates.
- By default the server is pinned to CPU 0 and the viewers and recorder to CPU 1 (--no-pin to
  turn off), so the load generator does not steal the server's core.
"""

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._harness import AEGIS_HTTP, free_port, wait_for_port  # noqa: E402

BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
MAIN_PY = ROOT / ".venv" / "bin" / "python"
PEER_VENV = ROOT / ".venv-sse-peers"
PEER_PY = PEER_VENV / "bin" / "python"
BASE_PY = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python"
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
SERVERS = ("aegis", "sse-starlette", "eventstream")
MESSAGE = "Analyzing role 'ProdAdmin' (3/47)... found 2 critical issues"  # same as peers/common.py
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets (printed as PASS/FAIL, never asserted).
CPU_RATIO_MAX = 0.7
RSS_KB_MAX = 20.0
P99_TARGETS = {1000: 60.0, 2000: 150.0}
OPEN_MS_MAX = 1.0
# Above this share of the load phase spent waiting for a CPU, a verdict is marked as noisy.
NOISY_WAIT = 0.2


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pin(cpus: set[int] | None) -> None:
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


def _client_setup(cpus: set[int] | None) -> None:
    raise_nofile()
    pin(cpus)


# --------------------------------------------------------------------------------------------
# Viewer client (runs as `sse_fanout.py _client`, a process of its own)
# --------------------------------------------------------------------------------------------

RE_T = re.compile(rb'"t_rec":\s*([0-9.eE+-]+)')
RE_N = re.compile(rb'"bench_n":\s*([0-9]+)')


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.hist: dict[int, int] = {}  # latency in 0.1 ms bins
        # Per event: when the first and the last viewer got it, and when it was recorded.
        self.first_rx: dict[int, float] = {}
        self.last_rx: dict[int, float] = {}
        self.t_rec: dict[int, float] = {}
        self.unique = 0
        self.dups = 0
        self.bytes = 0
        self.data_bytes = 0
        self.cpu0 = time.process_time()
        self.wall0 = time.monotonic()


class Viewer(asyncio.Protocol):
    """One EventSource-like viewer: HTTP/1.1 GET, chunked decoding, minimal SSE scanning.

    A Protocol rather than a StreamReader: data_received costs one callback per socket read, with
    no coroutine to resume, so one client process keeps up with tens of thousands of frames/s.
    """

    __slots__ = (
        "cbuf",
        "chunked",
        "closed",
        "error",
        "first",
        "head",
        "headers_done",
        "last_n",
        "left",
        "request",
        "sbuf",
        "stats",
        "status",
        "transport",
    )

    def __init__(self, stats: Stats, request: bytes, first: asyncio.Future, closed: asyncio.Future) -> None:
        self.stats = stats
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.headers_done = False
        self.chunked = False
        self.left = 0
        self.cbuf = b""
        self.sbuf = b""
        self.last_n = -1
        self.first = first
        self.closed = closed
        self.status = 0
        self.error = ""

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.first.done():
            self.first.set_exception(ConnectionError(self.error or f"closed before first frame (status {self.status})"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        stats = self.stats
        stats.bytes += len(data)
        if not self.headers_done:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self.head[:end], self.head[end + 4 :]
            self.head = b""
            self.headers_done = True
            try:
                self.status = int(head.split(b" ", 2)[1])
            except (IndexError, ValueError):
                self.status = 0
            self.chunked = b"transfer-encoding: chunked" in head.lower()
            if self.status != 200:
                self.error = f"HTTP {self.status}"
                if self.transport is not None:
                    self.transport.close()
                return
            if not data:
                return
        if self.chunked:
            data = self._dechunk(data)
            if not data:
                return
        if not self.first.done():
            self.first.set_result(time.monotonic())
        buf = self.sbuf + data if self.sbuf else data
        cut = buf.rfind(b"\n") + 1
        if cut < len(buf):
            self.sbuf = buf[cut:]
            buf = buf[:cut]
        else:
            self.sbuf = b""
        if b'"t_rec"' not in buf:
            return
        stats.data_bytes += len(buf)
        times = RE_T.findall(buf)
        ns = RE_N.findall(buf)
        hist = stats.hist
        for t, n in zip(times, ns, strict=False):
            n = int(n)
            if n <= self.last_n:
                stats.dups += 1
                continue
            self.last_n = n
            stats.unique += 1
            if n not in stats.first_rx:
                stats.first_rx[n] = now
                stats.t_rec[n] = float(t)
            stats.last_rx[n] = now
            b = int((now - float(t)) * 10000.0)
            if b < 0:
                b = 0
            hist[b] = hist.get(b, 0) + 1

    def _dechunk(self, data: bytes) -> bytes:
        cbuf = self.cbuf + data if self.cbuf else data
        pos = 0
        out = []
        left = self.left
        end = len(cbuf)
        while True:
            if left > 0:
                avail = end - pos
                if avail <= 0:
                    break
                take = left if left < avail else avail
                out.append(cbuf[pos : pos + take])
                pos += take
                left -= take
                if left:
                    break
                left = -2
            elif left == -2:
                if end - pos < 2:
                    break
                pos += 2
                left = 0
            else:
                i = cbuf.find(b"\r\n", pos)
                if i < 0:
                    break
                size = int(cbuf[pos:i].split(b";", 1)[0], 16)
                pos = i + 2
                if size == 0:
                    break
                left = size
        self.left = left
        self.cbuf = cbuf[pos:]
        return out[0] if len(out) == 1 else b"".join(out)


class ClientProc:
    def __init__(self) -> None:
        self.stats = Stats()
        self.viewers: list[tuple[Viewer, asyncio.Future]] = []
        self.lag_max = 0.0
        self.lags: list[float] = []

    async def lag_probe(self) -> None:
        """Event-loop lag of the client itself: if it grows, the client is the bottleneck."""
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lag = loop.time() - t - 0.01
            self.lags.append(lag)
            if len(self.lags) > 100_000:
                del self.lags[:50_000]

    async def open_one(self, host: str, port: int, path: str, cookie: str, timeout: float) -> float:
        loop = asyncio.get_running_loop()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            f"Cache-Control: no-cache\r\nUser-Agent: aegis-sse-bench\r\n"
            + (f"Cookie: sessionid={cookie}\r\n" if cookie else "")
            + "\r\n"
        ).encode()
        first = loop.create_future()
        closed = loop.create_future()
        t0 = time.monotonic()
        transport, viewer = await asyncio.wait_for(
            loop.create_connection(lambda: Viewer(self.stats, request, first, closed), host, port), timeout
        )
        try:
            t1 = await asyncio.wait_for(first, timeout)
        except BaseException:
            transport.close()
            raise
        self.viewers.append((viewer, closed))
        return (t1 - t0) * 1000.0

    async def open(self, cmd: dict) -> dict:
        n, paths = cmd["n"], cmd["paths"]
        sem = asyncio.Semaphore(cmd.get("concurrency", 100))
        firsts: list[float] = []
        errors: dict[str, int] = {}
        start = len(self.viewers)

        async def one(i: int) -> None:
            async with sem:
                try:
                    path = paths[(start + i) % len(paths)]
                    firsts.append(await self.open_one(cmd["host"], cmd["port"], path, cmd.get("cookie", ""), 30.0))
                except Exception as exc:
                    key = f"{type(exc).__name__}: {exc}"[:120]
                    errors[key] = errors.get(key, 0) + 1

        t0 = time.monotonic()
        if cmd.get("sequential"):
            for i in range(n):
                await one(i)
        else:
            await asyncio.gather(*(one(i) for i in range(n)))
        firsts.sort()
        return {
            "opened": len(firsts),
            "failed": n - len(firsts),
            "errors": errors,
            "open_s": time.monotonic() - t0,
            "first_ms": firsts,
            "total": len(self.viewers),
        }

    async def close(self, keep: int) -> dict:
        victims, self.viewers = self.viewers[keep:], self.viewers[:keep]
        for viewer, _closed in victims:
            if viewer.transport is not None:
                viewer.transport.close()
        if victims:
            await asyncio.wait([c for _v, c in victims], timeout=10)
        return {"total": len(self.viewers)}

    def report(self) -> dict:
        s = self.stats
        wall = time.monotonic() - s.wall0
        lags = sorted(self.lags)
        alive = sum(1 for v, c in self.viewers if not c.done())
        return {
            "hist": s.hist,
            "first_rx": s.first_rx,
            "last_rx": s.last_rx,
            "t_rec": s.t_rec,
            "unique": s.unique,
            "dups": s.dups,
            "bytes": s.bytes,
            "data_bytes": s.data_bytes,
            "client_cpu_s": time.process_time() - s.cpu0,
            "wall_s": wall,
            "lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000 if lags else 0.0,
            "lag_max_ms": lags[-1] * 1000 if lags else 0.0,
            "alive": alive,
        }


async def client_main() -> None:
    proc = ClientProc()
    loop = asyncio.get_running_loop()
    lag_task = loop.create_task(proc.lag_probe())
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        op = cmd["cmd"]
        if op == "open":
            res = await proc.open(cmd)
        elif op == "close":
            res = await proc.close(cmd.get("keep", 0))
        elif op == "reset":
            # Each load phase numbers its events from 0 again.
            for viewer, _closed in proc.viewers:
                viewer.last_n = -1
            proc.stats.reset()
            proc.lags.clear()
            res = {"ok": True}
        elif op == "report":
            res = proc.report()
        elif op == "exit":
            await proc.close(0)
            out.write(json.dumps({"ok": True}) + "\n")
            out.flush()
            break
        else:
            res = {"error": f"unknown command {op}"}
        out.write(json.dumps(res) + "\n")
        out.flush()
    lag_task.cancel()


def run_client() -> None:
    raise_nofile()
    try:
        import uvloop

        uvloop.run(client_main())
    except ImportError:
        asyncio.run(client_main())


# --------------------------------------------------------------------------------------------
# Aegis helpers (run with the project's venv and Django settings)
# --------------------------------------------------------------------------------------------


def run_aegis_setup(runs: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from audits.models import AuditRun

    user, _ = get_user_model().objects.get_or_create(
        username="sse-bench", defaults={"email": "sse-bench@example.invalid"}
    )
    run_ids = [AuditRun.objects.create(owner=user, source="demo", status="running").pk for _ in range(runs)]
    client = Client()
    client.force_login(user)
    print(json.dumps({"run_ids": run_ids, "sessionid": client.cookies["sessionid"].value}), flush=True)


def run_aegis_recorder(rate: float, seconds: float, run_ids: list[int]) -> None:
    """Wait for GO on stdin, then emit rate events/s in total, round-robin over the runs."""
    import django

    django.setup()
    from audits.runs.recorder import Recorder

    recorders = [Recorder(r) for r in run_ids]
    recorders[0].emit("progress", "bench warm-up", 1, {"warmup": True})  # connection + imports
    print("READY", flush=True)
    sys.stdin.readline()
    total = max(1, round(rate * seconds))
    emit_ms: list[float] = []
    committed: dict[int, float] = {}
    late = 0
    start = time.monotonic()
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.05:
            late += 1
        t = time.time()
        recorders[i % len(recorders)].emit("progress", MESSAGE, 50, {"t_rec": t, "bench_n": i})
        done = time.time()
        committed[i] = done
        emit_ms.append((done - t) * 1000)
    emit_ms.sort()
    print(
        json.dumps(
            {
                "published": total,
                "late": late,
                "emit_ms_p50": emit_ms[len(emit_ms) // 2],
                "emit_ms_p99": emit_ms[int(len(emit_ms) * 0.99)],
                "elapsed_s": time.monotonic() - start,
                "committed": committed,
            }
        ),
        flush=True,
    )


# --------------------------------------------------------------------------------------------
# Process measurement
# --------------------------------------------------------------------------------------------


def cpu_ticks_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def _schedstat(pid: int, field: int) -> float:
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[field])
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass
    return total / 1e9


def cpu_sched_s(pid: int) -> float:
    """On-CPU seconds of the live threads (precise, but forgets threads that exited)."""
    return _schedstat(pid, 0)


def runqueue_wait_s(pid: int) -> float:
    """Seconds the main thread (the event loop) spent runnable but waiting for a CPU.

    With the server pinned to its own CPU this is other load on the machine, plus the server's
    own threads where it has them (their sum would count threads queueing for each other).
    """
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return 0.0


class CpuMark:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ticks = cpu_ticks_s(pid)
        self.sched = cpu_sched_s(pid)

    def since(self) -> float:
        ticks = cpu_ticks_s(self.pid) - self.ticks
        sched = cpu_sched_s(self.pid) - self.sched
        # Ticks count every thread but move in 1/CLK_TCK steps; use them once they are coarse no more.
        return ticks if ticks >= 0.5 else max(sched, 0.0)


def proc_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


def db_connections(pid: int, db: str, db_path: str | None) -> int:
    """Sockets to PostgreSQL, or fds on the SQLite main file (one per SQLite connection)."""
    import psutil

    p = psutil.Process(pid)
    if db == "postgres":
        return sum(1 for c in p.net_connections(kind="inet") if c.raddr and c.raddr.port == 5432)
    if not db_path:
        return 0
    real = os.path.realpath(db_path)
    return sum(1 for f in p.open_files() if f.path == real)


def sample(pid: int, db: str, db_path: str | None) -> dict:
    st = proc_status(pid)
    return {"rss_kb": st["VmRSS"], "threads": st["Threads"], "db_conns": db_connections(pid, db, db_path)}


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


def ensure_peer_venv() -> None:
    req = BENCH / "requirements-peers.txt"
    stamp = PEER_VENV / ".requirements-peers.txt"
    if PEER_PY.exists() and stamp.exists() and stamp.read_text() == req.read_text():
        return
    print(f"setting up {PEER_VENV} from {req.name} ...", flush=True)
    if not PEER_PY.exists():
        base = str(BASE_PY) if BASE_PY.exists() else sys.executable
        subprocess.run([base, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(PEER_PY), "-m", "pip", "install", "-q", "-r", str(req)], check=True)
    stamp.write_text(req.read_text())


class Server:
    """One server under test: its process, where viewers connect, how events are produced."""

    def __init__(self, kind: str, args, tmp: Path, pin_cpus: set[int] | None) -> None:
        self.kind = kind
        self.args = args
        self.tmp = tmp
        self.pin_cpus = pin_cpus
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.cookie = ""
        self.paths: list[str] = []
        self.db = "sqlite"
        self.db_path: str | None = None
        self.env = dict(os.environ)
        self.log = open(tmp / f"{kind}.log", "w+")  # noqa: SIM115 - lives as long as the server
        self.recorder: subprocess.Popen | None = None

    # -- set-up ------------------------------------------------------------------------------
    def prepare(self) -> None:
        runs = self.args.runs
        if self.kind == "aegis":
            env = self.env
            env.update(
                DJANGO_SETTINGS_MODULE="aegis_site.settings",
                DEBUG="0",
                SECRET_KEY="bench",
                ALLOWED_HOSTS="127.0.0.1,localhost",
                PYTHONPATH=str(ROOT),
                # Every viewer here shares one session, standing in for thousands of people.
                AEGIS_MAX_STREAMS_PER_USER="1000000",
            )
            if self.args.db == "postgres":
                env["DATABASE_URL"] = self.args.database_url
                self.db = "postgres"
            else:
                env.pop("DATABASE_URL", None)
                self.db_path = str(self.tmp / "aegis-bench.sqlite3")
                env["AEGIS_DB_PATH"] = self.db_path
            self._run([str(MAIN_PY), "manage.py", "migrate", "--noinput"], cwd=ROOT)
            out = self._run([str(MAIN_PY), str(Path(__file__).resolve()), "_aegis-setup", str(runs)], cwd=ROOT)
            info = json.loads(out.strip().splitlines()[-1])
            self.cookie = info["sessionid"]
            self.run_ids = info["run_ids"]
            self.paths = [f"/audits/{r}/events" for r in self.run_ids]
        elif self.kind == "sse-starlette":
            self.env["PYTHONPATH"] = str(PEERS)
            self.paths = [f"/audits/{r}/events" for r in range(1, runs + 1)]
        elif self.kind == "eventstream":
            self.db_path = str(self.tmp / "eventstream-peer.sqlite3")
            self.env.update(
                DJANGO_SETTINGS_MODULE="eventstream_site.settings",
                PYTHONPATH=str(PEERS),
                PEER_DB_PATH=self.db_path,
                SECRET_KEY="bench",
            )
            self._run([str(PEER_PY), "-m", "django", "migrate", "--noinput"], cwd=PEERS)
            self.paths = [f"/audits/{r}/events" for r in range(1, runs + 1)]

    def _run(self, cmd: list[str], cwd: Path) -> str:
        res = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[-3:])} failed ({res.returncode}):\n{res.stderr[-3000:]}")
        return res.stdout

    def start(self) -> None:
        if self.kind == "aegis":
            cmd = [str(MAIN_PY), "-m", "uvicorn", "aegis_site.asgi:application"]
            cwd = ROOT
        elif self.kind == "sse-starlette":
            cmd = [str(PEER_PY), "-m", "uvicorn", "starlette_app:app"]
            cwd = PEERS
        else:
            cmd = [str(PEER_PY), "-m", "uvicorn", "eventstream_site.asgi:application"]
            cwd = PEERS
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), *UVICORN_FLAGS]
        if self.kind == "aegis":  # the protocol production serves with (a header-read deadline)
            cmd[cmd.index("httptools")] = AEGIS_HTTP
        pin_cpus = self.pin_cpus

        def pre() -> None:
            raise_nofile()
            pin(pin_cpus)

        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=pre
        )
        wait_for_port(self.port, self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is started"
        return self.proc.pid

    # -- events ------------------------------------------------------------------------------
    def arm(self, rate: float, seconds: float, client_cpus: set[int] | None) -> None:
        """Get the event source ready (Aegis: a recorder process past Django set-up)."""
        if self.kind != "aegis":
            return
        self.recorder = recorder = subprocess.Popen(
            [
                str(MAIN_PY),
                str(Path(__file__).resolve()),
                "_aegis-recorder",
                str(rate),
                str(seconds),
                ",".join(map(str, self.run_ids)),
            ],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            preexec_fn=lambda: pin(client_cpus),
        )
        assert recorder.stdout is not None  # stdout=PIPE
        line = recorder.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"recorder did not start: {line!r} (see {self.log.name})")

    def fire(self, rate: float, seconds: float) -> None:
        if self.kind == "aegis":
            assert self.recorder is not None and self.recorder.stdin is not None, "armed, stdin=PIPE"
            self.recorder.stdin.write("GO\n")
            self.recorder.stdin.flush()
        else:
            self._get(f"/_bench/start?rate={rate}&seconds={seconds}&runs={self.args.runs}")

    def finish(self, timeout: float) -> dict:
        """Wait until the source has published everything; returns its report."""
        if self.kind == "aegis":
            assert self.recorder is not None, "armed"
            try:
                out, _ = self.recorder.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.recorder.kill()
                out, _ = self.recorder.communicate()
                return {"published": None, "error": "recorder timed out"}
            self.recorder = None
            lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
            return json.loads(lines[-1]) if lines else {"published": None, "error": "recorder failed"}
        deadline = time.monotonic() + timeout
        while True:
            stats = json.loads(self._get("/_bench/stats"))
            if stats.get("done") or time.monotonic() > deadline:
                return stats
            time.sleep(0.2)

    def _get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as resp:
            return resp.read().decode()

    def stop(self) -> None:
        if self.recorder is not None and self.recorder.poll() is None:
            self.recorder.kill()
            self.recorder.wait()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.flush()


# --------------------------------------------------------------------------------------------
# Driving the viewers
# --------------------------------------------------------------------------------------------


class Clients:
    """One or more viewer processes, driven by JSON lines over their stdin/stdout."""

    def __init__(self, nprocs: int, cpus: set[int] | None) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "_client"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
                preexec_fn=functools.partial(_client_setup, cpus),
            )
            for _ in range(nprocs)
        ]
        self.count = 0

    def _all(self, cmds: list[dict]) -> list[dict]:
        for p, c in zip(self.procs, cmds, strict=True):
            assert p.stdin is not None  # stdin=PIPE
            p.stdin.write(json.dumps(c) + "\n")
            p.stdin.flush()
        out = []
        for p in self.procs[: len(cmds)]:
            assert p.stdout is not None  # stdout=PIPE
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("viewer process died")
            out.append(json.loads(line))
        return out

    def open(self, server: Server, n: int, sequential: bool = False, concurrency: int = 100) -> dict:
        """Open n more viewers, spread over the processes; returns merged results."""
        share = [n // len(self.procs) + (1 if i < n % len(self.procs) else 0) for i in range(len(self.procs))]
        cmds = [
            {
                "cmd": "open",
                "host": "127.0.0.1",
                "port": server.port,
                "paths": server.paths,
                "n": k,
                "cookie": server.cookie,
                "sequential": sequential,
                "concurrency": max(1, concurrency // len(self.procs)),
            }
            for k in share
        ]
        res = self._all(cmds)
        merged: dict[str, Any] = {"opened": 0, "failed": 0, "errors": {}, "open_s": 0.0, "first_ms": []}
        for r in res:
            merged["opened"] += r["opened"]
            merged["failed"] += r["failed"]
            merged["open_s"] = max(merged["open_s"], r["open_s"])
            merged["first_ms"] += r["first_ms"]
            for k, v in r["errors"].items():
                merged["errors"][k] = merged["errors"].get(k, 0) + v
        merged["first_ms"].sort()
        self.count += merged["opened"]
        return merged

    def close_to(self, n: int) -> None:
        share = [n // len(self.procs) + (1 if i < n % len(self.procs) else 0) for i in range(len(self.procs))]
        self._all([{"cmd": "close", "keep": k} for k in share])
        self.count = n

    def reset(self) -> None:
        self._all([{"cmd": "reset"}] * len(self.procs))

    def report(self) -> dict:
        res = self._all([{"cmd": "report"}] * len(self.procs))
        hist: dict[int, int] = {}
        first_rx: dict[int, float] = {}
        last_rx: dict[int, float] = {}
        t_rec: dict[int, float] = {}
        for r in res:
            for k, v in r["hist"].items():
                hist[int(k)] = hist.get(int(k), 0) + v
            for k, v in r["first_rx"].items():
                first_rx[int(k)] = min(v, first_rx.get(int(k), v))
            for k, v in r["last_rx"].items():
                last_rx[int(k)] = max(v, last_rx.get(int(k), v))
            for k, v in r["t_rec"].items():
                t_rec[int(k)] = v
        return {
            "hist": hist,
            "first_rx": first_rx,
            "last_rx": last_rx,
            "t_rec": t_rec,
            "unique": sum(r["unique"] for r in res),
            "dups": sum(r["dups"] for r in res),
            "bytes": sum(r["bytes"] for r in res),
            "data_bytes": sum(r["data_bytes"] for r in res),
            "client_cpu_s": sum(r["client_cpu_s"] for r in res),
            "wall_s": max(r["wall_s"] for r in res),
            "lag_p99_ms": max(r["lag_p99_ms"] for r in res),
            "lag_max_ms": max(r["lag_max_ms"] for r in res),
            "alive": sum(r["alive"] for r in res),
        }

    def exit(self) -> None:
        for p in self.procs:
            try:
                assert p.stdin is not None  # stdin=PIPE
                p.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                p.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def combine_tries(tries: list[dict]) -> dict:
    """Repeated load points: the try with the median p99 stands for the point; CPU figures are
    the medians of all tries. Every try's p99 and CPU stay in the row."""
    if len(tries) == 1:
        return tries[0]

    def median(key: str):
        values = sorted(t[key] for t in tries if t.get(key) is not None)
        return values[len(values) // 2] if values else None

    ranked = sorted(tries, key=lambda t: (t["p99_ms"] is None, t["p99_ms"] or 0))
    row = dict(ranked[len(ranked) // 2])
    for key in ("cpu_us_per_delivery", "cpu_us_per_delivery_marginal", "server_cpu_util", "server_cpu_wait"):
        row[key] = median(key)
    row["missed"] = sum(t["missed"] for t in tries)
    row["dups"] = sum(t["dups"] for t in tries)
    for key in ("peak_threads", "peak_db_conns", "peak_rss_kb"):
        row[key] = max(t[key] for t in tries)
    row["tries_p99_ms"] = [t["p99_ms"] for t in tries]
    row["tries_cpu_us_per_delivery"] = [t["cpu_us_per_delivery"] for t in tries]
    return row


def latency_split(rep: dict, committed: dict | None) -> dict:
    """Per event: record->commit (Aegis recorder), commit->first viewer (wake-up and the first
    write), first->last viewer (the fan-out itself). Peers publish in memory: commit = record."""
    commit, wake, spread = [], [], []
    committed = {int(k): v for k, v in (committed or {}).items()}
    for n, first in rep["first_rx"].items():
        t_rec = rep["t_rec"][n]
        done = committed.get(n, t_rec)
        commit.append((done - t_rec) * 1000)
        wake.append((first - done) * 1000)
        spread.append((rep["last_rx"][n] - first) * 1000)
    out = {}
    for name, values in (("commit", commit), ("wake", wake), ("spread", spread)):
        values.sort()
        out[f"{name}_p50_ms"] = pct(values, 0.5)
        out[f"{name}_p99_ms"] = pct(values, 0.99)
    return out


def percentile_hist(hist: dict[int, int], q: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for k in sorted(hist):
        seen += hist[k]
        if seen > rank:
            return (k + 0.5) / 10.0
    return max(hist) / 10.0


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


# --------------------------------------------------------------------------------------------
# One server through the matrix
# --------------------------------------------------------------------------------------------


def bench_server(kind: str, args, tmp: Path, server_cpus, client_cpus) -> dict:
    say = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {kind}: {msg}", flush=True)  # noqa: E731
    server = Server(kind, args, tmp, server_cpus)
    result: dict = {"server": kind, "idle": {}, "load": {}, "errors": []}
    clients = None
    try:
        server.prepare()
        server.start()
        pid = server.pid
        clients = Clients(args.client_procs, client_cpus)
        # Warm-up: first requests import lazily and fill caches; not part of any figure.
        w = clients.open(server, 5)
        if w["failed"]:
            raise RuntimeError(f"warm-up streams failed: {w['errors']}")
        clients.close_to(0)
        time.sleep(0.5)
        # Time to first frame, one stream at a time on an idle server.
        probe = clients.open(server, args.probe, sequential=True)
        result["first_event_ms"] = pct(probe["first_ms"], 0.5)
        result["first_event_ms_p90"] = pct(probe["first_ms"], 0.9)
        clients.close_to(0)
        time.sleep(args.settle)
        base = sample(pid, server.db, server.db_path)
        result["base"] = base
        say(
            f"pid {pid}, baseline rss {base['rss_kb']} KB, {base['threads']} threads, {base['db_conns']} db conns, "
            f"first frame {result['first_event_ms']:.2f} ms"
        )

        # Idle viewers, ascending.
        idle_points = sorted(set(args.idle_points) | set(args.viewers))
        idle_rates: dict[int, float] = {}
        for n in idle_points:
            k = n - clients.count
            profiling = args.profile and kind == "aegis" and n == idle_points[-1]
            profile = start_profile(pid, f"open-{n}") if profiling else None
            mark = CpuMark(pid)
            t_open = time.monotonic()
            r = clients.open(server, k)
            open_wall = time.monotonic() - t_open
            cpu = mark.since()
            if profile:
                result["open_profile_top"] = finish_profile(profile)
            if r["failed"]:
                result["errors"].append(f"{r['failed']} of {k} streams failed to open at N={n}: {r['errors']}")
            # What the server burns with these viewers open and no events (polls, heartbeats), so
            # that it can be taken out of the opening window.
            idle_mark = CpuMark(pid)
            t_idle = time.monotonic()
            time.sleep(args.settle)
            idle_rate = idle_mark.since() / (time.monotonic() - t_idle)
            s = sample(pid, server.db, server.db_path)
            open_net = max(0.0, cpu - idle_rate * open_wall)
            row = {
                **s,
                "viewers": clients.count,
                "rss_kb_per_viewer": (s["rss_kb"] - base["rss_kb"]) / max(1, clients.count),
                "open_cost_ms": open_net * 1000.0 / max(1, r["opened"]),
                "open_cost_ms_raw": cpu * 1000.0 / max(1, r["opened"]),
                "idle_cpu_util": idle_rate,
                "opened": r["opened"],
                "open_wall_s": r["open_s"],
                "first_ms_p50_burst": pct(r["first_ms"], 0.5),
            }
            result["idle"][n] = row
            idle_rates[clients.count] = idle_rate
            say(
                f"{clients.count} idle viewers: rss {s['rss_kb']} KB ({row['rss_kb_per_viewer']:.1f} KB/viewer), "
                f"{s['threads']} threads, {s['db_conns']} db conns, open {row['open_cost_ms']:.3f} ms CPU/stream "
                f"({r['open_s']:.1f} s wall), idle server CPU {idle_rate * 100:.1f}% of a core"
            )

        # Load, descending (close surplus viewers between points).
        for n in sorted(args.viewers, reverse=True):
            if clients.count > n:
                clients.close_to(n)
                time.sleep(args.settle)
            viewers = clients.count
            tries: list[dict] = []
            for attempt in range(args.repeat):
                server.arm(args.rate, args.seconds, client_cpus)
                profile = None
                if args.profile and kind == "aegis" and n == max(args.viewers) and attempt == 0:
                    profile = start_profile(pid, f"load-{n}")
                clients.reset()
                mark = CpuMark(pid)
                wait0 = runqueue_wait_s(pid)
                t0 = time.monotonic()
                server.fire(args.rate, args.seconds)
                peak = {"threads": 0, "db_conns": 0, "rss_kb": 0}
                while time.monotonic() - t0 < args.seconds:
                    s = sample(pid, server.db, server.db_path)
                    for key in peak:
                        peak[key] = max(peak[key], s[key])
                    time.sleep(0.5)
                src = server.finish(timeout=args.seconds + 60)
                time.sleep(args.drain)
                cpu = mark.since()
                elapsed = time.monotonic() - t0
                waited = runqueue_wait_s(pid) - wait0
                rep = clients.report()
                published = src.get("published") or 0
                row_split = latency_split(rep, src.get("committed"))
                expected = published * viewers / max(1, args.runs)
                hist = rep["hist"]
                row = {
                    "viewers": viewers,
                    "rate": args.rate,
                    "published": published,
                    "unique": rep["unique"],
                    "dups": rep["dups"],
                    "missed": max(0, round(expected - rep["unique"])),
                    "p50_ms": percentile_hist(hist, 0.50),
                    "p99_ms": percentile_hist(hist, 0.99),
                    "max_ms": (max(hist) / 10.0) if hist else None,
                    "deliveries_per_s": rep["unique"] / args.seconds,
                    "cpu_s": cpu,
                    "cpu_us_per_delivery": cpu * 1e6 / rep["unique"] if rep["unique"] else None,
                    # The same without what the server burns with these viewers and no events (a poll,
                    # heartbeats): the cost that grows with deliveries.
                    "cpu_us_per_delivery_marginal": (
                        max(0.0, cpu - idle_rates.get(viewers, 0.0) * elapsed) * 1e6 / rep["unique"]
                        if rep["unique"]
                        else None
                    ),
                    "server_cpu_util": cpu / elapsed,
                    # Share of the wall time the server was ready to run but had no CPU (other processes on
                    # the machine): high values mean the latency figures measure the machine, not the server.
                    "server_cpu_wait": waited / elapsed,
                    "loadavg": os.getloadavg()[0],
                    "client_cpu_util": rep["client_cpu_s"] / rep["wall_s"] if rep["wall_s"] else None,
                    "client_lag_p99_ms": rep["lag_p99_ms"],
                    "client_lag_max_ms": rep["lag_max_ms"],
                    "frame_bytes": rep["data_bytes"] / max(1, rep["unique"] + rep["dups"]),
                    "alive_after": rep["alive"],
                    **{f"peak_{k}": v for k, v in peak.items()},
                    **row_split,
                    "source": {k: v for k, v in src.items() if k not in ("done", "committed")},
                }
                if profile:
                    row["profile_top"] = finish_profile(profile)
                tries.append(row)
                say(
                    f"{viewers} viewers x {args.rate:g} ev/s: p50 {fmt(row['p50_ms'])} p99 {fmt(row['p99_ms'])} ms, "
                    f"{row['deliveries_per_s']:.0f} deliveries/s, {fmt(row['cpu_us_per_delivery'])} us CPU/delivery "
                    f"({fmt(row['cpu_us_per_delivery_marginal'])} over idle), "
                    f"client lag p99 {row['client_lag_p99_ms']:.1f} ms, "
                    f"server {row['server_cpu_util'] * 100:.0f}% / "
                    f"client {row['client_cpu_util'] * 100:.0f}% of a core, "
                    f"missed {row['missed']}, dups {row['dups']}, "
                    f"threads<= {peak['threads']}, db<= {peak['db_conns']}, "
                    f"server waited for a CPU {row['server_cpu_wait'] * 100:.0f}% of the time "
                    f"(load {row['loadavg']:.1f})"
                    + (
                        f", recorder emit p50 {src['emit_ms_p50']:.1f} p99 {src['emit_ms_p99']:.1f} ms, "
                        f"late {src['late']}"
                        if "emit_ms_p50" in src
                        else ""
                    )
                )
                say(
                    "  where the time goes (p50/p99 ms): record->committed "
                    f"{fmt(row['commit_p50_ms'])}/{fmt(row['commit_p99_ms'])}, "
                    f"committed->first viewer {fmt(row['wake_p50_ms'])}/{fmt(row['wake_p99_ms'])}, "
                    f"first->last viewer {fmt(row['spread_p50_ms'])}/{fmt(row['spread_p99_ms'])}"
                )
                if row["missed"] or rep["alive"] < viewers:
                    result["errors"].append(
                        f"N={viewers}: {row['missed']} deliveries missed, {rep['alive']} of {viewers} streams alive"
                    )
            result["load"][n] = combine_tries(tries)
            if len(tries) > 1:
                row = result["load"][n]
                say(
                    f"{viewers} viewers, median of {len(tries)}: p99 {fmt(row['p99_ms'])} ms "
                    f"(each: {', '.join(fmt(t['p99_ms']) for t in tries)}), "
                    f"{fmt(row['cpu_us_per_delivery'])} us CPU/delivery "
                    f"(each: {', '.join(fmt(t['cpu_us_per_delivery']) for t in tries)})"
                )
    except Exception as exc:
        result["errors"].append(f"{type(exc).__name__}: {exc}")
        say(f"ERROR {type(exc).__name__}: {exc}")
    finally:
        if clients is not None:
            clients.exit()
        server.stop()
        server.log.seek(0)
        tail = server.log.read()[-2000:]
        if result["errors"] and tail.strip():
            result["server_log_tail"] = tail
        server.log.close()
    return result


def fmt(v, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


# --------------------------------------------------------------------------------------------
# Profiling (py-spy from the peers' venv)
# --------------------------------------------------------------------------------------------


def start_profile(pid: int, label: str):
    """py-spy record of the server until finish_profile() interrupts it."""
    spy = PEER_VENV / "bin" / "py-spy"
    if not spy.exists():
        print("py-spy not found in .venv-sse-peers; no profile", flush=True)
        return None
    out = BENCH / "results" / f"aegis-profile-{label}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)  # attached before the measured window starts
    return proc, out, label


def finish_profile(profile) -> list:
    proc, out, label = profile
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not out.exists():
        return [f"py-spy failed: {proc.stderr.read()[-500:]}"]
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = stack.split(";")
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + c
        for f in set(frames[1:]):
            incl[f] = incl.get(f, 0) + c
    top_self = sorted(own.items(), key=lambda kv: -kv[1])[:12]
    top_incl = sorted(incl.items(), key=lambda kv: -kv[1])[:15]
    if not total:
        return []
    print(f"py-spy profile of {label} ({total} samples) saved to {out}")
    print("  top self:")
    for f, c in top_self:
        print(f"    {c * 100 / total:5.1f}%  {f}")
    print("  top inclusive:")
    for f, c in top_incl:
        print(f"    {c * 100 / total:5.1f}%  {f}")
    return [{"frame": f, "self_pct": round(c * 100 / total, 1)} for f, c in top_self]


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def report(results: dict[str, dict], args) -> dict:
    print()
    print(
        f"SSE fan-out, rate {args.rate:g} events/s total over {args.runs} run(s), {args.seconds:g} s per point, "
        f"db {args.db}, pinned {'no' if args.no_pin else 'yes'}"
    )
    head = (
        f"{'server':<14}{'viewers':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'deliv/s':>10}{'us/deliv':>10}{'us marg':>9}"
        f"{'srv cpu':>9}{'cpuwait':>8}{'missed':>8}{'dups':>8}{'threads':>9}{'db':>5}{'KB/view':>9}{'open ms':>9}"
    )
    print(head)
    print("-" * len(head))
    for kind, res in results.items():
        for n in sorted(set(res["idle"]) | set(res["load"])):
            idle = res["idle"].get(n, {})
            load = res["load"].get(n, {})
            threads = load.get("peak_threads", idle.get("threads"))
            dbc = load.get("peak_db_conns", idle.get("db_conns"))
            print(
                f"{kind:<14}{n:>8}{fmt(load.get('p50_ms')):>9}{fmt(load.get('p99_ms')):>9}{fmt(load.get('max_ms')):>9}"
                f"{fmt(load.get('deliveries_per_s'), '.0f'):>10}{fmt(load.get('cpu_us_per_delivery')):>10}"
                f"{fmt(load.get('cpu_us_per_delivery_marginal')):>9}"
                f"{fmt(load['server_cpu_util'] * 100 if load else None, '.0f') + '%' if load else '-':>9}"
                f"{fmt(load['server_cpu_wait'] * 100 if load else None, '.0f') + '%' if load else '-':>8}"
                f"{fmt(load.get('missed'), 'd'):>8}{fmt(load.get('dups'), 'd'):>8}{fmt(threads, 'd'):>9}"
                f"{fmt(dbc, 'd'):>5}{fmt(idle.get('rss_kb_per_viewer')):>9}{fmt(idle.get('open_cost_ms'), '.3f'):>9}"
            )
        if "first_event_ms" in res:
            print(
                f"{'':<14}first frame on an idle server: p50 {fmt(res['first_event_ms'], '.2f')} ms; "
                f"baseline {res.get('base', {}).get('threads', '-')} threads, "
                f"{res.get('base', {}).get('db_conns', '-')} db conns"
            )
        for e in res["errors"]:
            print(f"{'':<14}! {e}")
    print(
        "(srv cpu: server CPU in % of a core; cpuwait: % of the time the server was runnable but another process\n"
        " had the CPU (machine noise); us marg: CPU per delivery over the server's idle burn with the same viewers;\n"
        " threads/db: peak"
        " during load, or idle where no load ran; KB/view and open ms: idle phase, 0 -> N viewers, open ms\n"
        " net of the idle burn)"
    )

    # Client health: if the client saturates its core, latency figures are the client's.
    for kind, res in results.items():
        lags = [row.get("client_lag_p99_ms") or 0 for row in res["load"].values()]
        utils = [row.get("client_cpu_util") or 0 for row in res["load"].values()]
        if lags:
            print(
                f"viewer process during {kind}: at most {max(utils) * 100:.0f}% of a core, "
                f"event-loop lag p99 <= {max(lags):.1f} ms"
            )
    rows = [row for r in results.values() for row in r["load"].values()]
    worst_client = max((row.get("client_cpu_util") or 0 for row in rows), default=0)
    worst_lag = max((row.get("client_lag_p99_ms") or 0 for row in rows), default=0)
    print(
        f"viewer processes: busiest at {worst_client * 100:.0f}% of a core, event-loop lag p99 <= {worst_lag:.1f} ms"
        + ("  (WARNING: the client may be limiting)" if worst_client > 0.85 else "")
    )

    aegis = results.get("aegis", {"idle": {}, "load": {}})
    star = results.get("sse-starlette", {"idle": {}, "load": {}})
    es = results.get("eventstream", {"idle": {}, "load": {}})
    load_ns = sorted(aegis["load"])
    ref_n = 1000 if 1000 in aegis["load"] else (load_ns[-1] if load_ns else None)
    idle_ns = sorted(aegis["idle"])
    small_n = idle_ns[0] if idle_ns else None
    large_n = idle_ns[-1] if idle_ns else None

    def get(res, phase, n, key):
        return res[phase].get(n, {}).get(key) if n is not None else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    cpu_a = get(aegis, "load", ref_n, "cpu_us_per_delivery")
    cpu_s = get(star, "load", ref_n, "cpu_us_per_delivery")
    cpu_e = get(es, "load", ref_n, "cpu_us_per_delivery")
    cpu_ratio = ratio(cpu_a, cpu_s)
    rss_kb = get(aegis, "idle", large_n, "rss_kb_per_viewer")
    open_ms = get(aegis, "idle", large_n, "open_cost_ms")

    def flat(key_idle: str, key_load: str) -> tuple[int | None, int | None]:
        small = aegis["load"].get(small_n, {}).get(key_load, get(aegis, "idle", small_n, key_idle))
        large = (
            max(
                v
                for v in (get(aegis, "idle", large_n, key_idle), aegis["load"].get(large_n, {}).get(key_load))
                if v is not None
            )
            if large_n is not None and aegis["idle"].get(large_n)
            else None
        )
        return small, large

    thr_small, thr_large = flat("threads", "peak_threads")
    db_small, db_large = flat("db_conns", "peak_db_conns")

    print()
    print("targets (Aegis):")

    def noisy(n, peer=None) -> str:
        """A figure taken while another process held the server's CPU says more about the machine."""
        pairs = [("aegis", aegis)] + ([("sse-starlette", peer)] if peer is not None else [])
        waits = [(kind, r["load"].get(n, {}).get("server_cpu_wait")) for kind, r in pairs]
        busy = [f"{kind} {w * 100:.0f}%" for kind, w in waits if w is not None and w > NOISY_WAIT]
        if not busy:
            return ""
        return f"  [NOISY: server waited for a CPU {', '.join(busy)} of the time; rerun or use --repeat]"

    def verdict(name: str, ok: bool | None, detail: str) -> None:
        print(f"  {'PASS' if ok else ('FAIL' if ok is not None else 'N/A ')}  {name}: {detail}")

    verdict(
        "CPU per delivery <= 0.7 x sse-starlette",
        None if cpu_ratio is None else cpu_ratio <= CPU_RATIO_MAX,
        f"{fmt(cpu_a)} vs {fmt(cpu_s)} us at {ref_n} viewers = {fmt(cpu_ratio, '.2f')}x "
        f"(django-eventstream {fmt(cpu_e)} us)" + noisy(ref_n, star),
    )
    verdict(
        "RSS per idle viewer <= 20 KB",
        None if rss_kb is None else rss_kb <= RSS_KB_MAX,
        f"{fmt(rss_kb)} KB at {large_n} viewers",
    )
    if small_n is not None and large_n is not None and small_n != large_n:
        verdict(
            "threads flat",
            None if thr_large is None or thr_small is None else thr_large - thr_small <= 1,
            f"{thr_small} at {small_n} -> {thr_large} at {large_n} viewers",
        )
        verdict(
            "DB connections flat",
            None if db_large is None or db_small is None else db_large - db_small <= 0,
            f"{db_small} at {small_n} -> {db_large} at {large_n} viewers",
        )
    else:
        verdict("threads / DB connections flat", None, "needs two viewer counts")
    for n, limit in P99_TARGETS.items():
        p99 = get(aegis, "load", n, "p99_ms")
        rate_ok = args.rate >= 10
        verdict(
            f"p99 <= {limit:g} ms at {n} viewers x 10 ev/s",
            None if p99 is None or not rate_ok else p99 <= limit,
            f"{fmt(p99)} ms" + noisy(n) if p99 is not None else "not measured in this run",
        )
    verdict(
        "opening a stream <= 1 ms server CPU",
        None if open_ms is None else open_ms <= OPEN_MS_MAX,
        f"{fmt(open_ms, '.3f')} ms (over {large_n} opens)",
    )

    summary = {
        "bench": "sse_fanout",
        "db": args.db,
        "rate": args.rate,
        "seconds": args.seconds,
        "runs": args.runs,
        "repeat": args.repeat,
        "ref_viewers": ref_n,
        "p50_ms": get(aegis, "load", ref_n, "p50_ms"),
        "p99_ms": get(aegis, "load", ref_n, "p99_ms"),
        "p99_ms_by_viewers": {n: aegis["load"][n]["p99_ms"] for n in load_ns},
        "deliveries_per_s": get(aegis, "load", ref_n, "deliveries_per_s"),
        "cpu_us_per_delivery": cpu_a,
        "cpu_us_per_delivery_marginal": get(aegis, "load", ref_n, "cpu_us_per_delivery_marginal"),
        "cpu_us_per_delivery_sse_starlette": cpu_s,
        "cpu_us_per_delivery_eventstream": cpu_e,
        "cpu_ratio_vs_sse_starlette": cpu_ratio,
        "cpu_ratio_vs_eventstream": ratio(cpu_a, cpu_e),
        "server_cpu_wait": get(aegis, "load", ref_n, "server_cpu_wait"),
        "server_cpu_wait_sse_starlette": get(star, "load", ref_n, "server_cpu_wait"),
        "rss_kb_per_viewer": rss_kb,
        "rss_kb_per_viewer_sse_starlette": get(star, "idle", large_n, "rss_kb_per_viewer"),
        "rss_kb_per_viewer_eventstream": get(es, "idle", large_n, "rss_kb_per_viewer"),
        "threads_small": thr_small,
        "threads_large": thr_large,
        "db_conns_small": db_small,
        "db_conns_large": db_large,
        "small_viewers": small_n,
        "large_viewers": large_n,
        "open_cost_ms": open_ms,
        "open_cost_ms_sse_starlette": get(star, "idle", large_n, "open_cost_ms"),
        "open_cost_ms_eventstream": get(es, "idle", large_n, "open_cost_ms"),
        "first_event_ms": aegis.get("first_event_ms"),
        "missed": sum(row.get("missed", 0) for row in aegis["load"].values()),
        "errors": {k: r["errors"] for k, r in results.items() if r["errors"]},
        "pass": {
            "cpu_ratio": None if cpu_ratio is None else cpu_ratio <= CPU_RATIO_MAX,
            "rss_per_viewer": None if rss_kb is None else rss_kb <= RSS_KB_MAX,
            "threads_flat": None
            if thr_large is None or thr_small is None or small_n == large_n
            else thr_large - thr_small <= 1,
            "db_flat": None if db_large is None or db_small is None or small_n == large_n else db_large - db_small <= 0,
            **{
                f"p99_{n}": (
                    None if get(aegis, "load", n, "p99_ms") is None else get(aegis, "load", n, "p99_ms") <= lim
                )
                for n, lim in P99_TARGETS.items()
            },
            "open_cost": None if open_ms is None else open_ms <= OPEN_MS_MAX,
        },
        "matrix": {
            k: {
                str(n): {
                    key: (round(v, 3) if isinstance(v, float) else v)
                    for key, v in row.items()
                    if key
                    in (
                        "p50_ms",
                        "p99_ms",
                        "cpu_us_per_delivery",
                        "cpu_us_per_delivery_marginal",
                        "deliveries_per_s",
                        "missed",
                        "dups",
                        "peak_threads",
                        "peak_db_conns",
                        "server_cpu_wait",
                        "commit_p50_ms",
                        "wake_p50_ms",
                        "spread_p50_ms",
                        "spread_p99_ms",
                        "tries_p99_ms",
                        "tries_cpu_us_per_delivery",
                    )
                }
                for n, row in r["load"].items()
            }
            for k, r in results.items()
        },
    }
    return summary


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", default="10,1000,2000", help="viewer counts with load (default 10,1000,2000)")
    ap.add_argument("--rate", type=float, default=10.0, help="events recorded per second, in total (default 10)")
    ap.add_argument("--seconds", type=float, default=20.0, help="load duration per viewer count (default 20)")
    ap.add_argument("--repeat", type=int, default=1, help="load phases per viewer count; the median stands (default 1)")
    ap.add_argument("--runs", type=int, default=1, help="spread viewers and events over this many runs (default 1)")
    ap.add_argument("--servers", default=",".join(SERVERS), help=f"subset of {','.join(SERVERS)}")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="Aegis database (default sqlite)")
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--quick", action="store_true", help="smoke run: 50 viewers, 5 s, under a minute")
    ap.add_argument("--client-procs", type=int, default=1, help="viewer processes (default 1)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and clients to separate CPUs")
    ap.add_argument("--profile", action="store_true", help="py-spy profile of Aegis during the largest load")
    ap.add_argument("--probe", type=int, default=10, help="streams opened one by one for first-frame time")
    ap.add_argument("--settle", type=float, default=1.5, help="seconds to wait before idle samples")
    ap.add_argument("--drain", type=float, default=2.0, help="seconds to wait for stragglers after publishing")
    ap.add_argument("--idle-points", default="10", help="extra idle-only viewer counts (default 10)")
    ap.add_argument("--json-out", help="also write the JSON summary to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.viewers = "50"
        args.seconds = 5.0
        args.settle = 0.5
        args.drain = 1.0
        args.probe = 5
    args.viewers = [int(v) for v in str(args.viewers).split(",") if v.strip()]
    args.idle_points = [int(v) for v in str(args.idle_points).split(",") if v.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s!r}")

    raise_nofile()
    ncpu = len(os.sched_getaffinity(0))
    if args.no_pin or ncpu < 2:
        server_cpus = client_cpus = None
        args.no_pin = True
    else:
        cpus = sorted(os.sched_getaffinity(0))
        server_cpus, client_cpus = {cpus[0]}, set(cpus[1:])
        pin(client_cpus)

    if any(s != "aegis" for s in servers):
        ensure_peer_venv()
    if "aegis" in servers:
        for f in ("aegis_site/asgi.py", "audits/runs/recorder.py"):
            if not (ROOT / f).exists():
                sys.exit(f"{f} is missing: the Aegis server is not there to measure")

    t_start = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(prefix="sse-fanout-") as tmpdir:
        for kind in servers:
            results[kind] = bench_server(kind, args, Path(tmpdir), server_cpus, client_cpus)
    summary = report(results, args)
    summary["elapsed_s"] = round(time.monotonic() - t_start, 1)
    line = json.dumps(summary, separators=(",", ":"), default=str)
    if args.json_out:
        Path(args.json_out).write_text(line + "\n")
    print(line, flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        run_client()
    elif len(sys.argv) > 1 and sys.argv[1] == "_aegis-setup":
        run_aegis_setup(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_aegis-recorder":
        run_aegis_recorder(float(sys.argv[2]), float(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")])
    else:
        main(sys.argv[1:])
