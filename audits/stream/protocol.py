"""uvicorn's httptools protocol with deadlines for request headers and request bodies.

uvicorn closes idle keep-alive connections, but a connection that has sent part of a request
(or nothing at all) waits forever: a few thousand of those (slowloris) hold every socket the
process may open. Here each request must finish its headers within AEGIS_HEADER_TIMEOUT_S of
the connection opening or of its first byte, and then its body within AEGIS_BODY_TIMEOUT_S plus
one second for every AEGIS_BODY_MIN_BYTES_PER_S bytes of body received so far: a client sending at
least that fast never runs out of time, whatever the size, and one that stalls is closed (with a
408 when no answer has started). Streams are not affected: a GET has no body, so its deadlines end
when its headers are in. Serve with `uvicorn --http audits.stream.protocol:HttpToolsWithDeadlines`
(HTTP_PROTOCOL).
"""

import asyncio
import json

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP_PROTOCOL = "audits.stream.protocol:HttpToolsWithDeadlines"

SLOW_BODY = "The request body did not arrive in time; send it again."


class HttpToolsWithDeadlines(HttpToolsProtocol):
    _header_deadline: asyncio.TimerHandle | None = None
    _body_deadline: asyncio.TimerHandle | None = None
    _body_started = 0.0
    _body_received = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()
        # Armed for every request (not an upgrade, which has no cycle of its own) and disarmed at the end of its
        # message: for a GET that is the same feed of data.
        if self.cycle is not None and self.cycle.scope is self.scope:
            self._arm_body_deadline()

    def on_body(self, body: bytes) -> None:
        self._body_received += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm_body_deadline()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        self._disarm_body_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(settings.AEGIS_HEADER_TIMEOUT_S, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _arm_body_deadline(self) -> None:
        self._disarm_body_deadline()
        self._body_started = self.loop.time()
        self._body_received = 0
        self._body_deadline = self.loop.call_later(settings.AEGIS_BODY_TIMEOUT_S, self._body_check)

    def _disarm_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_check(self) -> None:
        # One timer per body, moved on by what has arrived since: no timer work per chunk received.
        self._body_deadline = None
        rate = settings.AEGIS_BODY_MIN_BYTES_PER_S
        earned = self._body_received / rate if rate > 0 else 0.0
        remaining = self._body_started + settings.AEGIS_BODY_TIMEOUT_S + earned - self.loop.time()
        if remaining > 0:
            self._body_deadline = self.loop.call_later(remaining, self._body_check)
        else:
            self._body_too_slow()

    def _body_too_slow(self) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            # The app is still waiting for the body, so nothing else writes to the connection.
            cycle.response_started = True
            self.transport.write(_timeout_response(cycle.scope.get("path", "")))
        self.transport.close()


def _timeout_response(path: str) -> bytes:
    if path.startswith("/api/"):
        body, content_type = json.dumps({"error": SLOW_BODY}).encode(), b"application/json"
    else:
        body, content_type = SLOW_BODY.encode(), b"text/plain; charset=utf-8"
    return b"".join([
        b"HTTP/1.1 408 Request Timeout\r\n",
        b"content-type: " + content_type + b"\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ])  # fmt: skip


# The name deployments started with when only the headers had a deadline.
HttpToolsWithHeaderTimeout = HttpToolsWithDeadlines
