"""python -m service: serve the prediction API with uvicorn, configured from SERVICE_* variables.

One worker: uvicorn's server in this process. Several: service/supervisor.py runs them, and their metrics
are aggregated by prometheus-client's multiprocess mode in a folder this process claims first
(service/metrics_dir.py: locked, wiped, checked, exported as PROMETHEUS_MULTIPROC_DIR, which the workers
inherit; it must not import prometheus-client itself before that). Either way a start that fails exits
non-zero with one line on stderr, `error: ...`. uvicorn's access log is off (the request middleware
writes one JSON line per request instead) and uvicorn's own lines are JSON as well. Connections are
served by service/protocol.py (head limits, admission by time, read timeouts).
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from pydantic import ValidationError

from service import draining, metrics_dir, supervisor
from service.model import ModelNotFoundError, resolve
from service.observability.logging import stdlib_config
from service.settings import ServiceSettings

MULTIPROC_ENV = metrics_dir.MULTIPROC_ENV
#: uvicorn's httptools protocol with the request-head limits, admission and the slow-client guards.
HTTP_PROTOCOL = "service.protocol:ServiceProtocol"


def uvicorn_config(settings: ServiceSettings) -> uvicorn.Config:
    return uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=stdlib_config(settings.log_level),
        access_log=False,
        http=HTTP_PROTOCOL,
        backlog=settings.backlog,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )


def serve_metrics(settings: ServiceSettings, supervisor: int) -> str | None:
    """/metrics on SERVICE_METRICS_PORT, if set, from this process (None), or why it cannot listen.

    Imported here, after the metrics mode is chosen (prometheus-client picks it at its first import).
    """
    if settings.metrics_port is None:
        return None
    from service.observability import exposition

    try:
        exposition.serve(settings.host, settings.metrics_port, exposition.registry(supervisor))
    except OSError as exc:
        return f"cannot serve metrics on {settings.host}:{settings.metrics_port}: {exc.strerror or exc}"
    return None


def serve_one(settings: ServiceSettings) -> str | None:
    """One worker, in this process: None once it has served and stopped, else why it could not start."""
    os.environ.pop(MULTIPROC_ENV, None)
    error = serve_metrics(settings, supervisor=os.getppid())
    if error is not None:
        return error
    config = uvicorn_config(settings)
    last_error = supervisor.LastError()
    supervisor.log.addHandler(last_error)
    server = draining.Server(config, settings.drain_seconds, settings.accepts_per_turn)
    try:
        sock = config.bind_socket()  # a failure logs its line and exits, as uvicorn's own bind does
        server.run(sockets=[sock])
    except SystemExit as exc:
        if not server.started:
            return last_error.line or f"exit code {exc.code}"
        raise
    return None if server.started else (last_error.line or "the server did not start")


def serve_many(settings: ServiceSettings) -> str | None:
    """Several workers under the supervisor: None after a clean stop, else the error line."""
    try:
        sock = supervisor.bind(settings.host, settings.port)
    except OSError as exc:
        return f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
    try:
        folder = metrics_dir.claim(settings.metrics_dir)
    except metrics_dir.MetricsDirError as exc:
        sock.close()
        return str(exc)
    error = serve_metrics(settings, supervisor=os.getpid())
    if error is not None:
        sock.close()
        folder.release()
        return error
    try:
        return supervisor.Supervisor(uvicorn_config(settings), sock, settings.workers).run()
    finally:
        sock.close()
        folder.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve the insurance-charges prediction API. Every setting comes from the environment "
        "(SERVICE_HOST, SERVICE_PORT, SERVICE_WORKERS, SERVICE_LOG_LEVEL, ...; see the README).",
    )
    parser.parse_args(argv)
    try:
        settings = ServiceSettings()
    except ValidationError as exc:
        problems = "; ".join(f"SERVICE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid settings: {problems}", file=sys.stderr)
        return 2
    try:
        resolve(settings.model_dir, settings.model_version)
    except ModelNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    error = serve_one(settings) if settings.workers == 1 else serve_many(settings)
    if error is not None:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
