"""What the engine sees of a client: pre-built requests in, one outcome per request out through a callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from loadgen.checks import Check

#: Called once per request with (outcome, route, scheduled start). The outcome is the final status code
#: ("200", "422", "503", ...), a transport error kind (`loadgen.http.errors`) or a failed check
#: (`loadgen.checks.CHECK`).
Done = Callable[[str, str, float], None]

#: One request header: (name, value).
Header = tuple[str, str]

#: Methods whose requests carry no body unless given one (no Content-Type or Content-Length then).
BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class Client(Protocol):
    async def __aenter__(self) -> Client: ...
    async def __aexit__(self, *exc: object) -> None: ...
    def prepare(
        self, path: str, body: bytes, method: str = ..., headers: Sequence[Header] = ..., check: Check = ...
    ) -> Any: ...
    async def warm(self, connections: int) -> None: ...
    def start(self, prepared: Any, done: Done, route: str, scheduled: float) -> None: ...
