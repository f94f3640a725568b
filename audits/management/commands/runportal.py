"""Start the web server and the task worker together; stop both on Ctrl-C or SIGTERM.

The supervisor loop also starts the scheduled audits that are due (audits.schedules), so no extra process is needed.
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from audits.management.commands.run_schedules import check_once
from audits.schedules import SCHEDULE_CHECK_S
from audits.stream.protocol import HTTP_PROTOCOL


def server_command(host: str, port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "aegis_site.asgi:application",
        "--host", host, "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", HTTP_PROTOCOL, "--no-access-log", "--timeout-graceful-shutdown", "3",
        *proxy_options(settings.AEGIS_TRUSTED_PROXIES),
    ]  # fmt: skip


def proxy_options(proxies: list[str]) -> list[str]:
    # uvicorn's own default trusts X-Forwarded-For from 127.0.0.1 and ::1 (or $FORWARDED_ALLOW_IPS), so anything
    # on the host could name its own client address. It believes the header only from the proxies the settings name.
    if not proxies:
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", ",".join(proxies)]


def worker_command() -> list[str]:
    return [sys.executable, "manage.py", "db_worker", "--interval", "0.02", "--no-startup-delay"]


class Command(BaseCommand):
    help = "Run the ASGI server (uvicorn) and the task worker (db_worker) until interrupted."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.AEGIS_HOST)
        parser.add_argument("--port", type=int, default=settings.AEGIS_PORT)
        parser.add_argument("--workers", type=int, default=1, help="task workers to start")

    def handle(self, *args, host: str, port: int, workers: int, **options) -> None:
        procs = [subprocess.Popen(server_command(host, port))]
        procs += [subprocess.Popen(worker_command()) for _ in range(workers)]
        self.stdout.write(f"Aegis IAM on http://{host}:{port}/  (Ctrl-C stops the server and the worker)")
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        next_schedule_check = time.monotonic()
        try:
            while not stopping and all(p.poll() is None for p in procs):
                if time.monotonic() >= next_schedule_check:
                    check_once()  # never raises; another runportal or run_schedules may check at the same time
                    next_schedule_check = time.monotonic() + SCHEDULE_CHECK_S
                time.sleep(0.2)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for p in procs:
                try:
                    p.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p for p in procs if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed and not stopping:
            raise SystemExit(1)
