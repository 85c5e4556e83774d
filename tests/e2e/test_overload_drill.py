"""Overload drill: the real service overloaded by the real loadgen daemon, the real Prometheus with the SLO windows
shrunk 60x (5m becomes 5 s, 1h one minute, as tests/e2e/test_slo_drill.py does it), the real Alertmanager.

The overload is real CPU work, made cheap: every request is a batch of 64 records, so one worker serves a
few hundred a second, and the daemon asks OVERLOAD_FACTOR times the capacity the test measures on the
drill's own service (closed loop, a few connections) before the daemon starts. Its scenario: CLEAN_SECONDS at a
light rate (no alert may fire), then the overload.

- Shedding off (the service's admission bounds switched off): the queue forms in front of the application
  (socket buffers, the accept backlog), where the service's own histogram cannot see it. The synthetic
  (client-side) availability SLO pages, while no server-side SLO alert fires at all, and the client/server
  disagreement alert (RequestsWaitBeforeService) holds on the batch route (pending: its 10-minute `for` is real
  time even in a drill).
- Shedding by time on (`SERVICE_MAX_QUEUE_DELAY_MS` at its default; skipped while the service has no such
  setting): the sheds are 503s in the service's histogram, and the server-side availability SLO pages within
  the burn-rate bound.

No timing goal is asserted beyond the burn-rate bound: the alerts fire, or stay silent.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from contract import metrics
from contract.routes import PREDICT_BATCH
from contract.workload import insurance
from stack.prometheus import Prometheus
from tests import live, prom
from tests.e2e.test_slo_drill import Webhook, drill_alertmanager_config, webhook

SHRINK = 60
#: Records per request: real model work per request, so a low request rate already overloads one worker (the
#: daemon builds its deck of 8,192 requests at start: 64 records each take it a few seconds).
BATCH_SIZE = 64
#: The clean phase: a light load (a few % of one worker) during which no SLO alert may fire.
CLEAN_RATE = 10.0
CLEAN_SECONDS = 15
OVERLOAD_FACTOR = 3
#: Capacity: batches answered per second by a closed loop of this many connections, over this long.
CAPACITY_CONNECTIONS = 4
CAPACITY_SECONDS = 2.0
#: The burn-rate bound, shrunk: at 3x capacity about 2/3 of the requests fail (dropped or shed), 46x the 1.44%
#: that the quick page condition needs, so the 1h window (60 s) crosses it within 2 s and the 5m window (5 s)
#: once it holds the 100 requests of the min-events guard, under a second; add 2 scrapes and 2 evaluations
#: (1 s each) for the rate's two samples, and the same again for a busy 2-core CI machine: 20 s.
PAGE_WITHIN = 20.0
#: Overload kept on after the page: the server-side alerts must stay silent meanwhile.
OBSERVE_SECONDS = 20.0
#: Alerts and rates are read this often.
POLL = 1.0

LOADGEN, SERVICE = metrics.LOADGEN_REQUEST_DURATION.name, metrics.REQUEST_DURATION.name
#: Shedding by time off (service/admission.py): the queue then forms where only the client sees it.
SHEDDING_OFF = {"max_queue_delay_ms": "0"}


def batch_body() -> bytes:
    """One valid batch of BATCH_SIZE records, built as the loadgen builds them."""
    return json.dumps(insurance(1, random.Random(1), batch_size=BATCH_SIZE)[0]).encode()


def capacity(service: str) -> float:
    """Batches per second the service answers 200 to, closed loop over CAPACITY_CONNECTIONS connections."""
    body = batch_body()

    def loop(_: int) -> int:
        answered = 0
        with httpx.Client(base_url=service, timeout=10, headers={"content-type": "application/json"}) as client:
            client.post(PREDICT_BATCH, content=body)  # warm: connection, caches (a shed 503 is no capacity)
            deadline = time.monotonic() + CAPACITY_SECONDS
            while time.monotonic() < deadline:
                answered += client.post(PREDICT_BATCH, content=body).status_code == 200
        return answered

    start = time.monotonic()
    with ThreadPoolExecutor(CAPACITY_CONNECTIONS) as pool:
        answered = sum(pool.map(loop, range(CAPACITY_CONNECTIONS)))
    return answered / (time.monotonic() - start)


class Overload:
    """The daemon's scenario: CLEAN_RATE for CLEAN_SECONDS, then OVERLOAD_FACTOR x the measured capacity."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.capacity = 0.0
        self.rate = 0.0

    def scenario(self, service: str) -> Path:
        self.capacity = capacity(service)
        self.rate = round(OVERLOAD_FACTOR * self.capacity, 1)
        scenario = {
            "description": f"overload drill: {CLEAN_RATE:g} req/s, then {self.rate:g} req/s",
            "profile": {
                "kind": "stages",
                "start": CLEAN_RATE,
                "stages": [
                    {"duration": CLEAN_SECONDS, "target": CLEAN_RATE},
                    {"duration": 0.1, "target": self.rate},
                    {"duration": 3600, "target": self.rate},
                ],
            },
            "arrivals": "constant",
            "workload": [
                {
                    "path": PREDICT_BATCH,
                    "body": {"generator": "contract.workload:insurance", "options": {"batch_size": BATCH_SIZE}},
                }
            ],
            "max_in_flight": 200,
            "timeout": "10s",
        }
        path = self.tmp / "overload.yaml"
        path.write_text(yaml.safe_dump(scenario, sort_keys=False))
        return path


