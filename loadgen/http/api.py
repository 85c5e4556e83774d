"""What the engine sees of a client: pre-built requests in, one outcome per request out through a callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

#: Called once per request with (outcome, route, scheduled start). The outcome is the final status code
#: ("200", "422", "503", ...) or a transport error kind (`loadgen.http.errors`).
Done = Callable[[str, str, float], None]


class Client(Protocol):
    async def __aenter__(self) -> Client: ...
    async def __aexit__(self, *exc: object) -> None: ...
    def prepare(self, path: str, body: bytes) -> Any: ...
    async def warm(self, connections: int) -> None: ...
    def start(self, prepared: Any, done: Done, route: str, scheduled: float) -> None: ...
