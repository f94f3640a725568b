"""A lean ASGI app for the two stream paths, in front of Django.

Django's ASGI handler keeps a thread per request for its sync middleware, for as long as a
stream stays open; this app instead authenticates with Django's own session in one trip to the
hub's thread pool and then waits on the hub with nothing but a coroutine, so an idle viewer
costs a few KB and no thread. Everything else goes to Django untouched.
"""

import asyncio
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from audits.hub import run_db
from audits.stream_auth import user_for_session
from audits.streaming import StreamError, body_for, open_kind, parse_after, parse_speed
from audits.tokens import bearer, user_for_token

STREAM_PATH = re.compile(r"^(?:/api/v1)?/audits/(?P<run_id>[0-9]{1,18})/(?P<kind>events|replay)/?$")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]

def user_for_credentials(session_key: str | None, token: str | None):
    """A bearer token, when sent, decides alone; otherwise Django's session cookie does."""
    if token is not None:
        return user_for_token(token) or AnonymousUser()
    return user_for_session(session_key)


def _headers(scope) -> dict[bytes, bytes]:
    return {name: value for name, value in scope["headers"]}


def _session_key(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    cookie = SimpleCookie()
    try:
        cookie.load(raw.decode("latin-1"))
    except Exception:
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel else None


def _open(kind: str, session_key: str | None, token: str | None, run_id: int, after: int):
    return open_kind(kind, user_for_credentials(session_key, token), run_id, after)


async def stream_app(scope, receive, send, match: re.Match) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await _plain(send, 405, "Method not allowed: use GET.", [(b"allow", b"GET, HEAD")])
        return
    headers = _headers(scope)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    kind = match["kind"]
    try:
        last_id = headers.get(b"last-event-id")
        after = parse_after(last_id.decode("latin-1") if last_id is not None else None, _first(query, "after"))
        speed = parse_speed(_first(query, "speed")) if kind == "replay" else 1.0
        authorization = headers.get(b"authorization")
        token = bearer(authorization.decode("latin-1")) if authorization else None
        if authorization and token is None:
            raise StreamError(401, "Unsupported Authorization header: use 'Bearer <token>'.")
        opening = await run_db(_open, kind, _session_key(headers), token, int(match["run_id"]), after)
    except StreamError as exc:
        await _plain(send, exc.status, exc.message)
        return

    body = body_for(kind, opening, speed)
    if body is None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return

    await receive()  # the (empty) GET body; the next receive() only returns on disconnect
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    if scope["method"] == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return
    await _pump(body, receive, send)


async def _pump(body, receive, send) -> None:
    """Send frames until the body ends or the client goes away."""
    task = asyncio.current_task()
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
        await body.aclose()


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


async def _plain(send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (message + "\n").encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache"),
    ] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
