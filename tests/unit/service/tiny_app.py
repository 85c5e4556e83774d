"""A minimal ASGI app for the supervisor's tests: its workers start in a fraction of the service's time."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def broken(scope: Scope, receive: Receive, send: Send) -> None:
    """Its start fails as a model that cannot load does: in the lifespan."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "Traceback...\nRuntimeError: cannot load model"})
