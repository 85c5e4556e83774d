"""The real service plus two routes that raise: the paths of an unexpected exception, on demand.

Only for tests (the service itself has no way to raise on purpose): `BOOM` raises before answering,
`LATE` after its response has started.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from service.app import create_app as create_service
from service.settings import ServiceSettings

BOOM = "/boom"
LATE = "/boom/late"
MESSAGE = "raised on purpose by tests/raising_app.py"


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    app = create_service(settings)

    @app.get(BOOM)
    async def boom() -> None:
        raise RuntimeError(MESSAGE)

    @app.get(LATE)
    async def late() -> StreamingResponse:
        def body() -> Iterator[bytes]:
            yield b"half"
            raise RuntimeError(MESSAGE)

        return StreamingResponse(body())

    return app
