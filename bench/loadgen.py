"""The load generator's ceiling on one core, next to Locust, against a fast loopback sink: one run.

    python bench/loadgen.py [--seconds 10] [--users 100]

Starts nginx (Debian's nginx-light; a temporary config serving a fixed JSON on a free loopback port,
pinned to the second core) and, pinned to the first core with taskset:
  1. loadgen at a rate far above what it can send: the finished requests per second are its maximum;
  2. Locust FastHttpUser at full speed (no wait time) on the same core and sink;
  3. loadgen at 80% of its own maximum: it must keep the schedule.
Goals (issue 4): loadgen max >= 1.5x Locust; at 80% of max, achieved/target >= 0.99 and schedule lag
p99 <= 2 ms. Needs `pip install -e '.[bench]'` (Locust) and nginx (apt-get install -y nginx-light).
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


def loadgen(core: str, target: str, rate: float, seconds: float, tmp: Path, name: str) -> dict:
    out = tmp / name
    cmd = ["taskset", "-c", core, sys.executable, "-m", "loadgen", "run", "--quiet", "--target", target,
           "--rate", str(rate), "--duration", f"{seconds}s", "--max-in-flight", "256", "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=seconds + 60)
    return json.loads((out / "results.json").read_text())


def locust(core: str, target: str, seconds: float, users: int, tmp: Path) -> float:
    (tmp / "locustfile.py").write_text(LOCUSTFILE.format(body=BODY))
    cmd = ["taskset", "-c", core, sys.executable, "-m", "locust", "-f", str(tmp / "locustfile.py"), "--headless",
           "-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "--host", target, "--csv",
           str(tmp / "locust"), "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    subprocess.run(cmd, cwd=tmp, check=False, timeout=seconds + 60, stdout=subprocess.DEVNULL)
    with open(tmp / "locust_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return float(row["Requests/s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run (default: %(default)s)")
    parser.add_argument("--users", type=int, default=100, help="Locust users (default: %(default)s)")
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
            saturated = loadgen(gen_core, target, 100_000, args.seconds, tmp, "max")
            peak = saturated["rps"]
            locust_rps = locust(gen_core, target, args.seconds, args.users, tmp)
            rate = round(0.8 * peak)
            held = loadgen(gen_core, target, rate, args.seconds, tmp, "at80")
        finally:
            os.killpg(sink.pid, signal.SIGTERM)
            sink.wait(10)
    achieved = held["rps"] / rate
    lag_p99 = held["lag_ms"]["p99"]
    print(f"one core for the generator (cpu {gen_core}), nginx sink on cpu {sink_core}, {args.seconds:g} s per run")
    print(f"loadgen max (open loop, rate 100000 asked): {peak:10,.0f} req/s  errors {saturated['error_rate']:.2%}")
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
