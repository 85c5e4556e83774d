"""The load generator against real processes on loopback: the real service, and tiny aiohttp servers
started here for what the service cannot do on demand (stall, answer slowly)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from contract.schemas import InsuranceRecord
from loadgen import thresholds
from loadgen.payloads import BREAKERS, ROUTES, Payloads, invalid_record, sample_records
from loadgen.recorder import FastHdr, hdr, percentiles
from loadgen.scenario import load
from loadgen.schedule import Arrivals, Constant, Stages, parse_duration
from tests import processes

CONTRACT_METRICS = {
    "loadgen_request_duration_seconds": {"route"},
    "loadgen_requests": {"route", "outcome"},
    "loadgen_scheduled": set(),
    "loadgen_sent": set(),
    "loadgen_dropped": set(),
    "loadgen_in_flight": set(),
    "loadgen_target_requests_per_second": set(),
}


def loadgen_run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen", "run", "--quiet", *args],
        cwd=processes.ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels -> value} (histograms: only their _count samples)."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for s in family.samples:
            if family.type == "histogram" and not s.name.endswith("_count"):
                continue
            out.setdefault(family.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def total(metrics: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    return sum(v for k, v in metrics.get(name, {}).items() if set(labels.items()) <= set(k))


@contextmanager
def tiny_server(handler: web.RequestHandler) -> Iterator[tuple[str, dict[str, int]]]:  # type: ignore[type-arg]
    """An aiohttp server on a free port in a thread; yields its URL and its request counters."""
    port = processes.free_port()
    counts = {"started": 0, "finished": 0}
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def counted(request: web.Request) -> web.StreamResponse:
        counts["started"] += 1
        response = await handler(request)
        counts["finished"] += 1
        return response

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", counted)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        holder.append(loop.run_until_complete(start()))
        ready.set()
        loop.run_forever()

    holder: list[web.AppRunner] = []
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}", counts
    finally:
        asyncio.run_coroutine_threadsafe(holder[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# --- building blocks ------------------------------------------------------------------------------------


def test_stages_follow_the_originals_shape() -> None:
    scenario = load("original")
    assert isinstance(scenario.profile, Stages)
    assert [scenario.profile.rate(t) for t in (0, 29, 90, 200, 295)] == pytest.approx([1, 1, 5, 5, 1], abs=0.2)
    arrivals = Arrivals(scenario.profile, "constant")
    times = []
    while (t := arrivals.next()) != float("inf"):
        times.append(t)
    # area under the curve: 30*1 + 60*3 + 120*5 + 60*3 + 30*1 = 1020 requests
    assert len(times) == pytest.approx(1020, abs=2)
    assert parse_duration("1h30m") == 5400 and parse_duration("250ms") == 0.25


def _arrivals_before(arrivals: Arrivals, horizon: float) -> int:
    n = 0
    while arrivals.next() < horizon:
        n += 1
    return n


def test_replicas_split_the_rate() -> None:
    for process in ("constant", "poisson"):
        whole = Arrivals(Constant(rate=100), process, seed=1)
        half = Arrivals(Constant(rate=100), process, seed=1, scale=1 / 2)
        assert _arrivals_before(whole, 60) == pytest.approx(6000, rel=0.05)
        assert _arrivals_before(half, 60) == pytest.approx(3000, rel=0.05)
        assert half.rate(0) == 50


def test_payloads_follow_the_data_and_each_invalid_one_breaks_one_rule() -> None:
    import random

    records = sample_records(2000, random.Random(1))
    assert len({json.dumps(r, sort_keys=True) for r in records}) > 1500  # not one row repeated
    assert all(15 <= r["bmi"] <= 50 for r in records)
    smokers = sum(r["smoker"] for r in records) / len(records)
    assert 0.16 < smokers < 0.25  # the data set has 20.5% smokers
    rng = random.Random(2)
    for breaker in BREAKERS:
        with pytest.raises(ValidationError) as exc:
            InsuranceRecord.model_validate(breaker(records[0], rng))
        assert exc.value.error_count() == 1
    assert invalid_record(records[0], rng) != records[0]
    deck = Payloads({"single": 8, "batch": 1, "original": 1}, invalid_fraction=0.1, seed=3).deck
    assert sum(r.invalid for r in deck) == round(0.1 * len(deck))
    assert {r.route for r in deck} == set(ROUTES.values())


def test_fast_recording_matches_hdrhistogram() -> None:
    import random

    rng = random.Random(4)
    values = [int(rng.lognormvariate(8, 2)) + 1 for _ in range(20000)] + [1, 5, 2047, 2048, 3_600_000_000]
    fast, reference = FastHdr(), hdr()
    for v in values:
        fast.record(v)
        reference.record_value(v)
    mine = fast.sync()
    assert list(mine.counts) == list(reference.counts)
    ps = [0, 1, 50, 90, 99, 99.9, 100]
    assert percentiles(mine, ps) == [reference.get_value_at_percentile(p) for p in ps]
    assert (mine.get_min_value(), mine.get_max_value()) == (reference.get_min_value(), reference.get_max_value())
    fast.reset()
    assert not any(fast.sync().counts) and percentiles(fast.sync(), [50]) == [0]
    fast.record(7)
    assert percentiles(fast.sync(), [0, 100]) == [7, 7] and fast.sync().get_total_count() == 1


def test_threshold_syntax() -> None:
    t = thresholds.parse("p(99.9) < 1.5s")
    assert (t.percentile, t.op, t.value) == (99.9, "<", 1500.0)
    assert thresholds.parse("avg<=20").value == 20.0  # bare latency numbers are milliseconds, as in k6
    assert thresholds.parse("error_rate<0.001").check({"error_rate": 0.0005}, lambda p: 0) == (True, 0.0005)
    for bad in ("p(99)<", "latency<1", "rps>5ms", "p(101)<1"):
        with pytest.raises(ValueError):
            thresholds.parse(bad)


# --- against the real service ---------------------------------------------------------------------------


def test_run_holds_the_rate_with_about_10_percent_422s_and_passes(service_url: str, tmp_path: Path) -> None:
    r = loadgen_run(
        "--target", service_url, "--rate", "50", "--duration", "10s", "--invalid-fraction", "0.1",
        "--routes", "single=8,batch=1,original=1", "--seed", "7", "--out", str(tmp_path),
        "--threshold", "error_rate<0.01", "--threshold", "rps>45", "--threshold", "p(99)<5s",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["scheduled"] == 500 and doc["dropped"] == 0
    assert doc["completed"] / 10.0 == pytest.approx(50, rel=0.02)  # achieved rate within 2% over 10 s
    assert doc["rps"] == pytest.approx(50, rel=0.02)
    assert set(doc["outcomes"]) == {"200", "422"}
    assert doc["outcomes"]["422"] / doc["completed"] == pytest.approx(0.10, abs=0.03)
    assert doc["error_rate"] == 0 and doc["passed"] is True
    assert set(doc["routes"]) == set(ROUTES.values())
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 3  # latency percentiles, throughput, outcomes
    assert not re.search(r"<script|<link|src=|href=", html)  # self-contained: nothing fetched
    assert (tmp_path / "results.csv").read_text().splitlines()[0].startswith("t,target_rps,")
    series = doc["series"]  # one point per second of the schedule (not of the connection warm-up before it)
    assert series[0]["t"] == pytest.approx(1.0, abs=0.2) and series[0]["sent"] == pytest.approx(50, abs=3)


def test_failed_threshold_and_bad_threshold_exit_codes(service_url: str) -> None:
    failed = loadgen_run("--target", service_url, "--rate", "20", "--requests", "20", "--threshold", "p(50)<1us")
    assert failed.returncode == 99, failed.stderr
    assert "FAIL" in failed.stdout or failed.stdout == ""
    bad = loadgen_run("--target", service_url, "--rate", "20", "--requests", "5", "--threshold", "p99<1ms")
    assert bad.returncode == 2 and "bad threshold" in bad.stderr


def test_slo_flag_takes_the_thresholds_of_the_spec(service_url: str, tmp_path: Path) -> None:
    spec = processes.ROOT / "prometheus" / "slo.yaml"
    r = loadgen_run(
        "--target", service_url, "--rate", "20", "--requests", "40", "--slo", str(spec), "--out", str(tmp_path)
    )
    assert r.returncode == 0, r.stderr + r.stdout
    checked = {t["threshold"] for t in json.loads((tmp_path / "results.json").read_text())["thresholds"]}
    assert checked == {"error_rate<0.001", "p(90)<500ms", "p(99)<100ms"}
    missing = loadgen_run("--target", service_url, "--requests", "1", "--slo", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr


def test_daemon_survives_a_target_restart_and_serves_the_contract_metrics(tmp_path: Path) -> None:
    port, metrics_port = processes.free_port(), processes.free_port()
    base, metrics_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    service_env = {"SERVICE_HOST": "127.0.0.1", "SERVICE_PORT": str(port)}
    env = {"LOADGEN_TARGET": base, "LOADGEN_METRICS_PORT": str(metrics_port), "LOADGEN_RATE": "20",
           "LOADGEN_INVALID_FRACTION": "0"}  # fmt: skip
    ready = f"http://127.0.0.1:{metrics_port}/healthz"
    with processes.running(["-m", "loadgen", "daemon"], env, ready_url=ready, log=tmp_path / "daemon.log") as daemon:
        with processes.service_process(service_env, base, tmp_path / "service1.log"):
            time.sleep(2)
            up = scrape(metrics_url)
        for name, labels in CONTRACT_METRICS.items():
            assert name in up, name
            assert all(set(dict(k)) == labels for k in up[name]), (name, up[name])
        assert total(up, "loadgen_requests", outcome="200") > 0
        assert total(up, "loadgen_target_requests_per_second") == 20

        # The target is gone: errors are counted by kind and the schedule goes on.
        before, t_before = scrape(metrics_url), time.monotonic()
        time.sleep(2)
        down, t_down = scrape(metrics_url), time.monotonic()
        assert total(down, "loadgen_requests", outcome="connect") > total(before, "loadgen_requests", outcome="connect")
        expected = 20 * (t_down - t_before)  # Poisson arrivals at 20/s
        assert 0.6 * expected <= total(down, "loadgen_scheduled") - total(before, "loadgen_scheduled") <= 1.4 * expected
        ok_while_down = total(down, "loadgen_requests", outcome="200")

        # The target is back on the same port: traffic resumes by itself.
        with processes.service_process(service_env, base, tmp_path / "service2.log"):
            time.sleep(2)
            back = scrape(metrics_url)
        assert total(back, "loadgen_requests", outcome="200") - ok_while_down >= 20
        assert daemon.poll() is None
    assert daemon.returncode == 0


def test_sigterm_drains_the_requests_in_flight(tmp_path: Path) -> None:
    async def slow(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(1.0)
        return web.json_response({"charges": 1.0, "model_version": "slow"})

    metrics_port = processes.free_port()
    with tiny_server(slow) as (url, counts):
        env = {"LOADGEN_TARGET": url, "LOADGEN_METRICS_PORT": str(metrics_port), "LOADGEN_RATE": "20"}
        ready = f"http://127.0.0.1:{metrics_port}/healthz"
        with processes.running(["-m", "loadgen", "daemon"], env, ready_url=ready, log=tmp_path / "d.log") as daemon:
            time.sleep(1.5)
            assert counts["started"] - counts["finished"] >= 5  # about 20 requests are in flight
            assert processes.stop(daemon) == 0
        assert counts["started"] == counts["finished"] > 0
    log = (tmp_path / "d.log").read_text()
    m = re.search(r"stopped: scheduled=\d+ sent=(\d+) dropped=0 finished=(\d+); all in-flight requests finished", log)
    assert m and m[1] == m[2] and int(m[1]) == counts["started"], log


def test_latency_counts_from_the_schedule_so_a_stall_shows_in_p99(tmp_path: Path) -> None:
    """Coordinated omission: a server that stalls 1 s in every 5 s, at 50 req/s, must show p99 >= 0.9 s."""
    t0 = time.monotonic()

    async def stalling(request: web.Request) -> web.Response:
        await request.read()
        phase = (time.monotonic() - t0) % 5.0
        if phase >= 4.0:
            await asyncio.sleep(5.0 - phase)
        return web.json_response({"charges": 1.0, "model_version": "stall"})

    with tiny_server(stalling) as (url, _):
        r = loadgen_run("--target", url, "--rate", "50", "--duration", "10s", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["dropped"] == 0 and doc["outcomes"] == {"200": 500}
    assert doc["latency_ms"]["p99"] >= 900
    assert doc["latency_ms"]["p50"] < 100  # most requests are fast: only the stall is slow
