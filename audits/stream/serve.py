"""The one entry point of both stream paths: an HttpRequest in, a Reply out.

The lean ASGI app (audits.stream.app) builds a Django ASGIRequest for the stream URLs and Django's
fallback views pass their own request, so cookies, query strings and headers are read the same
way on both, by Django's parsers, and every stream decision is made here.
"""

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from audits.stream import access
from audits.stream.auth import Credential
from audits.stream.db import DbRunner, in_request_thread, run_db, run_replay_db
from audits.stream.errors import StreamError
from audits.stream.opening import body_for, is_empty, open_kind, parse_after, parse_speed
from audits.tokens import bearer

log = logging.getLogger(__name__)

# What Django's fallback views need from here, besides answer() and response_for().
__all__ = ["StreamError", "answer", "in_request_thread", "parse_speed", "response_for"]


class StreamBody:
    """The frames of one open stream, with the stream's lease.

    Iterating hands out the frame generator itself (no wrapper per frame); close() and aclose()
    give the lease back even when the body was never started (the client left first)."""

    def __init__(self, frames: AsyncIterator[bytes], lease: access.Lease) -> None:
        self.frames = frames
        self.lease = lease

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.frames

    def close(self) -> None:  # Django's StreamingHttpResponse calls this when the response ends
        self.lease.release()

    async def aclose(self) -> None:
        self.lease.release()
        await self.frames.aclose()  # type: ignore[attr-defined]


@dataclass
class Reply:
    status: int
    message: str = ""
    body: StreamBody | None = None
    headers: dict[str, str] = field(default_factory=dict)


def credential_of(request: HttpRequest) -> Credential:
    authorization = request.headers.get("Authorization")
    token = bearer(authorization) if authorization else None
    if authorization and token is None:
        raise StreamError(401, "Unsupported Authorization header: use 'Bearer <token>'.")
    return Credential.of(request.COOKIES.get(settings.SESSION_COOKIE_NAME), token)


async def answer(request: HttpRequest, kind: str, run_id: int, read: DbRunner | None = None) -> Reply:
    """kind is "events" (the live stream) or "replay". read: how to reach the DB; the hub's pools
    (a separate one for replay pages) unless the caller passes its own."""
    if request.method not in ("GET", "HEAD"):
        return Reply(405, "Method not allowed: use GET.", headers={"Allow": "GET, HEAD"})
    try:
        after = parse_after(request.headers.get("Last-Event-ID"), request.GET.get("after"))
        speed = parse_speed(request.GET.get("speed")) if kind == "replay" else 1.0
        credential = credential_of(request)
        if credential.kind == "none":
            raise StreamError(401, "Sign in to follow this audit.")  # no DB trip for nobody
        async with access.open_slot(credential):
            opening = await (read or run_db)(open_kind, kind, credential, run_id, after)
        if is_empty(opening):
            return Reply(204)
        lease = access.admit(credential, run_id, opening.user_id)
    except StreamError as exc:
        return Reply(exc.status, exc.message, headers=exc.headers)
    except Exception:
        log.exception("opening a %s stream of run %s failed", kind, run_id)
        return Reply(503, "The stream is not available right now; try again shortly.", headers={"Retry-After": "5"})
    frames = body_for(opening, speed, lease, read or run_db, read or run_replay_db)
    return Reply(200, body=StreamBody(frames, lease))


def response_for(reply: Reply) -> HttpResponse | StreamingHttpResponse:
    if reply.body is not None:
        response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
            reply.body, content_type="text/event-stream; charset=utf-8"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
    elif reply.status == 204:
        response = HttpResponse(status=204)
    else:
        response = HttpResponse(reply.message + "\n", status=reply.status, content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-cache"
    # Error bodies echo input (an event id, a speed): never let a browser sniff them as HTML.
    response["X-Content-Type-Options"] = "nosniff"
    for name, value in reply.headers.items():
        response[name] = value
    return response
