"""CPU cost of one shed request in the service's protocol, against one admitted prediction, in one process.

    python bench/shed_cost.py [--requests 20000]

The admission goal (one worker of about 2,000 req/s, 0.5 ms a prediction, goodput >= 60% of capacity at 3x)
needs a shed to cost at most about 60 µs: at 3x, G x 0.5 ms + (6,000 - G) x c <= 1 s. This measures c where it
is paid: a request's bytes handed to service/protocol.py's `data_received` (httptools parsing, the request
stamped, the admission decision, the canned 503 written to the transport, the shed counter and the latency
histogram; sheds are logged in a summary line per route a few times a second, not a line each), with the
transport a no-op (a socket write adds a system call, a few µs, to a shed and a prediction alike). Printed:
µs per shed with its metrics and without (SERVICE_INSTRUMENTATION=false), one JSON log line (what a line per
shed would add), and the same requests admitted and run through the whole application (model, metrics,
log line to /dev/null) for comparison. Single-threaded and short: run it on a quiet core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import uvicorn
from uvicorn.server import ServerState

from contract.routes import PREDICT
from contract.schemas import EXAMPLE_RECORD
from service.admission import Admission, Recorder
from service.http_limits import HeadLimits
from service.observability import logging as service_logging
from service.pacing import Pacer
from service.protocol import Guards, ServiceProtocol
from service.settings import ServiceSettings

BODY = orjson.dumps(EXAMPLE_RECORD)
REQUEST = b"POST %s HTTP/1.1\r\nhost: b\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    PREDICT.encode(),
    len(BODY),
    BODY,
)


class Transport(asyncio.Transport):
    """Counts what is written; never closes (every answer keeps the connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def protocol(config: uvicorn.Config, record: bool, shed: bool) -> tuple[ServiceProtocol, Transport]:
    class Bench(ServiceProtocol):
        limits = HeadLimits(4096, 16384, 64, record)
        admission = Admission(0.05 if shed else 0)  # (no bound: the pacer starts a task at once, as uvicorn does)
        guards = Guards(5, 10, 1000, 65536, 1, admission, Recorder(record), Pacer(admission))

    if shed:
        Bench.guards.admission.pending, Bench.guards.admission.cost = 10**9, 1.0  # predicted: a long wait
    p = Bench(config, ServerState(), {}, _loop=asyncio.get_event_loop())
    transport = Transport()
    p.connection_made(transport)
    return p, transport


async def per_request(p: ServiceProtocol, transport: Transport, n: int) -> float:
    """µs of CPU per request, the answers included (an admitted one runs as a task, awaited before the next)."""
    start = time.process_time()
    for _ in range(n):
        p.data_received(REQUEST)
        while p.tasks:
            await asyncio.gather(*list(p.tasks))
    seconds = time.process_time() - start
    assert transport.written >= n, f"{transport.written} answers to {n} requests"
    transport.written = 0
    return seconds / n * 1e6


async def main_async(n: int) -> None:
    os.environ.setdefault("SERVICE_LOG_LEVEL", "info")
    service_logging.OUTPUT = open(os.devnull, "wb")  # noqa: SIM115  # the log line is rendered and written
    config = uvicorn.Config("service.app:create_app", factory=True, lifespan="on", log_config=None)
    config.load()
    lifespan = config.lifespan_class(config)
    await lifespan.startup()
    settings = ServiceSettings()
    print(f"{n} requests each, POST {PREDICT}, µs of CPU per request (instrumentation {settings.instrumentation}):")
    for name, record, shed in (
        ("shed, with its metrics", True, True),
        ("shed, without (instrumentation off)", False, True),
        ("admitted and predicted", True, False),
    ):
        p, transport = protocol(config, record, shed)
        await per_request(p, transport, n // 10)  # warm
        print(f"  {name:<40} {await per_request(p, transport, n):8.1f}")
    print(f"  {'one request log line (not written per shed)':<40} {log_line_cost(n):8.1f}")
    await lifespan.shutdown()


def log_line_cost(n: int) -> float:
    log = service_logging.logger()
    start = time.process_time()
    for _ in range(n):
        log.warning("request", method="POST", route=PREDICT, status_code=503, duration_ms=1.234, shed=True)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(main_async(args.requests))


if __name__ == "__main__":
    main()
