"""The model routes both FastAPI targets share, written as a FastAPI user writes them: `POST /predict` with one
insurance record answers `{"charges": ...}` from the scikit-learn model, and the error switch for the fault drill,
`POST /admin/errors {"on": true}`, makes every prediction answer 500 until it is switched off. Each app adds its
own instrumentation around them (instrumentator_app.py, instrument_app.py): that is all that tells them apart.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tests.foreign.model import Model

ROUTE = "/predict"
SWITCH = "/admin/errors"


class Record(BaseModel):
    age: int
    sex: str
    bmi: float
    children: int
    smoker: str
    region: str


class Switch(BaseModel):
    on: bool


def model_app() -> FastAPI:
    """A FastAPI app with the model's route and the error switch (its only state: one process, no workers)."""
    app = FastAPI(title="my-model")
    model = Model()
    failing = Switch(on=False)

    @app.post(SWITCH)
    def errors(switch: Switch) -> Switch:
        failing.on = switch.on
        return failing

    @app.post(ROUTE, response_model=None)
    def predict(record: Record) -> dict[str, float] | JSONResponse:
        if failing.on:
            return JSONResponse({"detail": "failing on purpose (the error switch is on)"}, status_code=500)
        return {"charges": model.predict(record.model_dump())}

    return app
