"""Personal data kept out of /metrics and the log: model signals only in groups, never one request's values."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from contract import routes
from contract.schemas import EXAMPLE_RECORD
from service import model_metrics
from service.observability import metrics
from tests.unit.service.conftest import LogCapture, Serve

pytestmark = pytest.mark.anyio
RECORD = {**EXAMPLE_RECORD, "bmi": 31.337, "age": 58}


def signal_count() -> float:
    return REGISTRY.get_sample_value("model_input_bmi_count") or 0.0


@pytest.fixture(autouse=True)
def _empty_buffer() -> None:
    """What earlier tests' apps left buffered is folded in first, so counts here start clean."""
    model_metrics.SIGNALS.min_count = 1
    model_metrics.SIGNALS.flush()


async def test_one_request_shows_no_input_value_in_metrics(serve: Serve, log: LogCapture) -> None:
    before = signal_count(), REGISTRY.get_sample_value("model_input_bmi_sum") or 0.0
    async with serve(model_signal_min_count=5) as c:
        r = await c.post(routes.PREDICT, json=RECORD)
        scraped = (await c.get(routes.METRICS)).text
        assert (signal_count(), REGISTRY.get_sample_value("model_input_bmi_sum") or 0.0) == before
        assert "31.337" not in scraped and str(r.json()["charges"]) not in scraped
        batch = await c.post(routes.PREDICT_BATCH, json={"records": [RECORD]})  # a batch of one: held back too
        assert batch.status_code == 200 and signal_count() == before[0]
        for _ in range(3):  # the fifth record completes a group: all five folded in at once
            await c.post(routes.PREDICT, json=RECORD)
        await c.get(routes.METRICS)
        assert signal_count() - before[0] == 5
        await c.post(routes.PREDICT, json=RECORD)
        await c.get(routes.METRICS)
        assert signal_count() - before[0] == 5
    # Request counts and latency are not held back: only the model's inputs and predictions are.
    assert REGISTRY.get_sample_value("model_batch_size_count") is not None


async def test_the_signals_left_at_exit_are_dropped_not_folded_in_alone(serve: Serve, log: LogCapture) -> None:
    before = signal_count()
    async with serve(model_signal_min_count=3) as c:
        await c.post(routes.PREDICT, json=RECORD)
        await c.post(routes.PREDICT, json=RECORD)
    metrics.worker_exit()
    assert signal_count() == before


async def test_metrics_on_their_own_port_leave_the_api_port(serve: Serve) -> None:
    async with serve(metrics_port=9464) as c:
        assert (await c.get(routes.METRICS)).status_code == 404
        assert (await c.get(routes.HEALTHZ)).status_code == 200
