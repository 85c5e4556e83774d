"""A FastAPI model app instrumented as prometheus-fastapi-instrumentator's README says, and nothing of ours:
`POST /predict` with one insurance record answers `{"charges": ...}` from the scikit-learn model; its metrics are
the library's defaults at /metrics (the `fastapi-instrumentator` preset of `python -m slo init`).

The error switch for the fault drill: `POST /admin/errors {"on": true}` makes every prediction answer 500 until
it is switched off. Run: `python -m uvicorn tests.foreign.instrumentator_app:app --host 127.0.0.1 --port P`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel

from tests.foreign.model import Model

ROUTE = "/predict"


class Record(BaseModel):
    age: int
    sex: str
    bmi: float
    children: int
    smoker: str
    region: str


class Switch(BaseModel):
    on: bool


app = FastAPI()
model = Model()
failing = Switch(on=False)
Instrumentator().instrument(app).expose(app)


@app.post("/admin/errors")
def errors(switch: Switch) -> Switch:
    failing.on = switch.on
    return failing


@app.post(ROUTE, response_model=None)
def predict(record: Record) -> dict[str, float] | JSONResponse:
    if failing.on:
        return JSONResponse({"detail": "failing on purpose (the error switch is on)"}, status_code=500)
    return {"charges": model.predict(record.model_dump())}
