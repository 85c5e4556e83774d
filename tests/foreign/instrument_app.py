"""A plain FastAPI model app that calls our `instrument(app)` (service/instrument.py) and nothing else of ours,
as the README's example does (the model's routes and error switch: fastapi_model.py): its metrics at /metrics are
our request histogram under our label names, which the `service` preset of `python -m slo init` reads.

Run: `python -m uvicorn tests.foreign.instrument_app:app --host 127.0.0.1 --port P`.
"""

from __future__ import annotations

from service.instrument import instrument
from tests.foreign.fastapi_model import model_app

app = model_app()
instrument(app)  # after the routes: it reads their templates
