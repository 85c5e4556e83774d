"""End-to-end soak, bounded: the whole stack under steady load, then the books are balanced.

The service runs two workers (multiprocess metrics), the loadgen daemon sends a route mix with 5%
invalid records, Prometheus scrapes both. After the run: the service's and the loadgen's memory stayed
flat, and every request the loadgen counts as answered is counted by the service, status code by
status code, with nothing lost. (The alert drill to Alertmanager is tests/test_slo_drill.py.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from contract.metrics import REQUEST_DURATION
from contract.routes import PREDICTION_ROUTES
from stack.prometheus import Prometheus
from tests import live, prom

#: The whole run, and the warm-up before the first memory reading (imports, first requests, arenas).
SOAK_SECONDS = 40
WARM_UP_SECONDS = 10
#: Resident memory may wobble with the allocator, not grow with the requests served.
MAX_GROWTH_BYTES = 16 * 2**20


def rss(prometheus: str, job: str) -> float:
    value = Prometheus(prometheus, timeout=5).scalar(f'sum(process_resident_memory_bytes{{job="{job}"}})')
    assert value is not None, f"no memory reading of {job}"
    return value


def service_counts(service: str) -> dict[str, int]:
    """Prediction requests the service answered, by status code, summed over its workers."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(httpx.get(f"{service}/metrics", timeout=5).text):
        for sample in family.samples:
            if sample.name == f"{REQUEST_DURATION.name}_count" and sample.labels["route"] in PREDICTION_ROUTES:
                code = sample.labels["status_code"]
                counts[code] = counts.get(code, 0) + int(sample.value)
    return counts


def loadgen_final_tally(log: Path) -> dict[str, int]:
    match = re.search(r"stopped: .*outcomes=(\{.*\})", log.read_text())
    assert match, f"the loadgen logged no final tally:\n{log.read_text()[-2000:]}"
    return json.loads(match[1])


def test_soak_memory_stays_flat_and_every_answer_is_accounted_for(tmp_path: Path) -> None:
    with live.stack(tmp_path, workers=2, rate=60, invalid_fraction=0.05) as s:
        time.sleep(WARM_UP_SECONDS)
        early = {job: rss(s.prometheus, job) for job in ("service", "loadgen")}
        time.sleep(SOAK_SECONDS - WARM_UP_SECONDS)
        late = {job: rss(s.prometheus, job) for job in ("service", "loadgen")}

        os.killpg(s.loadgen_pid, signal.SIGTERM)  # the load stops and drains; the service stays up
        assert prom.wait_for(lambda: "stopped:" in s.loadgen_log.read_text(), 30) is not None
        answered = loadgen_final_tally(s.loadgen_log)
        served = service_counts(s.service)

    print(f"\nsoak: rss early {early}, late {late}; loadgen answered {answered}; service served {served}")
    for job in early:
        assert late[job] - early[job] < MAX_GROWTH_BYTES, f"{job} memory grew {early[job]:.0f} -> {late[job]:.0f}"
    assert set(answered) <= {"200", "422"}, f"transport errors or 5xx in a clean soak: {answered}"
    assert answered == served
    assert answered["200"] > 60 * SOAK_SECONDS * 0.9 and answered["422"] > 0
