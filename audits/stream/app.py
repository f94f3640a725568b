"""A lean ASGI app for the two stream paths, in front of Django.

Django's ASGI handler keeps a thread per request for its sync middleware, for as long as a
stream stays open; this app instead answers with nothing but a coroutine, so an idle viewer
costs a few KB and no thread. It still behaves like Django where a client can tell: the request
is Django's own ASGIRequest (its cookie and query parsers), ALLOWED_HOSTS is enforced, and
SecurityMiddleware decides the HTTPS redirect and adds HSTS, nosniff and the rest.
"""

import asyncio
import io
import logging
import re

from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware

from audits.stream import serve
from audits.stream.hub import stop_hub
from audits.stream.watchdog import watch_stale_runs

STREAM_PATH = re.compile(r"^(?:/api/v1)?/audits/(?P<run_id>[0-9]{1,18})/(?P<kind>events|replay)/?$")

security_log = logging.getLogger("django.security.DisallowedHost")
_security = SecurityMiddleware(lambda request: HttpResponse())


def match(path: str) -> re.Match | None:
    return STREAM_PATH.match(path)


async def stream_app(scope, receive, send, found: re.Match) -> None:
    request = ASGIRequest(scope, io.BytesIO())
    try:
        request.get_host()
        # The HTTPS redirect (SECURE_SSL_REDIRECT), exactly as Django's middleware decides it.
        response = _security.process_request(request)
    except DisallowedHost as exc:
        security_log.error("Invalid HTTP_HOST header: %s", exc)
        response = serve.response_for(serve.Reply(400, "Bad Request (400): invalid Host header."))
    reply = None
    if response is None:
        reply = await serve.answer(request, found["kind"], int(found["run_id"]))
        response = serve.response_for(reply)
    _security.process_response(request, response)
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    body = reply.body if reply is not None else None
    content = response.content if body is None and not response.streaming else b""
    status = response.status_code
    del request, response, reply  # an open stream keeps only its body (RSS per idle viewer)
    if body is None:
        if status != 204:
            headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        return
    try:
        await receive()  # the (empty) GET body; the next receive() only returns on disconnect
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        await _pump(body, receive, send)
    finally:
        await body.aclose()


async def _pump(body: serve.StreamBody, receive, send) -> None:
    """Send frames until the body ends or the client goes away."""
    task = asyncio.current_task()
    assert task is not None  # an ASGI app always runs in a task
    gone = False

    def on_disconnect(_fut) -> None:
        nonlocal gone
        gone = True
        task.cancel()

    watcher = asyncio.ensure_future(receive())
    watcher.add_done_callback(on_disconnect)
    try:
        async for frame in body:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not gone:
            raise
    finally:
        watcher.remove_done_callback(on_disconnect)
        watcher.cancel()


async def lifespan(receive, send) -> None:
    """Start the stale-run watchdog with the server; stop it and the hub with it."""
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
