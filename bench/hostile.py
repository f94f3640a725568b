#!/usr/bin/env python
"""Hostile clients against the real portal while another user browses: what the attacks cost, in one run.

Starts the real portal (uvicorn + db_worker, SQLite in a temporary directory), signs in an attacker and a victim,
and while the victim loads /audits/ again and again, replays these attacks against 127.0.0.1 (numbered as in the
hardening issue):

  1  "who can" with an exponential wildcard: a one-user snapshot whose policy Resource is
     arn:aws:s3:::*a*a*a*a*a*a*a*a*a*a*a*a*b, then s3:GetObject on arn:aws:s3::: + 44 a's, as a page and in the API;
  2  slow bodies: a few hundred sockets that announce Content-Length 100 and send nothing, and ten clients that send
     44 MB of a 45 MB body and stop;
  4  a 40 MB single-statement policy (1.2 M condition values) uploaded, its run page opened, ten SSE streams and a
     log.ndjson download that are never read, and eight 40 MB uploads at once;
  5  a 120 MB multipart body and a 21 MB JSON body `[{},{},...]` to the API;
  7  start, pause, repeat, then resume all at once.

Web and worker RSS (with any children) are sampled with psutil. Per attack it prints the HTTP statuses seen, the
worst single request time and the victim's latency meanwhile; it ends with one JSON line: web_peak_rss_mb,
worker_peak_rss_mb, victim_p50_ms, victim_p99_ms, worst_request_s, statuses, any_500.

    .venv/bin/python bench/hostile.py            # about 10 minutes at most
    .venv/bin/python bench/hostile.py --quick    # smaller counts, about 2 minutes

Some attacks may still hurt the portal; the bench itself stays bounded: every request has a client timeout
(30 s), every loop a count, and the whole run a deadline. Only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import re
import selectors
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx  # for the annotations; the code imports it where it makes a client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import RssSampler, Stack, percentile  # noqa: E402
from bench.large_account import sign_in  # noqa: E402

REQUEST_TIMEOUT_S = 30.0
ACCOUNT = "123456789012"
WILDCARD_RESOURCE = "arn:aws:s3:::" + "*a" * 12 + "*b"
MB = 1024 * 1024


@dataclass
class Scale:
    slow_sockets: int
    slow_hold_s: float
    big_body_clients: int
    concurrent_uploads: int
    hold_s: float
    repeats: int
    pause_runs: int
    wait_s: float  # for an audit to reach a state
    raw_timeout_s: float  # for an answer to a raw-socket body
    deadline_s: float


FULL = Scale(slow_sockets=300, slow_hold_s=40, big_body_clients=10, concurrent_uploads=8, hold_s=30, repeats=3,
             pause_runs=6, wait_s=60, raw_timeout_s=REQUEST_TIMEOUT_S, deadline_s=560)  # fmt: skip
QUICK = Scale(slow_sockets=100, slow_hold_s=12, big_body_clients=3, concurrent_uploads=3, hold_s=8, repeats=1,
              pause_runs=4, wait_s=15, raw_timeout_s=15, deadline_s=130)  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# What each attack saw
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Attack:
    name: str
    statuses: Counter = field(default_factory=Counter)
    worst_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    victim_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int | str, seconds: float) -> None:
        with self.lock:
            self.statuses[str(status)] += 1
            self.worst_s = max(self.worst_s, seconds)

    def summary(self) -> dict:
        return {"statuses": dict(self.statuses), "worst_request_s": round(self.worst_s, 2),
                "victim_p50_ms": _pct(self.victim_ms, 50), "victim_p99_ms": _pct(self.victim_ms, 99),
                "notes": self.notes}  # fmt: skip


def _pct(values: list[float], q: float) -> float | None:
    found = percentile(values, q)
    return None if found is None else round(found, 1)


def timed(attack: Attack, call: Callable[[], httpx.Response]) -> httpx.Response | None:
    """Run one httpx request, recording its status (or the exception's name) and its time."""
    start = time.perf_counter()
    try:
        response = call()
    except Exception as exc:  # a timeout or a dropped connection is what the attack saw, not a bench failure
        attack.record(_error_name(exc), time.perf_counter() - start)
        return None
    attack.record(response.status_code, time.perf_counter() - start)
    return response


def _error_name(exc: BaseException) -> str:
    name = type(exc).__name__
    return "timeout" if "Timeout" in name or isinstance(exc, TimeoutError) else name


# --------------------------------------------------------------------------------------------------------------
# The victim and the memory sampler
# --------------------------------------------------------------------------------------------------------------


class Victim(threading.Thread):
    """Loads /audits/ until stopped (at most max_requests), recording each load's time and status."""

    def __init__(self, base: str, password: str, pause_s: float = 0.2, max_requests: int = 5000) -> None:
        super().__init__(name="victim", daemon=True)
        self.client = sign_in(base, "victim", password, timeout=REQUEST_TIMEOUT_S)
        self.pause_s, self.max_requests = pause_s, max_requests
        self.samples: list[tuple[float, int | str]] = []  # (ms, status)
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for _ in range(self.max_requests):
                if self.stop.is_set():
                    return
                start = time.perf_counter()
                try:
                    status: int | str = self.client.get("/audits/").status_code
                except Exception as exc:
                    status = _error_name(exc)
                self.samples.append(((time.perf_counter() - start) * 1000, status))
                self.stop.wait(self.pause_s)
        finally:
            self.client.close()


# --------------------------------------------------------------------------------------------------------------
# Raw sockets: bodies the attacker controls byte by byte
# --------------------------------------------------------------------------------------------------------------


def raw_request(port: int, head: str, body: Iterable[bytes] = (), timeout: float = REQUEST_TIMEOUT_S) -> int | str:
    """Send a request head and as much of the body as the server takes, then read the status line; all within
    `timeout`. Returns the status or what happened instead ("timeout", "closed", an error name)."""
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        return f"connect:{type(exc).__name__}"
    with sock:
        try:
            sock.sendall(head.encode("latin-1"))
            for chunk in body:
                if time.monotonic() >= deadline:
                    break
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading: its answer (if any) tells why
        return _read_status(sock, deadline)


def _read_status(sock: socket.socket, deadline: float) -> int | str:
    data = b""
    while b"\r\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return type(exc).__name__
        if not chunk:
            return "closed"
        data += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(match.group(1)) if match else "garbage"


def request_head(method: str, path: str, port: int, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


def repeated(piece: bytes, total: int, chunk: int = MB) -> Iterator[bytes]:
    """`total` bytes made of `piece`, in chunks, without holding them all."""
    block = (piece * (chunk // len(piece) + 1))[:chunk]
    sent = 0
    while sent < total:
        part = block[: min(chunk, total - sent)]
        sent += len(part)
        yield part


def multipart(boundary: str, field_name: str, size: int, *, declared_extra: int = 0) -> tuple[int, Iterator[bytes]]:
    """(Content-Length, body) of a multipart body with one file of `size` filler bytes."""
    opening = (f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\nsnapshot\r\n'
               f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="big.json"\r\n'
               "Content-Type: application/json\r\n\r\n").encode()  # fmt: skip
    closing = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield opening
        yield from repeated(b" ", size)
        yield closing

    return len(opening) + size + len(closing) + declared_extra, body()


# --------------------------------------------------------------------------------------------------------------
# The attacks
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Context:
    base: str
    port: int
    attacker: httpx.Client  # signed in as the attacker
    token: str
    scale: Scale
    tmp: Path
    deadline: float

    @property
    def cookie(self) -> str:
        return self.attacker.cookies.get("sessionid") or ""

    def csrf(self) -> dict[str, str]:
        if not self.attacker.cookies.get("csrftoken"):
            self.attacker.get("/audits/new")
        return {"X-CSRFToken": self.attacker.cookies.get("csrftoken") or "", "Referer": f"{self.base}/audits/new"}

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def left(self) -> float:
        return self.deadline - time.monotonic()


def one_user_snapshot(statement: dict) -> dict:
    user = {"UserName": "wild", "UserId": "AIDAHOSTILE000000001", "Arn": f"arn:aws:iam::{ACCOUNT}:user/wild",
            "Path": "/", "CreateDate": "2026-01-01T00:00:00Z", "GroupList": [], "AttachedManagedPolicies": [],
            "UserPolicyList": [{"PolicyName": "wild", "PolicyDocument": {"Version": "2012-10-17",
                                                                          "Statement": [statement]}}]}  # fmt: skip
    return {"UserDetailList": [user], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}


def upload_form(ctx: Context, client, path: Path, attack: Attack) -> int | None:
    """Upload a snapshot through the new-audit form; the new run's id, or None when it was refused."""
    with path.open("rb") as handle:
        response = timed(
            attack,
            lambda: client.post("/audits/new", headers=ctx.csrf(), data={"source": "snapshot", "frameworks": ["cis"]},
                                files={"snapshot_file": (path.name, handle, "application/json")}),
        )  # fmt: skip
    match = re.match(r"^/audits/(\d+)/$", response.headers.get("location", "")) if response is not None else None
    return int(match.group(1)) if match else None


def wait_for_status(ctx: Context, run_id: int, wanted: set[str], timeout: float) -> str:
    deadline = time.monotonic() + min(timeout, max(1.0, ctx.left()))
    status = "?"
    while time.monotonic() < deadline:
        try:
            answer = ctx.attacker.get(f"/api/v1/audits/{run_id}", headers=ctx.bearer()).json()
            status = answer.get("run", {}).get("status", "?")
        except Exception:
            status = "?"
        if status in wanted:
            return status
        time.sleep(0.25)
    return status


def cancel(ctx: Context, run_ids: Iterable[int]) -> None:
    for run_id in run_ids:
        try:
            ctx.attacker.post(f"/audits/{run_id}/cancel", headers=ctx.csrf())
        except Exception:
            continue


def attack_wildcard(ctx: Context, attack: Attack) -> None:
    path = ctx.tmp / "wildcard.json"
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": WILDCARD_RESOURCE}
    path.write_text(json.dumps(one_user_snapshot(statement)))
    run_id = upload_form(ctx, ctx.attacker, path, attack)
    if run_id is None:
        attack.notes.append("the snapshot upload was refused")
        return
    attack.notes.append(
        f"audit of the snapshot ended {wait_for_status(ctx, run_id, {'completed', 'failed'}, ctx.scale.wait_s)}"
    )
    params = {"action": "s3:GetObject", "resource": "arn:aws:s3:::" + "a" * 44}
    asks = [
        ("page", lambda: ctx.attacker.get(f"/audits/{run_id}/query", params=params)),
        ("api", lambda: ctx.attacker.get(f"/api/v1/audits/{run_id}/query", params=params, headers=ctx.bearer())),
    ]
    for name, ask in asks:
        for _ in range(ctx.scale.repeats):
            before = attack.statuses["timeout"]
            timed(attack, ask)
            if attack.statuses["timeout"] > before:
                attack.notes.append(f"{name} query timed out after {REQUEST_TIMEOUT_S:.0f} s; not repeated")
                break


def attack_slow_bodies(ctx: Context, attack: Attack) -> None:
    # A few hundred requests that announce a body and never send it: on the login form and on the API.
    heads = [
        request_head("POST", "/accounts/login/", ctx.port,
                     {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100"}),
        request_head("POST", "/api/v1/audits", ctx.port,
                     {**ctx.bearer(), "Content-Type": "application/json", "Content-Length": "100"}),
    ]  # fmt: skip
    selector = selectors.DefaultSelector()
    opened: list[socket.socket] = []
    start = time.perf_counter()
    for i in range(ctx.scale.slow_sockets):
        try:
            sock = socket.create_connection(("127.0.0.1", ctx.port), timeout=5)
            sock.sendall(heads[i % 2].encode())
        except OSError as exc:
            attack.record(f"connect:{type(exc).__name__}", time.perf_counter() - start)
            continue
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        opened.append(sock)
    # Ten clients send 44 MB of a 45 MB body and stop, at the same time.
    boundary = "hostileboundary"
    big: list[threading.Thread] = []

    def almost_whole_body() -> None:
        length, body = multipart(boundary, "snapshot", 44 * MB, declared_extra=1 * MB)
        head = request_head("POST", "/api/v1/audits", ctx.port, {**ctx.bearer(), "Content-Length": str(length),
                            "Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
        began = time.perf_counter()
        status = raw_request(
            ctx.port, head, (part for i, part in enumerate(body) if i < 45), ctx.scale.raw_timeout_s
        )  # 1 MB chunks: 44 MB
        attack.record(status, time.perf_counter() - began)

    for _ in range(ctx.scale.big_body_clients):
        thread = threading.Thread(target=almost_whole_body, daemon=True)
        thread.start()
        big.append(thread)
    # Hold the silent sockets; note when (and how) the server answers or closes each.
    answered: set[int] = set()
    hold_until = time.monotonic() + min(ctx.scale.slow_hold_s, max(1.0, ctx.left()))
    while len(answered) < len(opened) and time.monotonic() < hold_until:
        for key, _ in selector.select(timeout=max(0.05, hold_until - time.monotonic())):
            held = key.fileobj
            assert isinstance(held, socket.socket)  # only sockets are registered
            status: int | str
            try:
                data = held.recv(4096)
            except OSError as exc:
                data, status = b"", type(exc).__name__
            else:
                match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
                status = int(match.group(1)) if match else "closed"
            attack.record(status, time.perf_counter() - start)
            answered.add(held.fileno())
            selector.unregister(held)
    silent = len(opened) - len(answered)
    if silent:
        attack.record("still waiting", time.perf_counter() - start)
        attack.statuses["still waiting"] += silent - 1
        attack.notes.append(f"{silent} of {len(opened)} silent bodies still open after {ctx.scale.slow_hold_s:.0f} s")
    for sock in opened:
        sock.close()
    selector.close()
    for thread in big:
        thread.join(ctx.scale.raw_timeout_s + 5)


def attack_big_policy(ctx: Context, attack: Attack) -> None:
    import httpx

    path = ctx.tmp / "big-policy.json"
    values = [f"vpce-{i:025d}" for i in range(1_200_000)]
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceVpce": values}}}  # fmt: skip
    path.write_text(json.dumps(one_user_snapshot(statement), separators=(",", ":")))
    del values, statement
    attack.notes.append(f"policy file {path.stat().st_size / 1e6:.1f} MB")
    run_id = upload_form(ctx, ctx.attacker, path, attack)
    started = [run_id] if run_id is not None else []
    held: list[socket.socket] = []
    try:
        if run_id is not None:
            timed(attack, lambda: ctx.attacker.get(f"/audits/{run_id}/"))
            # Ten event streams and one log download that are never read: the server must not buffer for them.
            cookie = {"Cookie": f"sessionid={ctx.cookie}"}
            stream = {**cookie, "Accept": "text/event-stream"}
            heads = [request_head("GET", f"/audits/{run_id}/events", ctx.port, stream) for _ in range(10)]
            heads.append(request_head("GET", f"/audits/{run_id}/export/log.ndjson", ctx.port, cookie))
            for head in heads:
                try:
                    sock = socket.create_connection(("127.0.0.1", ctx.port), timeout=5)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    sock.sendall(head.encode())
                    held.append(sock)
                except OSError as exc:
                    attack.record(f"connect:{type(exc).__name__}", 0.0)
        else:
            attack.notes.append("the 40 MB upload was refused")

        # Several 40 MB uploads at once, each on its own connection (the per-user run limit refuses some).
        def upload_again() -> None:
            with httpx.Client(base_url=ctx.base, timeout=REQUEST_TIMEOUT_S, cookies=ctx.attacker.cookies) as client:
                new_id = upload_form(ctx, client, path, attack)
            if new_id is not None:
                started.append(new_id)

        threads = [threading.Thread(target=upload_again, daemon=True) for _ in range(ctx.scale.concurrent_uploads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT_S + 10)
        time.sleep(min(ctx.scale.hold_s, max(0.0, ctx.left())))
        if run_id is not None:
            timed(attack, lambda: ctx.attacker.get(f"/audits/{run_id}/"))
    finally:
        for sock in held:
            sock.close()
        cancel(ctx, started)


def attack_big_api_bodies(ctx: Context, attack: Attack) -> None:
    boundary = "hostileboundary"
    length, body = multipart(boundary, "snapshot", 120 * MB)
    head = request_head("POST", "/api/v1/audits", ctx.port, {**ctx.bearer(), "Content-Length": str(length),
                        "Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    start = time.perf_counter()
    attack.record(raw_request(ctx.port, head, body, ctx.scale.raw_timeout_s), time.perf_counter() - start)
    count = (21 * MB) // 3
    json_length = 1 + 3 * count + 2  # "[" + "{}," * count + "{}]"
    head = request_head(
        "POST",
        "/api/v1/audits",
        ctx.port,
        {**ctx.bearer(), "Content-Type": "application/json", "Content-Length": str(json_length)},
    )

    def json_body() -> Iterator[bytes]:
        yield b"["
        yield from repeated(b"{},", 3 * count, chunk=3 * (MB // 3))
        yield b"{}]"

    start = time.perf_counter()
    attack.record(raw_request(ctx.port, head, json_body(), ctx.scale.raw_timeout_s), time.perf_counter() - start)


def attack_pause_resume(ctx: Context, attack: Attack) -> None:
    started: list[int] = []
    for _ in range(ctx.scale.pause_runs):
        if ctx.left() < 20:
            attack.notes.append("stopped starting runs: out of time")
            break
        response = timed(attack, lambda: ctx.attacker.post("/audits/new", headers=ctx.csrf(),
                                                           data={"source": "demo", "frameworks": ["cis"]}))  # fmt: skip
        match = re.match(r"^/audits/(\d+)/$", response.headers.get("location", "")) if response is not None else None
        if not match:
            attack.notes.append("a start was refused (the per-user limit counts paused runs)")
            continue
        run_id = int(match.group(1))
        started.append(run_id)
        wait_for_status(ctx, run_id, {"running", "completed", "failed"}, ctx.scale.wait_s)
        timed(attack, functools.partial(ctx.attacker.post, f"/audits/{run_id}/pause", headers=ctx.csrf()))
    # Resume them all at the same moment.
    barrier = threading.Barrier(max(1, len(started)))

    def resume(run_id: int) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(10)
        timed(attack, lambda: ctx.attacker.post(f"/audits/{run_id}/resume", headers=ctx.csrf()))

    threads = [threading.Thread(target=resume, args=(run_id,), daemon=True) for run_id in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT_S + 15)
    until = time.monotonic() + ctx.scale.wait_s
    ends = Counter(
        wait_for_status(ctx, run_id, {"completed", "failed", "cancelled"}, max(1.0, until - time.monotonic()))
        for run_id in started
    )
    attack.notes.append(f"{len(started)} runs started; after resume-all: {dict(ends)}")
    cancel(ctx, started)


ATTACKS: list[tuple[str, Callable[[Context, Attack], None]]] = [
    ("1 who-can wildcard", attack_wildcard),
    ("2 slow bodies", attack_slow_bodies),
    ("4 40 MB policy", attack_big_policy),
    ("5 big API bodies", attack_big_api_bodies),
    ("7 pause/resume", attack_pause_resume),
]


# --------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts and holds: about 2 minutes")
    parser.add_argument("--keep-logs", type=Path, help="write the server and worker logs here")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    scale = QUICK if args.quick else FULL
    began = time.monotonic()

    stack = Stack(db="sqlite", env={"AEGIS_DEMO_STEP_MS": "60"}, log_dir=args.keep_logs)
    attacks: list[Attack] = []
    errors: list[str] = []
    victim: Victim | None = None
    sampler: RssSampler | None = None
    try:
        stack.prepare()
        from django.contrib.auth import get_user_model

        from audits.models import ApiToken
        from audits.tokens import create_token

        passwords = {name: f"{name}-bench-pw-{os.getpid()}" for name in ("attacker", "victim")}
        users = {
            name: get_user_model().objects.create_user(username=name, password=pw) for name, pw in passwords.items()
        }
        token = create_token(users["attacker"], "hostile bench", scope=ApiToken.Scope.WRITE)[1]
        port = stack.start_server()
        worker = stack.start_worker()
        base = f"http://127.0.0.1:{port}"
        sampler = RssSampler({"web": stack.servers[0][1].pid, "worker": worker.pid}, family=True)
        sampler.start()
        attacker = sign_in(base, "attacker", passwords["attacker"], timeout=REQUEST_TIMEOUT_S)
        victim = Victim(base, passwords["victim"])
        victim.start()
        ctx = Context(base, port, attacker, token, scale, stack.tmp, began + scale.deadline_s)
        for name, run_attack in ATTACKS:
            attack = Attack(name)
            attacks.append(attack)
            if ctx.left() < 10:
                attack.notes.append("skipped: out of time")
                continue
            first_sample = len(victim.samples)
            started = time.monotonic()
            try:
                run_attack(ctx, attack)
            except Exception as exc:  # one attack's failure must not hide the others' figures
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
            attack.victim_ms = [ms for ms, _ in victim.samples[first_sample:]]
            print(f"[{name}] {time.monotonic() - started:.0f} s: statuses {dict(attack.statuses)}, worst request "
                  f"{attack.worst_s:.2f} s, victim p50 {_pct(attack.victim_ms, 50)} / p99 "
                  f"{_pct(attack.victim_ms, 99)} ms; web {sampler.peak_mb['web']:.0f} MB, "
                  f"worker {sampler.peak_mb['worker']:.0f} MB", flush=True)  # fmt: skip
            for note in attack.notes:
                print(f"    {note}", flush=True)
        attacker.close()
    except Exception as exc:  # the figures so far are still worth printing
        errors.append(f"bench: {type(exc).__name__}: {exc}")
    finally:
        if victim is not None:
            victim.stop.set()
            victim.join(REQUEST_TIMEOUT_S + 5)
        if sampler is not None:
            sampler.stop.set()
            sampler.join(5)
        stack.close()

    statuses: Counter = Counter()
    for attack in attacks:
        statuses.update(attack.statuses)
    victim_ms = [ms for ms, _ in victim.samples] if victim else []
    victim_statuses = Counter(str(status) for _, status in victim.samples) if victim else Counter()
    seen = [*statuses, *victim_statuses]
    figures = {
        "bench": "hostile",
        "quick": args.quick,
        "web_peak_rss_mb": round(sampler.peak_mb["web"], 1) if sampler else None,
        "worker_peak_rss_mb": round(sampler.peak_mb["worker"], 1) if sampler else None,
        "victim_p50_ms": _pct(victim_ms, 50),
        "victim_p99_ms": _pct(victim_ms, 99),
        "victim_requests": len(victim_ms),
        "victim_statuses": dict(victim_statuses),
        "worst_request_s": round(max((a.worst_s for a in attacks), default=0.0), 2),
        "statuses": dict(statuses),
        "any_500": any(s.isdigit() and int(s) >= 500 for s in seen),
        "attacks": {a.name: a.summary() for a in attacks},
        "wall_s": round(time.monotonic() - began, 1),
        "errors": errors[:20],
    }
    for line in errors[:20]:
        print(f"  error: {line}")
    print(json.dumps(figures))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
