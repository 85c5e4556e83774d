"""The load generator's ceiling next to hey and Locust against a fast loopback sink (nginx): one run.

    python bench/loadgen.py [--seconds 10] [--probe-seconds 4] [--steps 6] [--users 100] [--connections 100]

Part 1, one core for the generator (taskset), nginx (one worker process, fixed JSON) on the other:
  1. loadgen --workers 1 asked far more than it can send: what it finishes per second bounds its maximum;
  2. its sustained maximum, found by bisection below that bound (--probe-seconds runs) and confirmed by a run
     of --seconds (stepping down 5% until one holds, at most 3 tries): a rate is sustained when at least 99% of
     it is achieved and at most 0.1% of the schedule is dropped (open loop: a generator that finishes many
     requests while dropping most of its schedule is not holding any rate);
  3. hey (Debian's, closed loop: it never drops) with GOMAXPROCS=1 and Locust FastHttpUser (no wait time),
     each on the same core against the same sink: their completed rates;
  4. loadgen at 80% of its maximum for --seconds: schedule lag p99.
Part 2, generator and sink sharing both cores (this machine has two; nginx with two worker processes, each
with its own listening socket (`reuseport`) so the kernel deals connections evenly between them):
  5. the sustained maximum of --workers 1 and of --workers 2 (bisected and confirmed as in 2), and hey with
     GOMAXPROCS=2, on the same cores and sink.
Goals (printed with the ratios): one worker >= 0.75 of hey's rate on one core and >= 1.5x Locust's;
--workers 2 above --workers 1 on both cores and >= 0.75 of hey's with GOMAXPROCS=2; schedule lag p99 <= 2 ms
at 80% of the maximum. Needs Locust (`.venv/bin/pip install -r requirements/bench.txt`), nginx and hey
(apt-get install -y nginx-light hey).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = '{"charges":9154.375,"model_version":"sink"}'

NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port} reuseport;
    location / {{ default_type application/json; return 200 '{body}'; }}
  }}
}}
"""

LOCUSTFILE = """
from locust import FastHttpUser, constant, task

BODY = {body!r}


class Sink(FastHttpUser):
    wait_time = constant(0)

    @task
    def predict(self):
        self.client.post("/v1/predict", data=BODY, headers={{"Content-Type": "application/json"}})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cores() -> tuple[str, str, str]:
    """(generator core, sink core, every core): from the CPUs this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    return str(allowed[0]), str(allowed[1 % len(allowed)]), ",".join(map(str, allowed))


def wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


@contextlib.contextmanager
def nginx(tmp: Path, cpus: str, workers: int) -> Iterator[str]:
    """nginx serving BODY on a free loopback port with `workers` worker processes on `cpus`; yields its URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = tmp / f"nginx-{workers}.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, body=BODY, workers=workers))
    sink = subprocess.Popen([*taskset(cpus), binary, "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        wait_for(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(sink.pid, signal.SIGTERM)
        sink.wait(10)


def taskset(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus]


def loadgen(cpus: str, target: str, tmp: Path, bounds: tuple[int, int], workers: int, rate: float, seconds: float,
            name: str) -> dict:  # fmt: skip
    """One `loadgen run`; `bounds`: (in-flight bound, connection bound)."""
    in_flight, connections = bounds
    out = tmp / name
    cmd = [*taskset(cpus), sys.executable, "-m", "loadgen", "run", "--quiet", "--target", target, "--rate", str(rate),
           "--duration", f"{seconds}s", "--max-in-flight", str(in_flight), "--max-connections", str(connections),
           "--workers", str(workers), "--threshold", "dropped_rate<=1", "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=seconds + 120)
    return json.loads((out / "results.json").read_text())


def hey(cpus: str, procs: int, target: str, seconds: float, connections: int) -> float:
    """hey's completed rate (closed loop, `connections` at a time), GOMAXPROCS=`procs`, on `cpus`."""
    cmd = [*taskset(cpus), "hey", "-z", f"{seconds:g}s", "-c", str(connections), "-m", "POST", "-T",
           "application/json", "-d", BODY, target + "/v1/predict"]  # fmt: skip
    env = os.environ | {"GOMAXPROCS": str(procs)}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60, env=env).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no Requests/sec in hey's output:\n{out}")
    return float(match[1])


