"""`python -m stack report` on a live drill: the real service with faults injected, a bounded request loop, the
real Prometheus with the project's rules (windows shrunk 60x, 1 s scrapes and evaluations).

Clean traffic, then 20% errors for a while (the availability page fires), then clean traffic until the page
resolves. The report of that window must give the budget spent that the service's own counters give over it
(within 1%), and list each SLO alert's incident once (the pre-fix rules' alert changed its `sloth_window` label as
burn windows took over: one incident was several series).

The service has answered 500s and 200s before the window, as a service that has been running has: Prometheus 2
does not see the increments of a counter series before its first scrape (it has no created timestamps), so a
series born inside the window would be short by what it counted before that scrape; and a series whose first
value is small next to its increase is extrapolated less far back than the others (rate()'s "duration to zero").
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from contract import metrics
from contract.routes import ADMIN_FAULTS, PREDICT, PREDICTION_ROUTES
from generators.paths import SPEC
from generators.prometheus.config import PrometheusTargets, prometheus_config
from generators.repository import generate
from generators.yamlout import dump
from slo.spec import load_spec
from stack.prometheus import Prometheus
from stack.spans import parse_time
from tests import prom
from tests.processes import ROOT, service

TOKEN = "report-test-token"
RATE = 25.0  # requests per second of the loop
#: Bounds of every phase: the loop never sends more than RATE x these seconds.
CLEAN_SECONDS, FAULT_SECONDS, RECOVER_MAX_SECONDS = 8.0, 10.0, 75.0
#: Quiet seconds at each end of the window, every counter flat there: rate() extrapolates each series to the
#: window's ends at its average slope over the window, so errors and requests by the same factor only if no
#: request is answered between an end and the sample nearest to it.
QUIET = 3.0
RECORD = {"age": 42, "sex": "female", "bmi": 24.3, "children": 2, "smoker": False, "region": "northeast"}


def set_faults(client: httpx.Client, error_rate: float) -> None:
    routes = {route: {"error_rate": error_rate} for route in PREDICTION_ROUTES} if error_rate else {}
    response = client.post(ADMIN_FAULTS, json={"routes": routes}, headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()


def page_state(prometheus: Prometheus) -> set[str]:
    """States of the availability SLO's page alert now (pending, firing), as Prometheus holds them."""
    return {
        a["state"]
        for a in prometheus.alerts()
        if a["labels"].get("sloth_slo") == "requests-availability" and a["labels"].get("sloth_severity") == "page"
    }


def send_until(client: httpx.Client, done: Any, max_seconds: float) -> float:
    """Requests at RATE per second until done() (checked each second) or max_seconds; returns the time taken."""
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < max_seconds:
        if sent % int(RATE) == 0 and sent and done():
            return elapsed
        client.post(PREDICT, json=RECORD)  # a 500 is the point of the drill: its status is not checked
        sent += 1
        time.sleep(max(0.0, start + sent / RATE - time.monotonic()))
    return time.monotonic() - start


def warm_up(client: httpx.Client, each: int = 50) -> None:
    """500s and 200s on the route the loop uses: their series exist before the window."""
    set_faults(client, 1.0)
    assert [client.post(PREDICT, json=RECORD).status_code for _ in range(each)] == [500] * each
    set_faults(client, 0.0)
    assert [client.post(PREDICT, json=RECORD).status_code for _ in range(each)] == [200] * each


def service_counts(client: httpx.Client) -> tuple[float, float]:
    """(requests, 5xx) on the prediction routes, from the service's own /metrics."""
    total = errors = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == f"{metrics.REQUEST_DURATION.name}_count" and sample.labels["route"] in PREDICTION_ROUTES:
                total += sample.value
                errors += sample.value if sample.labels["status_code"].startswith("5") else 0.0
    return total, errors


