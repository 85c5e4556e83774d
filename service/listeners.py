"""One listening socket, several listening handles: how a worker accepts more than one connection a loop turn.

libuv (under uvloop) accepts ONE connection each time a listening handle is ready, so one per loop turn
(bench/accept_turn.py). Under overload, before pacing (service/pacing.py), a turn lasted about the admission bound
(50 ms: it admitted that much work), so a worker accepted about 20 connections a second, and a client opening more
(a load balancer growing its pool, a burst of new users) left its requests in the kernel's accept queue for seconds,
written and unseen: no clock of the service ran for them, no shed answered them, and they timed out at the client.
Each duplicate of the socket's descriptor is a handle of its own in the loop, on the same kernel queue: with n of
them a ready queue gives up to n connections a turn (asyncio's own loop takes up to the backlog at once). The cost:
a connection arriving on an idle worker wakes every handle, and all but one find nothing (a failed `accept`, about a
µs each), paid once per connection, not per request. Pacing keeps turns short now, but a burst of new connections
still arrives faster than one a turn.
"""

from __future__ import annotations

import socket


def handles(sockets: list[socket.socket], per_socket: int) -> list[socket.socket]:
    """Each socket followed by `per_socket - 1` duplicates of it (uvicorn makes a server of each)."""
    return [dup for sock in sockets for dup in (sock, *(sock.dup() for _ in range(per_socket - 1)))]
