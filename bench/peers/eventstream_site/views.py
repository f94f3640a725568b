"""Bench control: publish R events/s with send_event() from a thread of the server process."""

import threading
import time

from common import Schedule, event_json
from django.db import close_old_connections
from django.http import JsonResponse
from django_eventstream import send_event

state: dict = {"schedule": None}


def _publish(schedule: Schedule) -> None:
    try:
        for i in range(schedule.total):
            delay = schedule.due(i) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            run_id, seq = schedule.target(i)
            send_event(f"run-{run_id}", "message", event_json(seq, i), json_encode=False)
            schedule.published += 1
    finally:
        schedule.done = True
        close_old_connections()


def start(request):
    schedule = Schedule(float(request.GET["rate"]), float(request.GET["seconds"]), int(request.GET.get("runs", 1)))
    state["schedule"] = schedule
    threading.Thread(target=_publish, args=(schedule,), name="bench-publisher", daemon=True).start()
    return JsonResponse({"ok": True, "total": schedule.total})


def stats(request):
    schedule = state["schedule"]
    return JsonResponse(schedule.stats() if schedule else {"published": 0, "done": False})
