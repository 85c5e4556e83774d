"""Requests through a client chosen as `--client` chooses it, against a raw server, with every error the event
loop reports collected (a traceback or an unretrieved exception would land there), on uvloop as
`python -m loadgen` runs (it differs from asyncio's loop where it matters: writing to a closed transport
raises)."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from typing import Any

import uvloop

from loadgen.client import AiohttpClient, Client, FastClient, make_client
from tests.unit.loadgen.raw_http import Handler, RawServer, raw_server

ROUTE = "/v1/predict"
BODY = b'{"age":30}'
CLIENTS = ("fast", "aiohttp")


async def post(client: Client, *, body: bytes = BODY, method: str = "POST", timeout: float = 10.0) -> str:
    """One request through `client`; its outcome."""
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    prepared = client.prepare(ROUTE, body, method)
    client.start(prepared, lambda o, _route, _at: outcome.set_result(o), ROUTE, 0.0)
    return await asyncio.wait_for(outcome, timeout)


@dataclass
class Exchange:
    outcomes: list[str]
    server: RawServer
    client: FastClient | AiohttpClient
    loop_errors: list[dict[str, Any]] = field(default_factory=list)


def exchange(
    handler: Handler,
    kind: str,
    n: int = 1,
    *,
    timeout: float = 5.0,
    body: bytes = BODY,
    method: str = "POST",
    pause: float = 0.0,
    idle_seconds: float | None = None,
) -> Exchange:
    """`n` requests one after the other (`pause` s apart) through the `kind` client against `handler`.
    Asserts that the loop reported no error."""

    async def go() -> Exchange:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
        async with raw_server(handler) as server:
            options: dict[str, Any] = {} if idle_seconds is None else {"idle_seconds": idle_seconds}
            client = make_client(server.url, timeout=timeout, kind=kind, **options)
            assert isinstance(client, FastClient | AiohttpClient)
            outcomes = []
            async with client:
                for i in range(n):
                    if i and pause:
                        await asyncio.sleep(pause)
                    outcomes.append(await post(client, body=body, method=method))
        gc.collect()  # an exception never retrieved is reported when its task is collected
        await asyncio.sleep(0)
        return Exchange(outcomes, server, client, errors)

    result = uvloop.run(go())
    assert not result.loop_errors, result.loop_errors
    return result
