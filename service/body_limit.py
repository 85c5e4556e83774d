"""Refuse oversized request bodies with 413 before anything parses them."""

from __future__ import annotations

import json
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """A pure ASGI middleware: no per-request task or buffering on the fast path.

    A declared Content-Length over the limit is refused at once. A chunked body (no length) is
    read up to the limit and replayed to the app, so a client cannot stream around the check.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself on the usual path (a length within the limit): the app's coroutine is awaited
        # directly, one frame less per request.
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            return self.app(scope, receive, send)
        length = _content_length(scope)
        if length is not None:
            return self._refuse(send) if length > self.max_body_bytes else self.app(scope, receive, send)
        return self._buffered(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body without a declared length: read up to the limit, then replayed to the app."""
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps({"detail": f"request body exceeds {self.max_body_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, upstream: Receive) -> Receive:
    """Hand the buffered body to the app once, then the real channel (for disconnects)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await upstream()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
