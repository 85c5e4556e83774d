"""What `instrument(app)` costs a model service of someone else's, against doing nothing and the usual libraries.

    python -m bench.instrument [--trials 4] [--rounds 3] [--seconds 4] [--connections 32] [--p99-seconds 10]

A plain FastAPI app serving the project's ONNX model (POST /predict with the nine encoded features, as the
README's examples/model_service.py), in three variants:
  (a) bare: nothing added, plain uvicorn, no access log;
  (b) ours: `instrument(app)` (metrics with exemplars, a JSON log line per request to a file, traces sampled at 10%
      exported over OTLP/HTTP to a local sink, tests/otlp_sink.py), served by `serve(app)` (our protocol), with
      shedding by time off (at capacity wrk's closed loop would have part of it shed: a 503 is not a prediction);
  (c) theirs: prometheus-fastapi-instrumentator (its default metrics and /metrics) plus OpenTelemetry's
      FastAPIInstrumentor sampling 10% (parent-based trace-id ratio) to the same sink, plain uvicorn, no access log
      (it writes no log line: the comparison favours it there).
Each server on one worker pinned to CPU 0, wrk (Debian package `wrk`) and the sink pinned to CPU 1. Throughput:
wrk with --connections for --seconds, in interleaved rounds, the order reversed every other round (a, b, c, c,
b, a, ...), so that the machine's drift favours no variant; a ratio is taken within each round and the median of
the rounds' ratios is the verdict (as bench/overhead.py, whose helpers this uses). The rounds are run in --trials,
each with three new server processes: two processes of the same variant differ by several percent here (measured;
the cause is not settled), and one process per variant would make that luck part of the verdict. Then
each variant's p99 at 5% of its own capacity (the median of its rounds), on the last trial's servers: wrk with a
few connections, each pausing between requests so that together they send that rate (at 5% of capacity a request
seldom waits for the one before it, so this is nearly an open-loop load). Goals: (b)/(a) >= 0.75 and
(b)/(c) >= 2.0 in requests per second.

    python -m bench.instrument --serve {bare,ours,theirs} --port N [--sink URL]   # one server (the bench runs these)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.overhead import Result, Target, measure, pin, round_ratio, unfit
from stack.processes import free_port, running

FEATURES = [42.0, 24.3, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]  # one record, encoded (service/features.py)
VARIANTS = {"bare": "(a) bare FastAPI", "ours": "(b) instrument(app)", "theirs": "(c) instrumentator + OTel"}
SAMPLE_RATIO = 0.1
GOALS = (("ours", "bare", 0.75), ("ours", "theirs", 2.0))
#: Load on each new server before its first measured round: after 2 s, (b)'s first round measured a few percent
#: below its later ones (measured twice; the cause is not settled).
WARM_UP_SECONDS = 6
#: The share of a variant's capacity its p99 is measured at, and the connections that send it.
LOW_LOAD_SHARE = 0.05
LOW_LOAD_CONNECTIONS = 4

POST = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""
PACED = (
    POST
    + """function delay()
   return {delay_ms}
end
"""
)


# --- the servers --------------------------------------------------------------------------------------------
def model_app(title: str) -> Any:
    """The plain FastAPI app of every variant: the project's ONNX model, one thread, behind POST /predict."""
    import numpy as np
    import onnxruntime
    from fastapi import FastAPI

    from service.model import resolve
    from service.settings import DEFAULT_MODEL_DIR

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    model = onnxruntime.InferenceSession(str(resolve(DEFAULT_MODEL_DIR) / "model.onnx"), sess_options=options)
    name = model.get_inputs()[0].name
    app = FastAPI(title=title)

    @app.post("/predict")
    async def predict(features: list[float]) -> dict[str, float]:
        (output,) = model.run(None, {name: np.array([features], dtype=np.float32)})
        return {"prediction": float(output.ravel()[0])}

    return app


def serve(variant: str, port: int, sink: str) -> None:
    """Run one variant's server on 127.0.0.1:port until it is stopped."""
    import uvicorn

    app = model_app(f"bench-{variant}")
    plain: dict[str, Any] = {"host": "127.0.0.1", "port": port, "access_log": False, "log_level": "warning"}
    if variant == "bare":
        uvicorn.run(app, **plain)
    elif variant == "ours":
        from service.instrument import InstrumentSettings, instrument
        from service.serving import serve as serve_instrumented

        # No shedding by time: wrk's closed loop at capacity keeps a queue whose tail would be shed in part, and a
        # 503 is not a served prediction. The protocol and the Gate still run (and measure every wait).
        settings = InstrumentSettings(
            port=port, otlp_endpoint=sink, trace_sample_ratio=SAMPLE_RATIO, max_queue_delay_ms=0
        )
        instrument(app, settings)
        serve_instrumented(app)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from prometheus_fastapi_instrumentator import Instrumentator

        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(SAMPLE_RATIO)))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{sink}/v1/traces")))
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
        Instrumentator().instrument(app).expose(app)
        uvicorn.run(app, **plain)


@contextmanager
def server(variant: str, tmp: Path, sink: str) -> Iterator[Target]:
    port = free_port()
    args = ["-m", "bench.instrument", "--serve", variant, "--port", str(port), "--sink", sink]
    base = f"http://127.0.0.1:{port}"
    with running(args, ready_url=f"{base}/docs", log=tmp / f"{variant}-{port}.log") as proc:
        pin(proc, "0")
        yield Target(f"{base}/predict", proc.pid)


