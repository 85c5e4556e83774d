"""A FastAPI model app instrumented as prometheus-fastapi-instrumentator's README says, and nothing of ours (the
model's routes and error switch: fastapi_model.py); its metrics are the library's defaults at /metrics (the
`fastapi-instrumentator` preset of `python -m slo init`).

Run: `python -m uvicorn tests.foreign.instrumentator_app:app --host 127.0.0.1 --port P`.
"""

from __future__ import annotations

from prometheus_fastapi_instrumentator import Instrumentator

from tests.foreign.fastapi_model import model_app

app = model_app()
Instrumentator().instrument(app).expose(app)
