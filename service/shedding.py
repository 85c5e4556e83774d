"""Overload protection: a prediction over the per-worker limit is answered 503 + Retry-After at once.

Queueing it instead would only make every prediction late: a prompt 503 lets the client (or the load
balancer) retry elsewhere while the ones in progress finish in time. Only the prediction routes count
and are shed; probes and metrics are always answered. Shed requests are counted in
`http_server_shed_requests_total{route}` and marked `shed` in their log line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from contract.routes import PREDICTION_ROUTES
from service.observability import log_fields, metrics

SHED_DETAIL = "overloaded: too many predictions in progress, retry later"


class LoadSheddingMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_progress: int,
        retry_after_seconds: int,
        routes: Iterable[str] = PREDICTION_ROUTES,
    ) -> None:
        self.app = app
        self.max_in_progress = max_in_progress
        self.retry_after = str(retry_after_seconds)
        self.routes = frozenset(routes)
        self.in_progress = 0

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: every request but the predictions goes on without a frame of this layer.
        if scope["type"] != "http" or scope["path"] not in self.routes:
            return self.app(scope, receive, send)
        if self.in_progress >= self.max_in_progress:
            return self._shed(scope, receive, send)
        return self._predict(scope, receive, send)

    async def _predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1

    async def _shed(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.SHED.labels(scope["path"]).inc()
        log_fields.bind(shed=True)
        response = JSONResponse({"detail": SHED_DETAIL}, 503, headers={"Retry-After": self.retry_after})
        await response(scope, receive, send)
