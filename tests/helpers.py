"""Plain helpers shared by the tests: people, runs, events, and a small SSE reader."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from audits.models import AuditEvent, AuditRun
from audits.runs.recorder import Recorder
from audits.stream.protocol import HTTP_PROTOCOL

ROOT = Path(__file__).resolve().parent.parent


def make_user(username: str, *, staff: bool = False):
    User = get_user_model()  # noqa: N806
    return User.objects.create_user(username=username, password=f"{username}-pw-123", is_staff=staff)


def make_run(owner, **fields) -> AuditRun:
    fields.setdefault("source", AuditRun.Source.DEMO)
    return AuditRun.objects.create(owner=owner, **fields)


def make_finished_run(owner, count: int = 5, *, gap_s: float = 0.0) -> AuditRun:
    """A completed run with `count` stored events, the last one `complete`, `gap_s` apart."""
    run = make_run(owner, status=AuditRun.Status.RUNNING)
    recorder = Recorder(run.pk)
    for i in range(1, count):
        recorder.emit("progress", f"step {i}", i * 10)
    recorder.emit("complete", "Audit complete!", 100, {"result": {"success": True, "risk_score": 42}})
    if gap_s:
        start = timezone.now() - timedelta(seconds=gap_s * count)
        for event in AuditEvent.objects.filter(run=run):
            AuditEvent.objects.filter(pk=event.pk).update(created=start + timedelta(seconds=gap_s * event.seq))
    AuditRun.objects.filter(pk=run.pk).update(status=AuditRun.Status.COMPLETED, finished=timezone.now())
    run.refresh_from_db()
    return run


def session_cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    """Environment for a server, worker or recorder process that shares the test database."""
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="aegis_site.settings", SECRET_KEY=settings.SECRET_KEY, DEBUG="0")
    env["AEGIS_SSE_HEARTBEAT_S"] = env.get("AEGIS_SSE_HEARTBEAT_S", "15")
    # The demo's watchable pace (30 s a run) would slow every server test; a test that needs another pace sets it.
    env.setdefault("AEGIS_DEMO_STEP_MS", "60")
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        env["AEGIS_DB_PATH"] = str(settings_dict["NAME"])
        env.pop("DATABASE_URL", None)
    else:
        user = settings_dict.get("USER") or ""
        password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        env["DATABASE_URL"] = f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    return env


def start_server(port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = subprocess_env() | (extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "aegis_site.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--loop", "uvloop", "--http", HTTP_PROTOCOL, "--no-access-log",
         "--log-level", "warning", "--timeout-graceful-shutdown", "1"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    wait_for_port(port, proc)
    return proc


def start_worker(extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = subprocess_env() | (extra_env or {})
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload"],
        cwd=ROOT, env=env,
    )  # fmt: skip


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s")


def sse_events(response: httpx.Response) -> Iterator[dict]:
    """Yield each SSE frame of a streaming response as {"id", "data", "retry", "comment"}."""
    frame: dict = {}
    for line in response.iter_lines():
        if line == "":
            if frame:
                yield frame
            frame = {}
        elif line.startswith(":"):
            frame["comment"] = line[1:].strip()
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            frame[field] = json.loads(value) if field == "data" else value
    if frame:
        yield frame


def read_stream(
    url: str, cookies: dict, *, headers: dict | None = None, limit: int | None = None, timeout: float = 20
) -> tuple[httpx.Response, list[dict]]:
    """Read data frames until the server closes the stream (or `limit` frames arrive)."""
    data: list[dict] = []
    with (
        httpx.Client(cookies=cookies, timeout=timeout) as client,
        client.stream("GET", url, headers=headers or {}) as response,
    ):
        if response.status_code != 200:
            response.read()
            return response, data
        for frame in sse_events(response):
            if "data" in frame:
                data.append(frame["data"])
                if limit is not None and len(data) >= limit:
                    break
    return response, data


def wait_for_other_sessions_to_close(timeout: float = 10) -> None:
    """PostgreSQL refuses to drop the test database while a stopped server's session lingers."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


def wait_for(predicate, timeout: float = 60, step: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy and return its value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"{what} not met within {timeout}s")


def status_of(run: AuditRun) -> str:
    return AuditRun.objects.values_list("status", flat=True).get(pk=run.pk)
