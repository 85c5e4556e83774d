"""The load generator's ceiling on one core, next to Locust, against a fast loopback sink: one run.

    python bench/loadgen.py [--seconds 10] [--users 100]

Starts nginx (Debian's nginx-light; a temporary config serving a fixed JSON on a free loopback port,
pinned to the second core) and, pinned to the first core with taskset:
  1. loadgen asked far more than it can send: what it finishes per second (dropping the rest) bounds
     its maximum from above;
  2. its maximum: the highest rate it sustains, found by bisection below that bound. A rate is sustained
     when at least 99% of it is achieved and at most 0.1% of the requests are dropped (open loop: a
     generator that finishes many requests while dropping most of its schedule is not holding any rate);
  3. Locust FastHttpUser at full speed (no wait time) on the same core and sink;
  4. loadgen at 80% of its maximum, for --seconds: it must keep the schedule.
Goals: loadgen max >= 1.5x Locust; at 80% of max, achieved/target >= 0.99 and schedule lag
p99 <= 2 ms. Needs Locust (`pip install -r requirements/bench.txt`) and nginx (apt-get install -y nginx-light).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = '{"charges":9154.375,"model_version":"sink"}'

NGINX_CONF = """
worker_processes 1;
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
    listen 127.0.0.1:{port};
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


def cores() -> tuple[str, str]:
    """(generator core, sink core): the first two CPUs this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    return str(allowed[0]), str(allowed[1 % len(allowed)])


def wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def loadgen(core: str, target: str, rate: float, seconds: float, tmp: Path, name: str, in_flight: int) -> dict:
    out = tmp / name
    cmd = ["taskset", "-c", core, sys.executable, "-m", "loadgen", "run", "--quiet", "--target", target, "--rate",
           str(rate), "--duration", f"{seconds}s", "--max-in-flight", str(in_flight), "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=seconds + 60)
    return json.loads((out / "results.json").read_text())


def locust(core: str, target: str, seconds: float, users: int, tmp: Path) -> float:
    (tmp / "locustfile.py").write_text(LOCUSTFILE.format(body=BODY))
    cmd = ["taskset", "-c", core, sys.executable, "-m", "locust", "-f", str(tmp / "locustfile.py"), "--headless",
           "-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "--host", target, "--csv",
           str(tmp / "locust"), "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    # Locust prints its own table: silenced.
    subprocess.run(
        cmd, cwd=tmp, check=False, timeout=seconds + 60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    with open(tmp / "locust_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return float(row["Requests/s"])


def sustains(result: dict, rate: float) -> bool:
    return result["rps"] >= 0.99 * rate and result["dropped_rate"] <= 0.001


def sustained_max(run: Callable[[float, str], dict], ceiling: float, steps: int) -> float:
    """Bisect between a quarter of the ceiling and the ceiling for the highest rate `run` sustains."""
    low, high = 0.25 * ceiling, ceiling
    for step in range(steps):
        rate = round((low + high) / 2)
        result = run(rate, f"probe{step}")
        held = sustains(result, rate)
        print(f"  probe {rate:8,} req/s: achieved {result['rps'] / rate:.4f}, dropped {result['dropped']:,}"
              f" -> {'held' if held else 'not held'}", flush=True)  # fmt: skip
        low, high = (rate, high) if held else (low, rate)
    return low


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
        "--max-in-flight", type=int, default=1000, help="loadgen's in-flight bound (default: %(default)s, as a run's)"
    )
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        print("needs nginx: apt-get install -y nginx-light", file=sys.stderr)
        return 2
    gen_core, sink_core = cores()
    port = free_port()
    target = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as d:
        tmp = Path(d)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port, body=BODY))
        sink = subprocess.Popen(
            ["taskset", "-c", sink_core, nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(port)
            saturated = loadgen(gen_core, target, 100_000, args.probe_seconds, tmp, "saturated", args.max_in_flight)
            print(f"loadgen asked 100,000 req/s finishes {saturated['rps']:,.0f} req/s; bisecting below", flush=True)
            peak = sustained_max(
                lambda r, name: loadgen(gen_core, target, r, args.probe_seconds, tmp, name, args.max_in_flight),
                saturated["rps"],
                args.steps,
            )
            locust_rps = locust(gen_core, target, args.seconds, args.users, tmp)
            rate = round(0.8 * peak)
            held = loadgen(gen_core, target, rate, args.seconds, tmp, "at80", args.max_in_flight)
        finally:
            os.killpg(sink.pid, signal.SIGTERM)
            sink.wait(10)
    achieved = held["rps"] / rate
    lag_p99 = held["lag_ms"]["p99"]
    print(f"one core for the generator (cpu {gen_core}), nginx sink on cpu {sink_core}, {args.seconds:g} s per run")
    print(f"loadgen max (highest rate sustained):      {peak:10,.0f} req/s  (finishes {saturated['rps']:,.0f} when"
          f" overloaded, errors {saturated['error_rate']:.2%})")  # fmt: skip
    print(f"locust FastHttpUser, {args.users} users:        {locust_rps:10,.0f} req/s")
    print(f"loadgen at 80% of max ({rate:,} req/s): achieved {held['rps']:,.0f} req/s, "
          f"lag p50 {held['lag_ms']['p50']:.2f} ms p99 {lag_p99:.2f} ms, "
          f"latency p99 {held['latency_ms']['p99']:.2f} ms, "
          f"dropped {held['dropped']}")  # fmt: skip
    ratio = peak / locust_rps
    goals = [
        (f"loadgen max / locust = {ratio:.2f}x", ratio >= 1.5, ">= 1.5x"),
        (f"achieved / target at 80% = {achieved:.4f}", achieved >= 0.99, ">= 0.99"),
        (f"schedule lag p99 at 80% = {lag_p99:.2f} ms", lag_p99 <= 2.0, "<= 2 ms"),
    ]
    for text, ok, goal in goals:
        print(f"{text:45} goal {goal:8} {'met' if ok else 'MISSED'}")
    return 0 if all(ok for _, ok, _ in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