# --- the low-load p99 ---------------------------------------------------------------------------------------
def paced_script(rate: float, connections: int = LOW_LOAD_CONNECTIONS) -> str:
    """wrk's script for `rate` requests a second over `connections`, each pausing between its requests."""
    return PACED.format(body=json.dumps(FEATURES), delay_ms=max(1, round(connections * 1000 / rate)))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def p99_ms(wrk_output: str) -> float:
    """The 99th percentile of wrk's --latency distribution, in milliseconds."""
    found = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", wrk_output, flags=re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no 99% line in wrk's output:\n{wrk_output}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def low_load_p99(target: Target, rate: float, seconds: int, tmp: Path) -> float:
    script = tmp / "paced.lua"
    script.write_text(paced_script(rate))
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{LOW_LOAD_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    out = subprocess.run([*command, "-s", str(script), target.url], check=True, capture_output=True, text=True)
    if "Non-2xx" in out.stdout or "Socket errors" in out.stdout:
        raise RuntimeError(f"errors during the low load on {target.url}:\n{out.stdout}")
    return p99_ms(out.stdout)


def low_load_p99s(targets: dict[str, Target], results: dict[str, Result], seconds: int, tmp: Path) -> dict[str, float]:
    p99 = {}
    for variant, target in targets.items():
        rate = statistics.median(results[variant].rps) * LOW_LOAD_SHARE
        p99[variant] = low_load_p99(target, rate, seconds, tmp)
        print(f"  {VARIANTS[variant]:28} p99 at {rate:6.0f} req/s: {p99[variant]:7.2f} ms", flush=True)
    return p99


# --- the verdict --------------------------------------------------------------------------------------------
def verdicts(results: dict[str, Result]) -> list[tuple[str, float, float, str]]:
    """(name, median of the rounds' ratios, goal, "met"/"MISSED") for each goal."""
    out = []
    for top, bottom, goal in GOALS:
        ratio = round_ratio(results[top], results[bottom])
        out.append((f"{top}/{bottom}", ratio, goal, "met" if ratio >= goal else "MISSED"))
    return out


#: What variant (c) imports beyond the development environment: requirements/bench.txt has them.
THEIRS = ("prometheus_fastapi_instrumentator", "opentelemetry.instrumentation.fastapi")


def missing_libraries(modules: tuple[str, ...] = THEIRS) -> str | None:
    """Why variant (c) cannot start (None: it can): checked before anything starts, not in its server's log."""
    missing = [m for m in modules if _absent(m)]
    if not missing:
        return None
    return (f"needs {', '.join(missing)} (requirements/bench.txt: .venv/bin/python -m uv pip install --python "
            ".venv/bin/python --require-hashes -r requirements/bench.txt)")  # fmt: skip


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:  # a parent package is missing
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="per throughput measurement (default: %(default)s)")
    parser.add_argument("--trials", type=int, default=4, help="sets of new server processes (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds a trial (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default: %(default)s)")
    parser.add_argument("--p99-seconds", type=int, default=10, help="per low-load p99 (default: %(default)s)")
    parser.add_argument("--serve", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.trials, args.rounds, args.seconds) < 1:
        parser.error("--trials, --rounds and --seconds must be at least 1")
    if args.serve:
        serve(args.serve, args.port, args.sink)
        return 0
    if (why := unfit() or missing_libraries()) is not None:
        print(f"error: {why}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="instrument-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        script = tmp / "post.lua"
        script.write_text(POST.format(body=json.dumps(FEATURES)))
        sink_port = free_port()
        sink = f"http://127.0.0.1:{sink_port}"
        receiver = running(["-m", "tests.otlp_sink", "--port", str(sink_port)], ready_url=f"{sink}/")
        pin(stack.enter_context(receiver), "1")
        trials = f"{args.trials} trials of {args.rounds} rounds"
        print(f"POST /predict: server on CPU 0, wrk -c{args.connections} on CPU 1, {trials}")
        results = {variant: Result([], [], []) for variant in VARIANTS}
        for trial in range(args.trials):
            with ExitStack() as servers:
                targets = {variant: servers.enter_context(server(variant, tmp, sink)) for variant in VARIANTS}
                print(f" trial {trial + 1}: new server processes", flush=True)
                for variant, result in measure(targets, args, script, "1", WARM_UP_SECONDS).items():
                    results[variant].extend(result)
                if trial == args.trials - 1:
                    p99 = low_load_p99s(targets, results, args.p99_seconds, tmp)
        log_lines = sum(1 for log in tmp.glob("ours-*.log") for line in log.open() if '"event":"request"' in line)

    print()
    print(f"{'variant':28} {'req/s (median)':>14} {'best':>8} {'CPU µs/req':>11} {'p99 at 5% (ms)':>15}")
    for variant, result in results.items():
        print(
            f"{VARIANTS[variant]:28} {statistics.median(result.rps):14.0f} {result.best_rps:8.0f} "
            f"{statistics.median(result.cpu_us):11.1f} {p99[variant]:15.2f}"
        )
    print(f"(b) wrote {log_lines} request log lines")
    print("ratios of throughput: the median of the rounds' ratios")
    for name, ratio, goal, verdict in verdicts(results):
        print(f"  {name:14} {ratio:5.2f}  goal >= {goal}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
