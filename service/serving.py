"""Serving an instrumented app with our HTTP protocol: `serve(app)`, or `uvicorn.run(app, **uvicorn_options(app))`.

Part of the overload protection lives below ASGI, in the connection (service/protocol.py): a request stamped
when it arrives, its whole body read before it gets a task, a prediction that would wait too long answered 503
with canned bytes and no task at all, 408 for a slow head or body, 414/431 while a head arrives, a cap on open
connections, `X-Request-Timeout` deadlines, a client that left noticed before its request is predicted. No ASGI
call can install that, so this module gives uvicorn the protocol class, configured from the app's instrumentation
settings and routes (`instrument(app)` must have run). Under plain uvicorn an instrumented app still measures its
queue delay and sheds, less exactly (service/turn_admission.py).

One worker: uvicorn serves an app object in one process. Several workers need an import string and prometheus-
client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set before the workers import anything); our service does
that in `python -m service` (service/__main__.py, service/supervisor.py).
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from starlette.applications import Starlette

from service.http_limits import HeadLimits
from service.instrument import Instrumentation
from service.observability import exposition
from service.observability.logging import stdlib_config
from service.protocol import Guards, ServiceProtocol


def instrumentation(app: Starlette) -> Instrumentation:
    done: Instrumentation | None = getattr(app.state, "instrumentation", None)
    if done is None:
        raise RuntimeError("the app is not instrumented: call instrument(app) first")
    return done


def protocol_class(app: Starlette) -> type[ServiceProtocol]:
    """Our HTTP protocol for this app: its settings, and its routes (read now: call it once the routes are final)."""
    done = instrumentation(app)
    guards = Guards.from_settings(done.settings, done.routes())
    return type(
        "InstrumentedProtocol",
        (ServiceProtocol,),
        {"guards": guards, "limits": HeadLimits.from_settings(done.settings)},
    )


def uvicorn_options(app: Starlette) -> dict[str, Any]:
    """uvicorn's options for an instrumented app: our protocol, no access log (the app writes its own line per
    request), uvicorn's own lines as JSON, the settings' host, port and log level."""
    settings = instrumentation(app).settings
    return {
        "host": settings.host,
        "port": settings.port,
        "http": protocol_class(app),
        "access_log": False,
        "log_level": settings.log_level,
        "log_config": stdlib_config(settings.log_level),
    }


def serve(app: Starlette, **options: Any) -> None:
    """Serve an instrumented app on SERVICE_HOST:SERVICE_PORT with our protocol (`options`: more of uvicorn's, or
    other values), and /metrics on SERVICE_METRICS_PORT when set; returns when the server stops (SIGTERM, Ctrl-C)."""
    settings = instrumentation(app).settings
    if settings.metrics_port is not None:
        exposition.serve(settings.host, settings.metrics_port, exposition.registry(supervisor=os.getppid()))
    uvicorn.run(app, **{**uvicorn_options(app), **options})
