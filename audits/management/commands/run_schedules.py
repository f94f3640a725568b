"""Start the scheduled audits that are due: once, or every --interval seconds with --loop.

`make run` (runportal) already does this in its supervisor loop; a deployment that starts its web servers and
`db_worker`s some other way runs one `run_schedules --loop` (or several: each due audit still starts once).
"""

import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import connection

from audits import schedules

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Start the scheduled audits that are due (once, or repeatedly with --loop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep checking until interrupted")
        parser.add_argument(
            "--interval", type=float, default=schedules.SCHEDULE_CHECK_S, help="seconds between checks with --loop"
        )

    def handle(self, *args, loop: bool, interval: float, **options) -> None:
        stopping = threading.Event()
        if loop:
            signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
            signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
        while True:
            for outcome in check_once():
                if outcome.run_id:
                    self.stdout.write(f"schedule {outcome.schedule_id}: started audit #{outcome.run_id}")
                else:
                    self.stdout.write(f"schedule {outcome.schedule_id}: {outcome.skipped}")
            if not loop or stopping.wait(max(interval, 0.05)):
                return


def check_once() -> list[schedules.Outcome]:
    try:
        return schedules.run_due_schedules()
    except Exception:  # a database outage must not end the loop; the next check tries again
        log.exception("checking the scheduled audits failed")
        connection.close()
        return []
