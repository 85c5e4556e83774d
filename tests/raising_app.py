"""The real service plus one route that raises: the path of an unexpected exception, on demand.

Only for tests (the service itself has no way to raise on purpose), served as `python -m service`
serves the service (JSON logs, no access log):
    python -m tests.raising_app PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

from service.app import create_app as create_service
from service.observability.logging import stdlib_config

BOOM = "/boom"
MESSAGE = "raised on purpose by tests/raising_app.py"


def create_app() -> FastAPI:
    app = create_service()

    @app.get(BOOM)
    async def boom() -> None:
        raise RuntimeError(MESSAGE)

    return app


if __name__ == "__main__":
    uvicorn.run(
        "tests.raising_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=stdlib_config(),
        access_log=False,
    )
