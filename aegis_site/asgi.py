"""ASGI entry point: the stream paths go to the lean stream app, everything else to Django, body limited."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aegis_site.settings")

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

from aegis_site.body_limits import with_body_limits  # noqa: E402
from audits.stream.app import lifespan, match, stream_app  # noqa: E402

# Every request Django serves has its body limited by its address before Django reads it.
limited_django_app = with_body_limits(django_app)

# Full collections walk every live object and pause the loop for 100+ ms with thousands of
# streams open; freezing start-up objects and collecting young ones less often keeps p99 down.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 50, 100)


async def application(scope, receive, send) -> None:
    if scope["type"] == "http":
        found = match(scope["path"])
        if found:
            await stream_app(scope, receive, send, found)
            return
        await limited_django_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
