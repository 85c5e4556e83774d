"""Several listening handles on one socket: a uvloop worker accepts up to that many connections a loop turn
(one per handle: libuv's rule), not one (bench/accept_turn.py measures the one)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import uvloop

from service import listeners


class _Counted(asyncio.Protocol):
    def __init__(self, accepted: list[int]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.accepted[0] += 1


async def _accepted_in_turns(per_socket: int, connections: int, turns: int) -> int:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    accepted = [0]
    servers = [
        await loop.create_server(lambda: _Counted(accepted), sock=handle, backlog=connections)
        for handle in listeners.handles([sock], per_socket)
    ]
    clients = []
    try:
        for _ in range(connections):
            client = socket.socket()
            client.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                client.connect(sock.getsockname())
            clients.append(client)
        time.sleep(0.05)  # every handshake done: the connections wait in the accept queue
        for _ in range(turns):
            await asyncio.sleep(0)  # one loop turn: the listening handles are polled once
        return accepted[0]
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.close()


def test_each_socket_is_followed_by_its_duplicates_on_the_same_address() -> None:
    with socket.socket() as a:
        a.bind(("127.0.0.1", 0))
        handles = listeners.handles([a], 3)
        assert handles[0] is a and len(handles) == 3
        assert len({h.fileno() for h in handles}) == 3
        assert {h.getsockname() for h in handles} == {a.getsockname()}
        for h in handles[1:]:
            h.close()


def test_n_handles_accept_up_to_n_connections_a_turn_one_handle_one() -> None:
    one = uvloop.run(_accepted_in_turns(1, 40, 3))
    many = uvloop.run(_accepted_in_turns(8, 40, 3))
    assert one <= 3 < many <= 24
