"""The deck: every request of a run built once, up front, in a shuffled order that follows the weights.

The engine deals it round and round, one list index per request: the hot path never builds a body, expands a
header or picks a kind. Each request kind gets exactly its drawn share of the deck's slots, and its bodies
come from its source (loadgen.bodies); header values' `${VAR}` references are read from the environment here,
so a missing variable stops the run before anything is sent.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from loadgen.bodies import bodies
from loadgen.checks import Check
from loadgen.http.api import Header
from loadgen.workload import ENV_REF, RequestSpec, Workload, validate_workload

#: Requests in a deck: enough that the mix holds in any second of load, few enough to build in about a
#: second at startup.
DECK_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Request:
    """One pre-built request: its `route` label, what to send and the check its answer must pass."""

    route: str
    method: str
    path: str
    headers: tuple[Header, ...]
    body: bytes
    check: Check


def expand(spec: RequestSpec, environ: Mapping[str, str]) -> tuple[Header, ...]:
    """The request's headers with every `${VAR}` replaced by the environment's value."""
    out = []
    for name, value in spec.headers.items():

        def var(match: re.Match[str], name: str = name) -> str:
            key = match[1]
            if key not in environ:
                raise ValueError(f"request {spec.label}: header {name} needs the environment variable {key}, "
                                 "which is not set")  # fmt: skip
            text = environ[key]
            if any(c in text for c in "\r\n\0"):
                raise ValueError(f"request {spec.label}: the environment variable {key} holds CR, LF or NUL")
            return text

        out.append((name, ENV_REF.sub(var, value)))
    return tuple(out)


class Deck:
    """A shuffled deck of `size` pre-built requests over a workload's request kinds (DECK_SIZE unless told)."""

    def __init__(
        self, workload: Workload, *, seed: int | None = None, size: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        size = DECK_SIZE if size is None else size
        environ = os.environ if environ is None else environ
        kinds = [spec for spec in validate_workload(workload) if spec.weight > 0]
        headers = [expand(spec, environ) for spec in kinds]  # (cheap, so first: a missing secret says so at once)
        rng = random.Random(seed)
        slots = rng.choices(range(len(kinds)), [spec.weight for spec in kinds], k=size)
        counts = Counter(slots)
        made: list[Iterator[bytes]] = []
        for i, spec in enumerate(kinds):
            try:
                made.append(iter(bodies(spec.body, counts[i], rng)))
            except ValueError as exc:
                raise ValueError(f"request {spec.label}: {exc}") from None
        checks = [spec.check.check() for spec in kinds]
        self.requests: list[Request] = [
            Request(kinds[i].label, kinds[i].method, kinds[i].path, headers[i], next(made[i]), checks[i]) for i in slots
        ]
