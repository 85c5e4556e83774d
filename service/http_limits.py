"""Request heads with bounded size: 414 for a long URL, 431 for too many or too large header fields.

A limit on the request head must hold before the head is in memory, so it cannot live in an ASGI
middleware (the server has parsed and stored every header by the time one runs): this is uvicorn's
httptools protocol with byte counts added. Counted while the head arrives: the request target (414 over
SERVICE_MAX_URL_BYTES), the header fields (431 over SERVICE_MAX_HEADERS) and the head's bytes (431 over
SERVICE_MAX_HEADER_BYTES). httptools buffers a header field until its end, so a head that is still
incomplete after more than the limit is refused at once, whatever the parser holds: at most the limit
plus one read (256 KiB) is ever buffered per connection. A refused request gets a short JSON answer
naming the limit, its connection is closed, and it is counted and logged like any answered request
(route `unmatched`).

It overrides the protocol's parser callbacks (`on_message_begin`, `on_url`, `on_header`,
`on_headers_complete`, `on_body`, `on_message_complete`) and `data_received`, each calling uvicorn's
own; tests/unit/service/test_http_limits.py fails if uvicorn changes them. They name the class they extend
(`HttpToolsProtocol.on_header(self, ...)`) instead of calling `super()`: the callbacks run nine times a request,
and each `super()` cost about 900 CPU instructions, 1.5% of an instrumented request over HTTP (callgrind).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from contract.routes import UNMATCHED
from service.observability.logging import logger
from service.observability.routes import METHODS
from service.observability.settings import InstrumentSettings
from service.settings import ServiceSettings

REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


@dataclass(frozen=True, slots=True)
class HeadLimits:
    url_bytes: int
    head_bytes: int
    headers: int
    record: bool

    @classmethod
    def from_settings(cls, settings: InstrumentSettings) -> HeadLimits:
        return cls(settings.max_url_bytes, settings.max_header_bytes, settings.max_headers, settings.instrumentation)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing oversized request heads (`--http service.http_limits:...`)."""

    #: Read from the SERVICE_* settings at the worker's first connection (tests set it).
    limits: ClassVar[HeadLimits | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.limits is None:
            cls.limits = HeadLimits.from_settings(ServiceSettings())
        self._limits: HeadLimits = cls.limits
        self._in_head = True  # between two requests, or reading one's head
        self._head_bytes = 0  # bytes received since the head began
        self._header_fields = 0
        self._header_bytes = 0
        self._began = time.perf_counter()
        self._refusal: tuple[int, str] | None = None

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # answered, closing: nothing more is parsed
        if self._in_head:
            self._head_bytes += len(data)
        HttpToolsProtocol.data_received(self, data)
        if self._refusal is None and self._in_head and self._head_bytes > self._limits.head_bytes:
            # The head is still incomplete after more than its limit: refused before the parser buffers more.
            self._refuse(431, f"request head exceeds {self._limits.head_bytes} bytes (SERVICE_MAX_HEADER_BYTES)")
        if self._refusal is not None:
            self._answer(*self._refusal)

    def on_message_begin(self) -> None:
        if self._refusal is not None:
            return
        HttpToolsProtocol.on_message_begin(self)
        self._began = time.perf_counter()
        self._header_fields = self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        if self._refusal is not None:
            return
        HttpToolsProtocol.on_url(self, url)
        if len(self.url) > self._limits.url_bytes:
            self._refuse(414, f"request target exceeds {self._limits.url_bytes} bytes (SERVICE_MAX_URL_BYTES)")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refusal is not None:
            return
        self._header_fields += 1
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_fields > self._limits.headers:
            self._refuse(431, f"more than {self._limits.headers} header fields (SERVICE_MAX_HEADERS)")
        elif self._header_bytes + len(self.url) > self._limits.head_bytes:
            self._refuse(431, f"request head exceeds {self._limits.head_bytes} bytes (SERVICE_MAX_HEADER_BYTES)")
        else:
            HttpToolsProtocol.on_header(self, name, value)

    def on_headers_complete(self) -> None:
        if self._refusal is not None:
            return
        self._in_head = False
        HttpToolsProtocol.on_headers_complete(self)

    def on_body(self, body: bytes) -> None:
        if self._refusal is None:
            HttpToolsProtocol.on_body(self, body)

    def on_message_complete(self) -> None:
        if self._refusal is not None:
            return
        HttpToolsProtocol.on_message_complete(self)
        self._in_head, self._head_bytes = True, 0

    def _refuse(self, status: int, detail: str) -> None:
        self._refusal = (status, detail)

    def _answer(self, status: int, detail: str) -> None:
        if self.transport.is_closing():
            return  # uvicorn already answered (a malformed request) and closed
        body = orjson.dumps({"detail": detail})
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, REASONS[status], len(body), body)
        )
        if self._limits.record:
            self._record(status, detail)
        self.transport.close()

    def _record(self, status: int, detail: str) -> None:
        from service.observability import metrics  # in a worker only: the metrics mode is chosen by then

        try:
            method = self.parser.get_method().decode("ascii", "replace")
        except Exception:  # the request line itself was cut short: no method yet
            method = "other"
        seconds = time.perf_counter() - self._began
        metrics.request_duration(method, UNMATCHED, status).observe(seconds)
        logger().warning(
            "request",
            method=method if method in METHODS else "other",
            route=UNMATCHED,
            status_code=status,
            duration_ms=round(seconds * 1000, 3),
            refused=detail,
        )
