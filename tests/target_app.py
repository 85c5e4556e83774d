"""A small model service nobody here wrote, for `python -m stack up --target`: a plain FastAPI app, none of the
project's service code, run by uvicorn on a free loopback port (`python -m uvicorn tests.target_app:app`).

It answers the prediction routes the scenario sends to (contract/routes.py) with a constant prediction, and
has an error switch: `POST /errors {"rate": 0.5}` makes that share of the predictions answer 500 (every
second one at 0.5: counted, not random). Its own metrics, in Prometheus's text format, are at an unusual path
(`/internal/prom?format=text`, the query required) to show that the stack scrapes any metrics URL.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from contract.routes import PREDICTION_ROUTES

METRICS_PATH = "/internal/prom"


class Errors(BaseModel):
    rate: float = Field(ge=0, le=1)


class State:
    errors = 0.0
    answered = 0
    failed = 0


app = FastAPI()
state = State()


@app.post("/errors")
async def set_errors(errors: Errors) -> dict[str, float]:
    state.errors = errors.rate
    return {"rate": state.errors}


async def predict(request: Request) -> Response:
    await request.body()
    state.answered += 1
    # fail while the failures so far are under their share of the answers: exactly `rate` of them, spread out
    if state.failed < state.errors * state.answered:
        state.failed += 1
        return JSONResponse({"detail": "failed on purpose"}, status_code=500)
    body: dict[str, Any] = {"charges": 1234.5}
    return JSONResponse(body)


for route in PREDICTION_ROUTES:
    app.add_api_route(route, predict, methods=["POST"])


@app.get(METRICS_PATH)
async def metrics(format: str = "") -> Response:
    if format != "text":
        return PlainTextResponse("give ?format=text\n", status_code=400)
    text = (
        "# TYPE target_predictions_total counter\n"
        f"target_predictions_total {state.answered}\n"
        "# TYPE target_failures_total counter\n"
        f"target_failures_total {state.failed}\n"
    )
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
