"""The daemon's /metrics: exactly the names and labels of the contract, read from the engine at scrape time."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from contract import metrics as contract
from contract.buckets import LATENCY_SECONDS
from contract.metrics import le_text
from loadgen import metrics, workers
from loadgen.engine import Engine
from loadgen.recorder import Recorder
from loadgen.schedule import Arrivals, Constant
from tests.unit.loadgen.doubles import HeldClient, deck

LOADGEN = [
    contract.LOADGEN_REQUEST_DURATION, contract.LOADGEN_REQUESTS, contract.LOADGEN_SCHEDULED, contract.LOADGEN_SENT,
    contract.LOADGEN_DROPPED, contract.LOADGEN_IN_FLIGHT, contract.LOADGEN_TARGET_RATE,
]  # fmt: skip


def test_the_exposition_is_the_contract() -> None:
    recorder = Recorder()
    recorder.record("/v1/predict", "200", 0.004)
    recorder.record("/v1/predict", "200", 0.1)
    recorder.record("/v1/predict/batch", "connect", 0.0001)
    recorder.record("/v1/predict/batch", "check", 0.002)  # an answer that failed its check: counted, not timed
    engine = Engine(HeldClient(), deck("/v1/predict", size=2), Arrivals(Constant(rate=4), "constant"),
                    recorder, max_in_flight=1)  # fmt: skip
    engine.scheduled, engine.sent, engine.dropped, engine.in_flight = 5, 4, 1, 1
    text = generate_latest(metrics.registry(engine)).decode()

    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    for metric in LOADGEN:
        names = [n for n in samples if n == metric.name or n.startswith(metric.name + "_")]
        assert names, metric.name
        for name in names:
            assert all(set(s.labels) - {"le"} == set(metric.labels) for s in samples[name]), name
    values = {s.name: s.value for name in samples for s in samples[name] if not s.labels}
    assert values[contract.LOADGEN_SCHEDULED.name] == 5 and values[contract.LOADGEN_SENT.name] == 4
    assert values[contract.LOADGEN_DROPPED.name] == 1 and values[contract.LOADGEN_IN_FLIGHT.name] == 1
    assert values[contract.LOADGEN_TARGET_RATE.name] == 4
    requests = {(s.labels["route"], s.labels["outcome"]): s.value for s in samples[contract.LOADGEN_REQUESTS.name]}
    assert requests == {
        ("/v1/predict", "200"): 2,
        ("/v1/predict/batch", "connect"): 1,
        ("/v1/predict/batch", "check"): 1,
    }

    buckets = {s.labels["le"]: s.value for s in samples[contract.LOADGEN_REQUEST_DURATION.name + "_bucket"]
               if s.labels["route"] == "/v1/predict"}  # fmt: skip
    assert list(buckets) == [*(le_text(b) for b in LATENCY_SECONDS), "+Inf"]
    assert buckets["0.0025"] == 0 and buckets["0.005"] == 1 and buckets["0.1"] == 2 and buckets["+Inf"] == 2
    assert "process_cpu_seconds_total" in samples  # and the process metrics of the daemon itself
    # Answered requests only in the latency histogram: the refused connection and the failed check are counted,
    # not timed.
    counts = {s.labels["route"]: s.value for s in samples[contract.LOADGEN_REQUEST_DURATION.name + "_count"]}
    assert counts == {"/v1/predict": 2}


def test_worker_processes_totals_are_exposed_summed() -> None:
    """With LOADGEN_WORKERS > 1 the metrics read the workers' counters summed and the parent's merged recorder."""
    recorder = Recorder()
    recorder.record("/v1/predict", "200", 0.004)
    parts = [workers.Counters(scheduled=3, sent=2, dropped=1, in_flight=1, rate=2.5),
             workers.Counters(scheduled=2, sent=2, in_flight=2, rate=2.5)]  # fmt: skip
    text = generate_latest(metrics.registry(workers.Totals(recorder, parts))).decode()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}
    exposed = (contract.LOADGEN_SCHEDULED, contract.LOADGEN_SENT, contract.LOADGEN_DROPPED, contract.LOADGEN_IN_FLIGHT,
               contract.LOADGEN_TARGET_RATE)  # fmt: skip
    assert [values[m.name] for m in exposed] == [5, 4, 1, 3, 5]
    assert f'{contract.LOADGEN_REQUESTS.name}{{outcome="200",route="/v1/predict"}} 1.0' in text
