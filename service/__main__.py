"""python -m service: serve the prediction API with uvicorn, configured from SERVICE_* variables."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from service.model import ModelNotFoundError, resolve
from service.settings import ServiceSettings


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
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
