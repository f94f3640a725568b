"""ASGI entry point: the stream paths go to a lean app, everything else to Django."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aegis_site.settings")

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

from audits.hub import stop_hub  # noqa: E402
from audits.stream_app import STREAM_PATH, stream_app  # noqa: E402
from audits.watchdog import watch_stale_runs  # noqa: E402

# Full collections walk every live object and pause the loop for 100+ ms with thousands of
# streams open; freezing start-up objects and collecting young ones less often keeps p99 down.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 50, 100)


async def application(scope, receive, send) -> None:
    if scope["type"] == "http":
        match = STREAM_PATH.match(scope["path"])
        if match:
            await stream_app(scope, receive, send, match)
            return
        await django_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def _lifespan(receive, send) -> None:
    import asyncio

    watchdog: asyncio.Task | None = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            watchdog = asyncio.create_task(watch_stale_runs())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if watchdog is not None:
                watchdog.cancel()
            await stop_hub()
            await send({"type": "lifespan.shutdown.complete"})
            return