@contextmanager
def drill(tmp: Path, service_settings: dict[str, str]) -> Iterator[tuple[live.Stack, Webhook, Overload]]:
    overload = Overload(tmp)
    with (
        webhook() as (hook, hook_url),
        live.stack(
            tmp,
            shrink=SHRINK,
            with_alertmanager=True,
            alertmanager_config=drill_alertmanager_config(tmp, hook_url),
            service_settings=service_settings,
            loadgen_scenario=overload.scenario,
        ) as s,
    ):
        print(f"\noverload drill: capacity {overload.capacity:.0f} batches/s, overload at {overload.rate:g} req/s")
        yield s, hook, overload


def target_rate(loadgen: str) -> float:
    """The daemon's current target rate, from its /metrics."""
    text = httpx.get(f"{loadgen}/metrics", timeout=5).text
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == metrics.LOADGEN_TARGET_RATE.name]
    return float(family.samples[0].value)


def burn_alerts(prometheus: str) -> list[dict[str, Any]]:
    """SLO burn-rate alerts, pending or firing."""
    return [a for a in prom.alerts(prometheus) if "sloth_severity" in a["labels"]]


def synthetic(alert: dict[str, Any]) -> bool:
    return alert["labels"].get("sloth_slo", "").startswith("synthetic-")


def page(slo: str) -> Callable[[dict[str, Any]], bool]:
    def matches(alert: dict[str, Any]) -> bool:
        labels = alert["labels"]
        return labels.get("sloth_slo") == slo and labels["sloth_severity"] == "page" and alert["state"] == "firing"

    return matches


