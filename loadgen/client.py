"""HTTP clients: every request ends in exactly one outcome string, and nothing the target does raises.

An outcome is the final status code ("200", "422", "503", ...), a transport error kind
(`loadgen.http.errors.ERROR_KINDS`: connect, timeout, closed, reset, protocol, other) or `check` (an answer
that failed its request's check, `loadgen.checks`). Both clients take pre-built requests (`prepare`, done once
per request of the deck, with its headers and check) and report through a callback, so the engine needs no
task per request:

- `FastClient` (plain http://, the default; `loadgen.http.fast`): HTTP/1.1 keep-alive on asyncio protocols,
  responses parsed by llhttp (httptools). A load generator's own cost per request bounds the highest rate
  it can hold on schedule; this one costs a fraction of a general-purpose client (see bench/loadgen.py).
- `AiohttpClient` (https://, proxies, anything unusual; `loadgen.http.aio`): aiohttp's full client.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from loadgen.http.aio import AiohttpClient
from loadgen.http.api import Client, Done
from loadgen.http.errors import ERROR_KINDS
from loadgen.http.fast import IDLE_SECONDS, FastClient

__all__ = ["ERROR_KINDS", "AiohttpClient", "Client", "Done", "FastClient", "make_client"]


def make_client(
    base_url: str,
    *,
    timeout: float,
    kind: str = "auto",
    idle_seconds: float = IDLE_SECONDS,
    max_connections: int | None = None,
) -> Client:
    """`auto`: the fast client for http://, aiohttp for anything else. `idle_seconds`: the fast client's
    longest reuse of an idle connection (less when the server's `Keep-Alive: timeout=N` says so).
    `max_connections`: the pool's bound (None: a connection for every request that finds none idle)."""
    if kind == "fast" or (kind == "auto" and urlsplit(base_url).scheme == "http"):
        return FastClient(base_url, timeout=timeout, idle_seconds=idle_seconds, max_connections=max_connections)
    return AiohttpClient(base_url, timeout=timeout, max_connections=max_connections)
