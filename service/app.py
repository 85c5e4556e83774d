"""create_app(settings): the FastAPI application, its start-up and its middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from service import api
from service.body_limit import BodyLimitMiddleware
from service.errors import validation_error_handler
from service.model import Model
from service.schemas import EXAMPLE_RECORD, InsuranceRecord
from service.settings import ServiceSettings


def load_and_warm(settings: ServiceSettings) -> Model:
    """Load the artifact and run one prediction, so the first real request pays no warm-up."""
    model = Model.load(settings.model_dir, settings.model_version)
    model.predict([InsuranceRecord(**EXAMPLE_RECORD)])
    return model


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = load_and_warm(settings)
        app.state.ready = True
        yield
        app.state.ready = False

    app = FastAPI(
        title="Insurance charges prediction service",
        version="1.0.0",
        description="Predicts yearly medical insurance charges from age, sex, BMI, children, smoking and region.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.model = None
    app.state.ready = False
    app.include_router(api.router)
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