def locust(cpus: str, target: str, seconds: float, users: int, tmp: Path) -> float:
    (tmp / "locustfile.py").write_text(LOCUSTFILE.format(body=BODY))
    cmd = [*taskset(cpus), sys.executable, "-m", "locust", "-f", str(tmp / "locustfile.py"), "--headless",
           "-u", str(users), "-r", str(users), "-t", f"{max(1, round(seconds))}s", "--host", target, "--csv",
           str(tmp / "locust"), "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    # Locust prints its own table: silenced.
    subprocess.run(
        cmd, cwd=tmp, check=False, timeout=seconds + 60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    with open(tmp / "locust_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return float(row["Requests/s"])


#: Runs of --seconds that confirm a bisected maximum (each 5% below the last that did not hold).
CONFIRMATIONS = 3


def ratio(a: float, b: float) -> float:
    """a / b, NaN (a missed goal) when b measured nothing."""
    return a / b if b else math.nan


def sustains(result: dict, rate: float) -> bool:
    return result["rps"] >= 0.99 * rate and result["dropped_rate"] <= 0.001


Run = Callable[[float, float, str], dict]  # (rate, seconds, name) -> results.json


def probe(run: Run, rate: float, seconds: float, name: str, what: str) -> bool:
    result = run(rate, seconds, name)
    held = sustains(result, rate)
    print(f"  {what} {rate:8,.0f} req/s for {seconds:g} s: achieved {result['rps'] / rate:.4f}, dropped "
          f"{result['dropped']:,}, lag p99 {result['lag_ms']['p99']:.2f} ms -> {'held' if held else 'not held'}",
          flush=True)  # fmt: skip
    return held


def sustained_max(run: Run, name: str, steps: int, probe_seconds: float, seconds: float) -> tuple[float, dict]:
    """(the highest rate `run` sustains, the overloaded run): bisect with `probe_seconds` runs between a quarter
    of what it finishes when asked 100,000 req/s and that, then confirm the result with a run as long as the
    ones that count (`seconds`), stepping down 5% at a time until one holds.

    A short probe can hold a rate a longer run does not: a stall of the machine or the generator is the more
    likely the longer the run. The 80% run is `seconds` long, so its maximum is confirmed at that length."""
    saturated = run(100_000, probe_seconds, f"{name}-saturated")
    print(f"{name}: asked 100,000 req/s, finishes {saturated['rps']:,.0f} req/s; bisecting below", flush=True)
    low, high = 0.25 * saturated["rps"], saturated["rps"]
    for step in range(steps):
        rate = round((low + high) / 2)
        held = probe(run, rate, probe_seconds, f"{name}-probe{step}", "probe")
        low, high = (rate, high) if held else (low, rate)
    rate = round(low)
    for attempt in range(CONFIRMATIONS):
        if probe(run, rate, seconds, f"{name}-confirm{attempt}", "confirm"):
            return rate, saturated
        rate = round(rate * 0.95)
    print(f"  {name}: no rate confirmed in {CONFIRMATIONS} tries; reading {rate:,} req/s, unconfirmed", flush=True)
    return rate, saturated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="length of the runs that count (default: %(default)s)"
    )
    parser.add_argument(
        "--probe-seconds", type=float, default=4.0, help="length of each bisection step (default: %(default)s)"
    )
    parser.add_argument("--steps", type=int, default=6, help="bisection steps (default: %(default)s)")
    parser.add_argument("--users", type=int, default=100, help="Locust users (default: %(default)s)")
    parser.add_argument(
        "--connections", type=int, default=100, help="hey's connections and loadgen's --max-connections (%(default)s)"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=1000, help="loadgen's in-flight bound (default: %(default)s, as a run's)"
    )
    args = parser.parse_args()
    missing = [tool for tool in ("nginx", "hey") if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists())]
    if missing:
        print(f"needs {' and '.join(missing)}: apt-get install -y nginx-light hey", file=sys.stderr)
        return 2
    gen, sink, both = cores()
    # The generator keeps as many connections as hey does: the same pool against the same sink.
    steps, flight, seconds = args.steps, (args.max_in_flight, args.connections), args.seconds
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as d:
        tmp = Path(d)
        with nginx(tmp, sink, 1) as target:  # part 1: one core each
            run = functools.partial(loadgen, gen, target, tmp, flight, 1)
            one, saturated = sustained_max(run, "1 core, --workers 1", steps, args.probe_seconds, seconds)
            hey_one = hey(gen, 1, target, args.seconds, args.connections)
            locust_rps = locust(gen, target, args.seconds, args.users, tmp)
            rate = round(0.8 * one)
            held = run(rate, seconds, "at80")
        with nginx(tmp, both, len(both.split(","))) as target:  # part 2: generator and sink share every core
            shared: dict[int, float] = {}
            for w in (1, 2):
                run = functools.partial(loadgen, both, target, tmp, flight, w)
                shared[w] = sustained_max(run, f"cores {both}, --workers {w}", steps, args.probe_seconds, seconds)[0]
            hey_both = hey(both, len(both.split(",")), target, args.seconds, args.connections)
    lag_p99 = held["lag_ms"]["p99"]
    print(f"\npart 1: generator on cpu {gen}, nginx (1 worker) on cpu {sink}; part 2: both on cpus {both}")
    print(f"loadgen --workers 1, sustained max:          {one:10,.0f} req/s  (finishes {saturated['rps']:,.0f} "
          f"when overloaded, errors {saturated['error_rate']:.2%})")  # fmt: skip
    print(f"hey GOMAXPROCS=1, {args.connections} connections, completed: {hey_one:10,.0f} req/s")
    print(f"locust FastHttpUser, {args.users} users, completed:  {locust_rps:10,.0f} req/s")
    print(f"loadgen at 80% of max ({rate:,} req/s): achieved {held['rps']:,.0f} req/s, lag p50 "
          f"{held['lag_ms']['p50']:.2f} ms p99 {lag_p99:.2f} ms, dropped {held['dropped']}")  # fmt: skip
    print(f"shared cores: --workers 1 {shared[1]:,.0f} req/s, --workers 2 {shared[2]:,.0f} req/s, "
          f"hey GOMAXPROCS={len(both.split(','))} {hey_both:,.0f} req/s")  # fmt: skip
    hey_ratio, locust_ratio = ratio(one, hey_one), ratio(one, locust_rps)
    workers_ratio, shared_ratio = ratio(shared[2], shared[1]), ratio(shared[2], hey_both)
    goals = [
        (f"1 core: loadgen / hey = {hey_ratio:.2f}", hey_ratio >= 0.75, ">= 0.75"),
        (f"1 core: loadgen / locust = {locust_ratio:.2f}x", locust_ratio >= 1.5, ">= 1.5x"),
        (f"at 80%: achieved / target = {held['rps'] / rate:.4f}", held["rps"] / rate >= 0.99, ">= 0.99"),
        (f"at 80%: schedule lag p99 = {lag_p99:.2f} ms", lag_p99 <= 2.0, "<= 2 ms"),
        (f"shared: --workers 2 / --workers 1 = {workers_ratio:.2f}", workers_ratio > 1, "> 1"),
        (f"shared: --workers 2 / hey = {shared_ratio:.2f}", shared_ratio >= 0.75, ">= 0.75"),
    ]
    for text, ok, goal in goals:
        print(f"{text:45} goal {goal:8} {'met' if ok else 'MISSED'}")
    return 0 if all(ok for _, ok, _ in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
