"""Stand-ins for time and for the target, so the engine's decisions can be checked one response at a time."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from loadgen.checks import Check
from loadgen.client import Done
from loadgen.deck import Deck
from loadgen.http.api import Header
from loadgen.workload import BodySource, RequestSpec


def numbered(count: int, rng: random.Random, *, tag: str = "") -> list[object]:
    """A body generator (as a workload names one): `count` distinct bodies, so a test can tell them apart."""
    return [{"tag": tag, "n": n, "r": rng.randrange(1000)} for n in range(count)]


def specs(*paths: str) -> list[RequestSpec]:
    """Requests to `paths`, equally weighted, every body a distinct one (`numbered`)."""
    source = "tests.unit.loadgen.doubles:numbered"
    return [RequestSpec(path=path, body=BodySource(generator=source, options={"tag": path})) for path in paths]


def deck(*paths: str, size: int = 4, seed: int = 1) -> Deck:
    """A deck over `specs(*paths)`."""
    return Deck(specs(*paths), seed=seed, size=size)


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

    def prepare(
        self, path: str, body: bytes, method: str = "POST", headers: Sequence[Header] = (), check: Check | None = None
    ) -> bytes:
        return path.encode() + b" " + body

    async def warm(self, connections: int) -> None:
        self.warmed = connections

    def start(self, prepared: bytes, done: Done, route: str, scheduled: float) -> None:
        self.sent.append(Sent(prepared, done, route, scheduled))

    def finish(self, i: int, outcome: str = "200") -> None:
        s = self.sent[i]
        s.done(outcome, s.route, s.scheduled)