def run_report(prometheus: str, start: float, end: float) -> dict[str, Any]:
    args = ["-m", "stack", "report", "--prometheus", prometheus, "--start", f"{start:.3f}", "--end", f"{end:.3f}"]
    text = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    print(text.stdout)
    assert text.returncode in (0, 1), text.stderr
    done = subprocess.run([sys.executable, *args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == text.returncode, done.stderr
    return dict(json.loads(done.stdout))


def test_report_of_a_drill_spends_the_budget_the_counters_give_and_lists_each_incident_once(tmp_path: Path) -> None:
    prom_dir = tmp_path / "prometheus"
    generate(SPEC, prom_dir, shrink=60)
    with service(tmp_path, admin_token=TOKEN, log_inputs="false") as url, httpx.Client(base_url=url) as client:
        targets = PrometheusTargets(
            service=(url.removeprefix("http://"),),
            loadgen=(),
            prometheus=(),
            alertmanager=(),
            scrape_interval="1s",
            evaluation_interval="1s",
        )
        (prom_dir / "prometheus.yml").write_text(dump(prometheus_config(targets)))
        with prom.prometheus(prom_dir / "prometheus.yml", tmp_path / "prometheus-data") as prometheus_url:
            prometheus = Prometheus(prometheus_url, timeout=5)
            assert prom.wait_for(lambda: prometheus.scalar('up{job="service"}') == 1, 30) is not None
            warm_up(client)
            time.sleep(QUIET)
            start, (total_before, errors_before) = time.time(), service_counts(client)
            time.sleep(QUIET)
            traffic_from = time.time()
            send_until(client, lambda: False, CLEAN_SECONDS)
            set_faults(client, 0.2)
            send_until(client, lambda: False, FAULT_SECONDS)
            set_faults(client, 0.0)
            assert "firing" in page_state(prometheus), f"no page after {FAULT_SECONDS}s of 20% errors"
            resolved = send_until(client, lambda: not page_state(prometheus), RECOVER_MAX_SECONDS)
            assert not page_state(prometheus), f"the page did not resolve in {resolved:.0f}s"
            time.sleep(QUIET)
            (total_after, errors_after), end = service_counts(client), time.time()
            report = run_report(prometheus_url, start, end)
            total, errors = total_after - total_before, errors_after - errors_before

    budget = float(load_spec(SPEC).slos[0].error_budget)
    availability = report["slos"][0]
    assert availability["name"] == "requests-availability"
    expected = errors / total / budget
    print(
        f"budget spent: report {availability['budget_spent']:.4f} ({availability['errors']:.1f} errors in "
        f"{availability['requests']:.1f} requests), service counters {expected:.4f} ({errors:.0f} in {total:.0f})"
    )
    assert abs(availability["budget_spent"] - expected) <= 0.01 * expected
    # Prometheus extrapolates both counters to the window's ends (up to a scrape interval each: here 2 s of ~60 s,
    # the same factor for both, so the ratio keeps): the counts are close, the budget spent exact.
    assert abs(availability["requests"] - total) <= 0.05 * total
    # Each incident once: the drill's page is one incident, and no alert's incidents overlap (the series that
    # differ only by sloth_window are one incident). A ticket may truly resolve and fire again as the faults
    # clear (windows shrunk 60x): two incidents one after the other, not a duplicate.
    slo_incidents = [i for i in report["incidents"] if i["slo"]]
    per_alert: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for incident in slo_incidents:
        per_alert.setdefault((incident["alertname"], incident["slo"], incident["severity"]), []).append(incident)
    for spells in per_alert.values():
        spells.sort(key=lambda i: parse_time(i["start"]))
        for before, after in itertools.pairwise(spells):
            assert before["end"] is not None and parse_time(before["end"]) <= parse_time(after["start"]), spells
    (page,) = [i for i in slo_incidents if i["slo"] == "requests-availability" and i["severity"].endswith("page")]
    assert page["end"] is not None and page["seconds"] > 0, page
    assert availability["alert_fired"] and not report["ok"]
    # "No data" where there was no request: the quiet start, until the 5m window (5 s here) holds requests
    # (and a scrape and an evaluation later); never while requests flowed. Rules without the no-data
    # recording give None.
    if availability["no_data"] is not None:
        assert availability["no_data"], "the quiet start is no data"
        assert all(parse_time(s["end"]) <= traffic_from + 5 + 3 for s in availability["no_data"]), report
