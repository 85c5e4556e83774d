"""Cost of the service's instrumentation, over real HTTP, in one run.

    python bench/overhead.py [--seconds 4] [--rounds 12] [--connections 32]

Runs, with wrk (Debian package `wrk`) as the load client, POST /v1/predict throughput of:
  (a) the service with everything on: metrics, a JSON log line per request (to a file), traces
      sampled at 10% and exported over OTLP/HTTP to a local sink (tests/otlp_sink.py);
  (b) the same service with SERVICE_INSTRUMENTATION=false;
  (c) a bare FastAPI app with a no-op POST endpoint (bench/bare_app.py);
each on one worker pinned to CPU 0 with the load client (and the sink) pinned to CPU 1, in short
interleaved rounds, the order reversed every other round (a, b, c, c, b, a, ...) so that a steady
drift of the machine's speed favours no variant. The machine's speed drifts by tens of percent from
one minute to the next, so a ratio is taken within each round (measurements seconds apart) and the
median of the rounds' ratios is the verdict; the ratio of the best rounds is printed beside it. Then
the service (everything on) with two workers vs one, unpinned: on a 2-core machine the load client
shares the cores, so the ratio cannot reach 2; its ceiling, 2 x server CPU / (server + client CPU)
per request, is printed beside it. uvicorn's access log is off in all of them (the service writes
its own line). Goals: (a)/(b) >= 0.7, (a)/(c) >= 0.5, two workers / one >= 1.7.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.schemas import EXAMPLE_RECORD
from stack.processes import free_port, running

LUA = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in a process group (the server and its workers)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state ppid pgrp ... utime(11) stime(12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def pin(proc: subprocess.Popen[bytes], cpu: str) -> None:
    """Pin a process and all of its threads (and, by inheritance, the threads it starts later)."""
    subprocess.run(["taskset", "-a", "-c", "-p", cpu, str(proc.pid)], check=True, capture_output=True)


@dataclass
class Target:
    url: str
    pgid: int


@contextmanager
def service(tmp: Path, name: str, cpu: str | None, **env: str) -> Iterator[Target]:
    port = free_port()
    settings = {"SERVICE_HOST": "127.0.0.1", "SERVICE_PORT": str(port), **env}
    base = f"http://127.0.0.1:{port}"
    with running(["-m", "service"], settings, ready_url=f"{base}/readyz", log=tmp / f"{name}.log") as proc:
        if cpu is not None:
            pin(proc, cpu)
        yield Target(f"{base}/v1/predict", proc.pid)


@contextmanager
def bare(tmp: Path, cpu: str) -> Iterator[Target]:
    port = free_port()
    args = ["-m", "uvicorn", "bench.bare_app:app", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    with running(args, ready_url=f"{base}/docs", log=tmp / "bare.log") as proc:
        pin(proc, cpu)
        yield Target(f"{base}/v1/predict", proc.pid)


@dataclass
class Result:
    rps: list[float]  # throughput, round by round
    cpu_us: list[float]  # server CPU µs per request, round by round (less noisy on a shared machine)
    client_us: list[float]  # the load client's CPU µs per request, round by round

    def extend(self, more: Result) -> None:
        """Add another run's rounds (of new server processes) to these."""
        self.rps.extend(more.rps)
        self.cpu_us.extend(more.cpu_us)
        self.client_us.extend(more.client_us)

    @property
    def best_rps(self) -> float:
        return max(self.rps)

    @property
    def best_cpu_us(self) -> float:
        return min(self.cpu_us)


