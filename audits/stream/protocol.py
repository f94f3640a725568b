"""uvicorn's httptools protocol with a deadline for request headers.

uvicorn closes idle keep-alive connections, but a connection that has sent part of a request
(or nothing at all) waits forever: a few thousand of those (slowloris) hold every socket the
process may open. Here each request must finish its headers within AEGIS_HEADER_TIMEOUT_S of
the connection opening or of its first byte; otherwise the connection is closed. Streams are not
affected: the deadline ends when the headers are in. Serve with
`uvicorn --http audits.stream.protocol:HttpToolsWithHeaderTimeout` (HTTP_PROTOCOL).
"""

import asyncio

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP_PROTOCOL = "audits.stream.protocol:HttpToolsWithHeaderTimeout"


class HttpToolsWithHeaderTimeout(HttpToolsProtocol):
    _header_deadline: asyncio.TimerHandle | None = None

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

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
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
