"""Shutting down in two steps: drain (serve on, /readyz 503), then uvicorn's graceful shutdown, both bounded.

On SIGTERM (or SIGINT) a worker first drains for SERVICE_DRAIN_SECONDS: it serves every request as
before, but /readyz answers 503 and `service_ready` reads 0, so a load balancer that probes readiness
stops sending it traffic. Then uvicorn's shutdown: no new connections, those still sending a request
are closed (service/protocol.py), and requests in progress get SERVICE_GRACEFUL_SHUTDOWN_SECONDS to
finish before they are cancelled. A second signal skips what is left of the drain. In Kubernetes the
preStop hook already takes the pod out of the Service's endpoints before SIGTERM (deploy/k8s/service.yaml):
the preStop sleep, the drain and the graceful bound together stay under terminationGracePeriodSeconds.
"""

from __future__ import annotations

import logging
import socket
import threading
from types import FrameType

import uvicorn

from service import listeners

#: Set once the process has been asked to stop (read by /readyz).
DRAINING = threading.Event()
log = logging.getLogger("uvicorn.error")


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_seconds: float, accepts_per_turn: int = 1) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.accepts_per_turn = accepts_per_turn
        self._timer: threading.Timer | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start, on several listening handles per socket (service/listeners.py); shutdown closes them
        all (they are uvicorn's servers)."""
        if sockets is not None:
            sockets = listeners.handles(sockets, self.accepts_per_turn)
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not DRAINING.is_set()
        DRAINING.set()
        if first and self.started:
            # Not in this handler: it runs between two bytecodes of the main thread, which may hold the one lock
            # of the multiprocess metrics (every request's update takes it): setting the gauge here could wait
            # forever on its own thread. A thread of its own waits for the lock instead.
            threading.Thread(target=not_ready, name="not-ready", daemon=True).start()
        if first and self.started and self.drain_seconds > 0:
            log.info("Draining for %g s: /readyz answers 503, requests are still served", self.drain_seconds)
            self._timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
            self._timer.daemon = True
            self._timer.start()
            return
        if self._timer is not None:
            self._timer.cancel()
        super().handle_exit(sig, frame)


def not_ready() -> None:
    from service.observability import metrics  # a worker's: the metrics mode is chosen by then

    metrics.set_ready(False)
