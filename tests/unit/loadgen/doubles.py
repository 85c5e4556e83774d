"""Stand-ins for time and for the target, so the engine's decisions can be checked one response at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadgen.client import Done


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Sent:
    wire: bytes
    done: Done
    route: str
    scheduled: float


@dataclass
class HeldClient:
    """Keeps every request until the test finishes it: responses come exactly when the test says."""

    sent: list[Sent] = field(default_factory=list)
    warmed: int = 0

    async def __aenter__(self) -> HeldClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def prepare(self, path: str, body: bytes) -> bytes:
        return path.encode() + b" " + body

    async def warm(self, connections: int) -> None:
        self.warmed = connections

    def start(self, prepared: bytes, done: Done, route: str, scheduled: float) -> None:
        self.sent.append(Sent(prepared, done, route, scheduled))

    def finish(self, i: int, outcome: str = "200") -> None:
        s = self.sent[i]
        s.done(outcome, s.route, s.scheduled)
