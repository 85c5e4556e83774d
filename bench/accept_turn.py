"""How many waiting connections a server's event loop accepts per loop turn: uvloop (libuv) against asyncio's loop.

Why: under overload the service's loop turns are long (about its admission bound, 50 ms: a turn admits that
much work), and a client that opens connections faster than they are accepted leaves its requests in the
kernel's accept queue, where neither the service's clock nor its counters see them. libuv accepts ONE
connection per readiness of the listening socket, so one per loop turn: ~20 a second at 50 ms turns.
asyncio's loop accepts up to the backlog in one turn. Measured with the loadgen at 1.5x of one pinned worker:
~940 connections (each with a request written) waited in the accept queue for the whole 10 s run.

    python -m bench.accept_turn [--connections 200] [--turn-ms 50] [--max-turns 60]

Each loop: a server on a free loopback port, `--connections` client sockets connected at once (the kernel
completes their handshakes and queues them), then turns that block the loop `--turn-ms` each (a CPU-bound
batch) until every connection is accepted or `--max-turns` have passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import uvloop

LOOPS = ("uvloop", "asyncio")


@dataclass(frozen=True)
class Accepts:
    loop: str
    connections: int
    accepted: int
    turns: int

    @property
    def per_turn(self) -> float:
        return self.accepted / self.turns if self.turns else float(self.accepted)


class _Counted(asyncio.Protocol):
    def __init__(self, accepted: list[int]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.accepted[0] += 1


async def _measure(connections: int, turn_seconds: float, max_turns: int) -> tuple[int, int]:
    """(accepted, turns) in this loop."""

    accepted = [0]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Counted(accepted), "127.0.0.1", 0, backlog=max(connections, 128))
    port = server.sockets[0].getsockname()[1]
    clients = []
    try:
        for _ in range(connections):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            clients.append(sock)
        turns = 0
        while accepted[0] < connections and turns < max_turns:
            time.sleep(turn_seconds)  # the turn's work: the loop polls its sockets only after it
            await asyncio.sleep(0)
            turns += 1
        return accepted[0], turns
    finally:
        for sock in clients:
            sock.close()
        server.close()


def accepts(loop: str, connections: int, turn_seconds: float, max_turns: int) -> Accepts:
    run = uvloop.run if loop == "uvloop" else asyncio.run
    accepted, turns = run(_measure(connections, turn_seconds, max_turns))
    return Accepts(loop, connections, accepted, turns)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=200, help="connections waiting (default: %(default)s)")
    p.add_argument("--turn-ms", type=float, default=50.0, help="each loop turn's blocking work (default: %(default)s)")
    p.add_argument("--max-turns", type=int, default=60, help="turns at most (default: %(default)s)")
    args = p.parse_args(argv)
    if args.connections < 1 or args.turn_ms < 0 or args.max_turns < 1:
        p.error("--connections and --max-turns must be at least 1, --turn-ms at least 0")
    for loop in LOOPS:
        a = accepts(loop, args.connections, args.turn_ms / 1000, args.max_turns)
        print(f"{loop:8} {a.accepted:5} of {a.connections} accepted in {a.turns} turns of {args.turn_ms:g} ms: "
              f"{a.per_turn:.1f} a turn")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