def collected(prometheus: str, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The burn alerts active now, added to `seen`; returns `seen`."""
    seen += burn_alerts(prometheus)
    return seen


def watch_until_overload(s: live.Stack, seen: list[dict[str, Any]]) -> None:
    """Collect every burn alert until the daemon's schedule turns to the overload."""

    def overloading() -> bool:
        collected(s.prometheus, seen)
        return target_rate(s.loadgen) > CLEAN_RATE

    started = prom.wait_for(overloading, 90)
    assert started is not None, "the daemon never reached the overload stage"


def p99(prometheus: str, histogram: str, job: str) -> float | None:
    """The batch route's p99 over the last 5 (shrunk: 5 s) of the 5xx-free answers, as the disagreement alert reads."""
    answered = ', status_code!~"5.."' if job == metrics.SERVICE_JOB else ""  # the loadgen's holds no failure
    selector = f'{histogram}_bucket{{job="{job}", route="{PREDICT_BATCH}"{answered}}}'
    return Prometheus(prometheus).scalar(f"histogram_quantile(0.99, sum by (le) (rate({selector}[5s])))")


def pager_got(hook: Webhook, slo: str) -> bool:
    with hook.lock:
        return any(
            path == "/alerts/pager" and any(a["labels"].get("sloth_slo") == slo for a in body["alerts"])
            for path, body in hook.received
        )


def test_with_shedding_off_the_synthetic_slo_pages_while_every_server_side_slo_stays_green(tmp_path: Path) -> None:
    with drill(tmp_path, SHEDDING_OFF) as (s, hook, _):
        clean: list[dict[str, Any]] = []
        watch_until_overload(s, clean)
        assert not clean, f"SLO alerts before the overload: {[a['labels'] for a in clean]}"

        seen: list[dict[str, Any]] = []
        paged = prom.wait_for(
            lambda: any(map(page("synthetic-availability"), collected(s.prometheus, seen))),
            PAGE_WITHIN,
            POLL,
        )
        assert paged is not None, f"no synthetic availability page within {PAGE_WITHIN}s of the overload"
        waits: list[dict[str, Any]] = []
        deadline = time.monotonic() + OBSERVE_SECONDS
        while time.monotonic() < deadline:
            alerts = prom.alerts(s.prometheus)
            seen += [a for a in alerts if "sloth_severity" in a["labels"]]
            waits += [a for a in alerts if a["labels"]["alertname"] == "RequestsWaitBeforeService"]
            time.sleep(POLL)
        server_side = [a["labels"] for a in seen if not synthetic(a)]
        assert not server_side, f"a server-side SLO alert under overload with shedding off: {server_side}"
        # Silent because all is well as far as the service can tell, not for want of data: it counts the overload.
        ids = '{sloth_slo="requests-availability"}'
        served = Prometheus(s.prometheus).scalar(f"slo:sli_total_events:rate5m{ids}")
        assert served is not None and served > 2 * CLEAN_RATE, f"the service-side SLOs count {served} req/s"
        assert {a["labels"]["route"] for a in waits} == {PREDICT_BATCH}, waits
        assert prom.wait_for(lambda: pager_got(hook, "synthetic-availability"), 15), "the page never reached the pager"
        fired = sorted({(a["labels"]["sloth_slo"], a["labels"]["sloth_severity"]) for a in seen})
        print(f"overload drill (shedding off): synthetic availability page {paged:.1f}s after the overload began")
        print(f"overload drill (shedding off): burn alerts seen: {fired}")
        client, server = p99(s.prometheus, LOADGEN, "loadgen"), p99(s.prometheus, SERVICE, "service")
        print(
            f"overload drill (shedding off): the service served {served:.0f} req/s; batch route p99: client "
            f"{(client or 0) * 1000:.0f} ms, service {(server or 0) * 1000:.1f} ms"
        )


def test_with_shedding_on_overload_at_3x_pages_on_the_server_side_availability_slo(tmp_path: Path) -> None:
    with drill(tmp_path, {}) as (s, hook, _):
        clean: list[dict[str, Any]] = []
        watch_until_overload(s, clean)
        assert not clean, f"SLO alerts before the overload: {[a['labels'] for a in clean]}"
        paged = prom.wait_for(
            lambda: any(map(page("requests-availability"), burn_alerts(s.prometheus))), PAGE_WITHIN, POLL
        )
        assert paged is not None, f"no server-side availability page within {PAGE_WITHIN}s of a 3x overload (sheds)"
        assert prom.wait_for(lambda: pager_got(hook, "requests-availability"), 15), "the page never reached the pager"
        print(f"overload drill (shedding on): server-side availability page {paged:.1f}s after the overload began")
