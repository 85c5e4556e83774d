"""Where a request's CPU goes, in instructions: noise-free, unlike timings on a shared machine.

    python bench/instructions.py [--requests 500] [--variants off,metrics,...]

Counts the CPU instructions a `POST /v1/predict` costs inside the app, under valgrind's callgrind
(Debian package `valgrind`), for variants that switch one piece on at a time:
  bare      the bare FastAPI app of bench/overhead.py (c)
  off       the service, SERVICE_INSTRUMENTATION=false (b)
  metrics   the service with metrics and the request log line, no tracer
  trace0    + tracing set up, nothing sampled
  trace10   + traces sampled at 10%: (a) of bench/overhead.py
  trace100  every request sampled
The app is called in-process through ASGI (no sockets, no uvicorn: those cost every variant the
same), warmed up, then the counters are zeroed, N requests run, and the counters are dumped. The
exporter thread's encoding is mostly left out (under valgrind's slow clock the batch is sent after
the counted window): bench/overhead.py measures it with the rest. Each variant takes a few minutes
(valgrind runs Python about 50x slower); two run at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Environment of each variant (on top of a clean OTEL_* / SERVICE_* environment); the traced ones
#: export over OTLP/HTTP to a local sink (tests/otlp_sink.py), as in bench/overhead.py.
SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
VARIANTS: dict[str, dict[str, str]] = {
    "bare": {},
    "off": {"SERVICE_INSTRUMENTATION": "false"},
    "metrics": {"SERVICE_INSTRUMENTATION": "true"},
    "trace0": {**SAMPLED, "OTEL_TRACES_SAMPLER_ARG": "0"},
    "trace10": {**SAMPLED, "OTEL_TRACES_SAMPLER_ARG": "0.1"},
    "trace100": {**SAMPLED, "OTEL_TRACES_SAMPLER_ARG": "1"},
}


def _app(variant: str) -> Any:
    if variant == "bare":
        from bench.bare_app import app

        return app
    from service.app import create_app

    return create_app()


async def _request(app: Any, body: bytes) -> None:
    """One POST /v1/predict through the ASGI interface, as uvicorn would call it."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    await app(scope, receive, send)


def _callgrind(command: str) -> None:
    subprocess.run(["callgrind_control", command, str(os.getpid())], check=True, capture_output=True)


async def _child(variant: str, requests: int) -> None:
    """Inside valgrind: warm up, zero the counters, run the requests, dump the counters."""
    from contract.schemas import EXAMPLE_RECORD

    body = json.dumps(EXAMPLE_RECORD).encode()
    app = _app(variant)
    async with app.router.lifespan_context(app):
        for _ in range(300):
            await _request(app, body)
        _callgrind("--zero")
        for _ in range(requests):
            await _request(app, body)
        _callgrind("--dump=measured")


def count(variant: str, requests: int, out: Path, sink: str) -> float:
    """Instructions per request of one variant, run under callgrind in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SERVICE_"))}
    env |= VARIANTS[variant]
    if "OTEL_TRACES_SAMPLER" in env:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink
    dump = out / f"{variant}.%p"
    command = [
        "valgrind", "--tool=callgrind", "--cache-sim=no", f"--callgrind-out-file={dump}",
        sys.executable, __file__, "--child", variant, "--requests", str(requests),
    ]  # fmt: skip
    # The service's log lines and console spans go to a file: they are part of the work, not of the report.
    with open(out / f"{variant}.log", "wb") as log:
        subprocess.run(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
    (measured,) = out.glob(f"{variant}.*.1")  # the dump taken by --dump=measured
    summary = re.search(r"^summary: (\d+)$", measured.read_text(), flags=re.MULTILINE)
    if summary is None:
        raise RuntimeError(f"no summary line in {measured}")
    return int(summary.group(1)) / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="counted requests per variant (default: 500)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)} (default: all)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_child(args.child, args.requests))
        return 0
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("error: needs valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    from stack.processes import free_port, running

    print(f"POST /v1/predict in-process under callgrind, {args.requests} counted requests per variant")
    port = free_port()
    sink = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory(prefix="instructions-") as tmp,
        running(["-m", "tests.otlp_sink", "--port", str(port)], ready_url=f"{sink}/"),
        ThreadPoolExecutor(2) as pool,
    ):
        futures = {name: pool.submit(count, name, args.requests, Path(tmp), sink) for name in names}
        counts = {}
        for name, future in futures.items():
            counts[name] = future.result()
            print(f"  {name:9} {counts[name]:10,.0f} instructions/request", flush=True)
    base = counts.get("off")
    if base:
        print("relative to the uninstrumented service (off):")
        for name, value in counts.items():
            print(f"  {name:9} {value / base:5.2f}  ({value - base:+,.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