def round_ratio(top: Result, bottom: Result) -> float:
    """The median over rounds of top's throughput / bottom's, measured seconds apart."""
    return statistics.median(t / b for t, b in zip(top.rps, bottom.rps, strict=True))


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(target: Target, script: Path, seconds: int, connections: int, cpu: str | None) -> tuple[float, float, float]:
    """(requests per second, server and client CPU µs per request); fails if any answer was not 2xx."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), target.url]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]  # (taskset execs wrk: the same child process)
    cpu_before, client_before = group_cpu_seconds(target.pgid), children_cpu_seconds()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    cpu_used = group_cpu_seconds(target.pgid) - cpu_before
    client_used = children_cpu_seconds() - client_before
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors during the load on {target.url}:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not rps or not total:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    requests = int(total.group(1))
    return float(rps.group(1)), cpu_used / requests * 1e6, client_used / requests * 1e6


def measure(
    targets: dict[str, Target], args: argparse.Namespace, script: Path, cpu: str | None, warm_up: int = 2
) -> dict[str, Result]:
    for target in targets.values():
        wrk(target, script, warm_up, args.connections, cpu)  # seconds of load before any is measured
    results = {name: Result([], [], []) for name in targets}
    for round_ in range(args.rounds):
        order = list(targets.items())
        for name, target in order if round_ % 2 == 0 else reversed(order):
            rps, cpu_us, client_us = wrk(target, script, args.seconds, args.connections, cpu)
            results[name].rps.append(rps)
            results[name].cpu_us.append(cpu_us)
            results[name].client_us.append(client_us)
            print(f"  round {round_ + 1:2} {name:28} {rps:9.0f} req/s {cpu_us:7.1f} CPU µs/request", flush=True)
    return results


def scaling_ceiling(one: Result) -> float:
    """What two workers / one can reach when the load client needs CPU on the same two cores."""
    server, client = statistics.median(one.cpu_us), statistics.median(one.client_us)
    return 2 * server / (server + client)


def unfit() -> str | None:
    """Why this machine cannot run a server-against-wrk bench (None: it can)."""
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        return "needs wrk and taskset (Debian: apt-get install wrk util-linux)"
    if (os.cpu_count() or 1) < 2:
        return "needs two CPUs (one for the server, one for the load client)"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="per measurement (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=12, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default: %(default)s)")
    args = parser.parse_args()
    if (why := unfit()) is not None:
        print(f"error: {why}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        script = tmp / "post.lua"
        script.write_text(LUA.format(body=json.dumps(EXAMPLE_RECORD)))
        sink_port = free_port()
        sink = stack.enter_context(
            running(["-m", "tests.otlp_sink", "--port", str(sink_port)], ready_url=f"http://127.0.0.1:{sink_port}/")
        )
        pin(sink, "1")
        # No shedding by time (as bench/instrument.py): the first burst of wrk's closed loop, before the worker has
        # learnt its time per request, would have part of it shed, and a 503 is not a prediction.
        unshed = {"SERVICE_MAX_QUEUE_DELAY_MS": "0"}
        everything = {
            **unshed,
            "SERVICE_INSTRUMENTATION": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        }
        targets = {
            "(a) everything on": stack.enter_context(service(tmp, "a", "0", **everything)),
            "(b) instrumentation off": stack.enter_context(
                service(tmp, "b", "0", **unshed, SERVICE_INSTRUMENTATION="false")
            ),
            "(c) bare FastAPI no-op": stack.enter_context(bare(tmp, "0")),
        }
        print(f"POST /v1/predict: server on CPU 0, wrk -c{args.connections} on CPU 1, {args.rounds} rounds")
        one_core = measure(targets, args, script, "1")
        log_lines = sum(1 for _ in (tmp / "a.log").open())
        stack.close()

        print("service (everything on), one worker vs two, unpinned (wrk shares the cores)")
        with ExitStack() as workers:
            scaling = {
                "one worker": workers.enter_context(service(tmp, "w1", None, **everything, SERVICE_WORKERS="1")),
                "two workers": workers.enter_context(service(tmp, "w2", None, **everything, SERVICE_WORKERS="2")),
            }
            multi = measure(scaling, args, script, None)

    a, b, c = one_core.values()
    print()
    print(f"{'variant':28} {'best req/s':>10} {'server CPU µs/req':>18}")
    for name, result in {**one_core, **multi}.items():
        print(f"{name:28} {result.best_rps:10.0f} {result.best_cpu_us:18.1f}")
    print(f"(a) wrote {log_lines} log lines")
    print("ratios of throughput: the median of the rounds' ratios [best round / best round; by server CPU]")
    goals = [
        ("(a)/(b) everything on / instrumentation off", a, b, 0.7),
        ("(a)/(c) everything on / bare FastAPI", a, c, 0.5),
        ("two workers / one worker", multi["two workers"], multi["one worker"], 1.7),
    ]
    for name, top, bottom, goal in goals:
        ratio = round_ratio(top, bottom)
        best = top.best_rps / bottom.best_rps
        # (CPU per request says nothing about scaling: two workers spend the same per request.)
        by_cpu = "" if top is multi["two workers"] else f"; {bottom.best_cpu_us / top.best_cpu_us:4.2f}"
        verdict = "met" if ratio >= goal else "MISSED"
        print(f"{name:46} {ratio:5.2f} [{best:4.2f}{by_cpu}]  goal >= {goal}: {verdict}")
    one = multi["one worker"]
    print(
        f"(wrk spends {statistics.median(one.client_us):.0f} µs of CPU a request, the server "
        f"{statistics.median(one.cpu_us):.0f}: two workers can reach {scaling_ceiling(one):.2f} of one on two cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
