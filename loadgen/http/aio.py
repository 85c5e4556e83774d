"""The aiohttp client (https://, `--client aiohttp`): aiohttp's full client, its failures sorted into the
same transport error kinds as the fast client's (`loadgen.http.errors`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
from aiohttp.http import RawResponseMessage
from aiohttp.http_exceptions import ContentLengthError, TransferEncodingError

from loadgen.checks import Check
from loadgen.http.api import BODYLESS, Done, Header
from loadgen.http.errors import CLOSED, CONNECT, OTHER, PROTOCOL, RESET, TIMEOUT

_RESETS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
#: Every status a success: a request prepared without a check of its own.
_ANY = Check(frozenset(range(100, 600)))

#: A request as `prepare` builds it once: method, URL, body, headers, the check its response must pass.
Prepared = tuple[str, str, bytes, dict[str, str], Check]


def error_kind(exc: BaseException) -> str:
    """The transport error kind of an exception aiohttp raised for a request.

    aiohttp says some of it only in its messages (a body cut short by a reset is a ClientPayloadError whose
    text names the reset): tests/unit/loadgen/test_protocol.py fails if that wording changes.
    """
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts subclass it
        return TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, not resolved, TLS handshake
        return CONNECT
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return CLOSED
    if isinstance(exc, aiohttp.ClientPayloadError):  # a body cut short (closed, reset) or badly framed
        if "ConnectionResetError" in str(exc):
            return RESET
        short = isinstance(exc.__cause__, ContentLengthError | TransferEncodingError)
        return CLOSED if short and "Not enough data" in str(exc.__cause__) else PROTOCOL
    if isinstance(exc, aiohttp.ClientResponseError):  # an unparsable head (a BadHttpMessage inside)
        return PROTOCOL
    if isinstance(exc, _RESETS) or isinstance(exc.__cause__, _RESETS):
        return RESET
    return OTHER


def _nothing_arrived(exc: Exception) -> bool:
    """Whether the connection ended before any response (aiohttp keeps a partial head it read on the
    exception; an interim response it skipped leaves no trace)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return not isinstance(exc.message, RawResponseMessage)
    return not isinstance(exc, aiohttp.ClientPayloadError) and error_kind(exc) == RESET  # not after a head


class AiohttpClient:
    def __init__(self, base_url: str, *, timeout: float, max_connections: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._limit = max_connections or 0  # aiohttp's pool bound (0: none); its total timeout covers the wait
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[str]] = set()
        self.retries = 0

    async def __aenter__(self) -> AiohttpClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300),
            timeout=self._timeout,
            skip_auto_headers=("User-Agent",),
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def warm(self, connections: int) -> None:
        """aiohttp opens connections on demand."""

    def prepare(
        self, path: str, body: bytes, method: str = "POST", headers: Sequence[Header] = (), check: Check = _ANY
    ) -> Prepared:
        """As the fast client: a JSON Content-Type unless `headers` name one (and a body is sent)."""
        named = dict(headers)
        if not any(name.lower() == "content-type" for name in named) and (body or method not in BODYLESS):
            named = {"Content-Type": "application/json", **named}
        return method, self.base_url + path, body, named, check

    def start(self, prepared: Prepared, done: Done, route: str, scheduled: float) -> None:
        def finished(t: asyncio.Task[str]) -> None:
            self._tasks.discard(t)
            done(t.result(), route, scheduled)

        task = asyncio.get_running_loop().create_task(self._send(*prepared))
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(finished)

    async def _send(self, method: str, url: str, body: bytes, headers: dict[str, str], check: Check) -> str:
        assert self._session is not None, "use `async with`"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._timeout.total or 0.0)
        timeout = self._timeout
        for attempt in (1, 2):
            try:
                async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                    if response.status < 200:  # aiohttp hands over a 101: a protocol switch nobody asked for
                        return PROTOCOL
                    return check.outcome(response.status, await response.read())
            except Exception as exc:  # every failure is an outcome, never a traceback
                # Ended before any response: sent again once, within the same timeout, as the fast client
                # does (aiohttp itself retries only idempotent methods, and only on a reused connection).
                remaining = deadline - loop.time()
                if attempt == 2 or remaining <= 0 or not _nothing_arrived(exc):
                    return error_kind(exc)
                self.retries += 1
                timeout = aiohttp.ClientTimeout(total=remaining)
        raise AssertionError("unreachable")
