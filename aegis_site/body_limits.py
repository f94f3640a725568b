"""Request body limits, enforced in front of Django before any byte of a body is parsed.

Django's ASGI handler reads the whole body of every request before the view (or the sign-in check) runs, so a
limit checked in a view comes after the bytes were taken. Here each request gets the limit of its address: a
snapshot upload (a multipart POST to the portal's new-audit page or to POST /api/v1/audits) the upload limit, a
JSON POST to /api/v1/audits the JSON limit (audits.uploads), every other request AEGIS_MAX_BODY_BYTES. A declared
Content-Length over it is answered 413 at once, unread; a body without one (chunked) is counted as it arrives and
answered 413 at the first chunk over. The answer is the portal's error page, or the API's JSON error under /api/.
What a body is allowed to take in time is the HTTP protocol's job (audits/stream/protocol.py).
"""

import io
import logging
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.middleware.security import SecurityMiddleware
from django.template import loader
from django.urls import reverse
from django.utils.html import escape

from audits import uploads

log = logging.getLogger(__name__)

# The pages a snapshot file is uploaded to; every other address takes small bodies only.
UPLOAD_URL_NAMES = ("audits:new", "api:runs")

# The headers Django's middleware would add to a page of its own (HSTS, nosniff, CSP, frame denial).
_HEADER_MIDDLEWARE = [
    cls(lambda request: HttpResponse())
    for cls in (SecurityMiddleware, ContentSecurityPolicyMiddleware, XFrameOptionsMiddleware)
]


@dataclass(frozen=True)
class Limit:
    size: int
    message: str


@cache
def upload_paths() -> frozenset[str]:
    return frozenset(reverse(name) for name in UPLOAD_URL_NAMES)


def limit_for(scope: dict) -> Limit:
    path = scope["path"]
    if scope["method"] == "POST" and path in upload_paths():
        if _content_type(scope) == "multipart/form-data":
            limit = uploads.max_upload_bytes()
            return Limit(limit + uploads.FORM_OVERHEAD_BYTES, uploads.too_large_message(limit))
        if path.startswith("/api/"):
            return Limit(uploads.max_json_bytes(), uploads.json_too_large_message())
    limit = settings.AEGIS_MAX_BODY_BYTES
    return Limit(limit, f"The request body is larger than the {uploads.shown(limit)} this address accepts.")


def with_body_limits(app):
    async def limited(scope, receive, send) -> None:
        limit = limit_for(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit.size:
            await refuse(scope, send, limit)
            return
        received = 0
        refused = False

        async def counted_receive() -> dict:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.size:
                    refused = True
                    await refuse(scope, send, limit)
                    # Django stops reading the body and answers nothing more, as if the client had gone.
                    return {"type": "http.disconnect"}
            return message

        await app(scope, counted_receive, send)

    return limited


async def refuse(scope: dict, send, limit: Limit) -> None:
    response = _response(scope, limit.message)
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    headers.append((b"content-length", str(len(response.content)).encode()))
    # No "Connection: close": the server reads past the rest of the body (within its deadline), so a client
    # still sending gets this answer instead of a reset connection.
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


def _response(scope: dict, message: str) -> HttpResponse:
    if scope["path"].startswith("/api/"):
        response = JsonResponse({"error": message}, status=413)
    else:
        response = HttpResponse(_page(message), status=413)
    request = ASGIRequest(scope, io.BytesIO())
    for middleware in _HEADER_MIDDLEWARE:
        middleware.process_response(request, response)
    return response


def _page(message: str) -> str:
    # Rendered without a request: no context processor, so no database work on the event loop.
    try:
        return loader.get_template("413.html").render({"error_page": True, "message": message})
    except Exception:
        log.exception("the 413 page failed to render")
        return f"<!doctype html><title>Too large · Aegis IAM</title><h1>Too large</h1><p>{escape(message)}</p>"


def _declared_length(scope: dict) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The HTTP parser has already refused a malformed length; this guards a different server.
            return int(value) if value.isdigit() else None
    return None


def _content_type(scope: dict) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""
