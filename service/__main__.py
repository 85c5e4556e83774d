"""python -m service: serve the prediction API with uvicorn, configured from SERVICE_* variables.

With SERVICE_WORKERS > 1 the metrics of all workers are aggregated by prometheus-client's
multiprocess mode: this parent process picks the folder (SERVICE_METRICS_DIR or a fresh temporary
one), empties it of a previous run's files, and exports PROMETHEUS_MULTIPROC_DIR before uvicorn
starts the workers, which inherit it. It must not import prometheus-client itself before that.
uvicorn's access log is off (the request middleware writes one JSON line per request instead) and
uvicorn's own lines are JSON as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import uvicorn

from service.model import ModelNotFoundError, resolve
from service.observability.logging import stdlib_config
from service.settings import ServiceSettings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(settings: ServiceSettings) -> None:
    """One worker: in-process metrics (with exemplars). Several: a clean multiprocess folder."""
    if settings.workers == 1:
        os.environ.pop(MULTIPROC_ENV, None)
        return
    directory = settings.metrics_dir or Path(tempfile.mkdtemp(prefix="service-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():  # a previous run's metrics and faults
        if stale.is_file():
            stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve the insurance-charges prediction API. Every setting comes from the environment "
        "(SERVICE_HOST, SERVICE_PORT, SERVICE_WORKERS, SERVICE_LOG_LEVEL, ...; see the README).",
    )
    parser.parse_args(argv)
    settings = ServiceSettings()
    try:
        resolve(settings.model_dir, settings.model_version)
    except ModelNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepare_metrics_dir(settings)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=stdlib_config(settings.log_level),
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
