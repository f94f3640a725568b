"""Peer (a): a minimal FastAPI + sse-starlette server with its idiomatic in-memory fan-out.

One publisher task puts each event on every subscriber's asyncio.Queue; each stream is an
EventSourceResponse over an async generator reading its queue. The JSON is encoded once per
event and sse-starlette encodes each frame per subscriber, as it does for any app.
Control: GET /_bench/start?rate=&seconds=&runs= starts publishing, GET /_bench/stats reports.
"""

import asyncio
import resource

from common import Schedule, event_json
from fastapi import FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
subscribers: dict[int, set[asyncio.Queue]] = {}
state: dict = {"schedule": None, "task": None}


async def publish(schedule: Schedule) -> None:
    for i in range(schedule.total):
        delay = schedule.due(i) - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        run_id, seq = schedule.target(i)
        event = ServerSentEvent(data=event_json(seq, i), id=str(seq))
        for queue in subscribers.get(run_id, ()):
            queue.put_nowait(event)
        schedule.published += 1
    schedule.done = True


@app.get("/audits/{run_id}/events")
async def events(run_id: int, request: Request):
    queue: asyncio.Queue = asyncio.Queue()
    subscribers.setdefault(run_id, set()).add(queue)

    async def stream():
        try:
            yield ServerSentEvent(retry=2000)
            while True:
                yield await queue.get()
        finally:
            subscribers[run_id].discard(queue)

    return EventSourceResponse(stream(), ping=15)


@app.get("/_bench/start")
async def start(rate: float, seconds: float, runs: int = 1):
    schedule = Schedule(rate, seconds, runs)
    # Schedule uses time.monotonic(); uvloop's loop.time() is the same clock.
    schedule.start = asyncio.get_running_loop().time()
    state["schedule"] = schedule
    state["task"] = asyncio.get_running_loop().create_task(publish(schedule))
    return {"ok": True, "total": schedule.total}


@app.get("/_bench/stats")
async def stats():
    schedule = state["schedule"]
    return schedule.stats() if schedule else {"published": 0, "done": False}
