"""Fault injection on the request path: the faults in force (service/faults.py) applied to each request.

Apart from service/faults.py because the settings import that module, and `python -m service` must not
load prometheus-client (imported here for the counters) before it has chosen the metrics mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service import model_metrics
from service.faults import Faults
from service.observability import log_fields


class FaultInjectionMiddleware:
    """Delays or fails the requests of the routes that have faults; a pass-through when none have."""

    def __init__(self, app: ASGIApp, *, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: without faults (the normal case) this layer adds no frame.
        if scope["type"] != "http" or not self.faults.active:
            return self.app(scope, receive, send)
        return self._inject(scope, receive, send)

    async def _inject(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Faults are keyed by route template, and a template without parameters is its own path.
        route = scope["path"]
        delay, error = self.faults.draw(route)
        if delay:
            model_metrics.FAULTS_INJECTED.labels(route, "latency").inc()
            log_fields.bind(fault="latency", fault_delay_ms=round(delay * 1000, 3))
            await asyncio.sleep(delay)
        if error:
            model_metrics.FAULTS_INJECTED.labels(route, "error").inc()
            log_fields.bind(fault="error")
            await JSONResponse({"detail": "injected fault"}, 500)(scope, receive, send)
            return
        await self.app(scope, receive, send)
