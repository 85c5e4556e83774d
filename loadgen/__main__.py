"""python -m loadgen run | daemon: the command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from common.durations import parse_duration
from loadgen import runner, thresholds, workers
from loadgen.schedule import Profile
from loadgen.settings import LoadgenSettings, check_target

EPILOG_RUN = """
profiles (pick one; default: --rate 10):
  --rate 50                      constant 50 req/s
  --ramp 1:100                   linear from 1 to 100 req/s over the run's duration
  --stages 30s:1,1m:5,30s:1      k6-style stages: ramp to each target over each duration
  --sine 10:8:24h                mean 10, amplitude 8, period 24 h
  --spike 10:100:1m:30s          10 req/s, 100 req/s for 30 s from 1 min

workload (what to send; see the README's "Workloads"): a scenario's `workload:` or --workload FILE lists the
  requests: method, path, headers (${ENV_VAR} from the environment), a body source (a JSONL file, a CSV file and
  a template, or a generator `module:callable`), a weight and the check an answer must pass (status, default 2xx;
  optionally a JSON field). Without either: `insurance-predict`, this project's service, POST /v1/predict
  (`--workload insurance`: /v1/predict 8, /v1/predict/batch 1, the original route 1; loadgen/workloads/).
  The request's name (its path unless named) is the `route` label of the results.
  --routes /v1/predict=1          only single predictions (the mix by request name; others are not sent)
  --invalid-fraction 0.01         = --option invalid_fraction=0.01: the insurance generator's invalid share
  --batch-size 16                 = --option batch_size=16: records per batch request

thresholds (k6 syntax, repeatable, also from a scenario file's `thresholds:`): p(99)<100ms  p(90)<500ms
  avg<50ms  max<2s  error_rate<0.001  failed_rate==0  rps>5  max(rps)>=5  min(rps)>1  max(p(99))<200ms
  dropped_rate==0  requests>=1000. A bare latency number is milliseconds.
  Latency reads the requests that did not fail (a refused connection is not a fast answer).
  error_rate = (transport errors + 5xx + failed checks) / finished requests; 4xx (the deliberate invalid share)
  are not errors. failed_rate = (transport errors + failed checks + every status >= 400) / finished requests
  (Locust's and k6's failure). A failed check (outcome `check`): an answer under 400 with a status the check does
  not expect, or without its JSON field.
  max(rps) / min(rps): the busiest / quietest whole second; max(p(99)): the worst second's p99.
  Unless a threshold on dropped_rate is given, dropped_rate<=0.01 applies: more than 1% dropped fails.

exit codes:
  0    the run finished and every threshold passed
  1    unexpected error
  2    bad flags, scenario file, threshold or target (nothing was sent)
  99   the run finished and at least one threshold failed
  105  stopped early by SIGINT/SIGTERM (results still written, marked interrupted)
  130  a second SIGINT/SIGTERM: quit at once, nothing written

examples:
  python -m loadgen run --rate 50 --duration 30s --threshold 'p(99)<100ms' --threshold 'error_rate<0.001'
  python -m loadgen run --scenario original --out results/
  API_TOKEN=... python -m loadgen run --target http://127.0.0.1:9000 --workload my-workload.yaml --rate 20
"""

EPILOG_DAEMON = """
settings come from the environment (LOADGEN_TARGET, LOADGEN_METRICS_PORT, LOADGEN_SCENARIO, LOADGEN_RATE, ...;
see the README). SIGTERM or SIGINT drains the requests in flight and exits 0.
"""


def _numbers(text: str, n: int, flag: str) -> list[str]:
    parts = text.split(":")
    if len(parts) != n:
        raise ValueError(f"{flag} takes {n} values separated by ':' (got {text!r})")
    return parts


def _routes(text: str) -> dict[str, float]:
    routes = {}
    for item in text.split(","):
        name, equals, weight = item.rpartition("=")  # (a name may hold '=', a weight does not)
        if not equals or not name.strip():
            raise ValueError(f"--routes takes NAME=WEIGHT pairs separated by ',' (got {item!r})")
        try:
            routes[name.strip()] = float(weight)
        except ValueError:
            raise ValueError(f"--routes: weight {weight!r} of {name.strip()!r} is not a number") from None
    return routes


def _option(text: str) -> tuple[str, Any]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise ValueError(f"--option takes NAME=VALUE (got {text!r})")
    try:
        return name.strip(), yaml.safe_load(value)  # a number is a number, `true` a boolean, [1, 2] a list
    except yaml.YAMLError as exc:
        raise ValueError(f"--option {name.strip()}: value {value!r} is not YAML: {exc}") from None


def profile_from_flags(args: argparse.Namespace, duration: float | None) -> dict[str, Any] | None:
    if args.rate is not None:
        return {"kind": "constant", "rate": args.rate}
    if args.ramp:
        start, end = _numbers(args.ramp, 2, "--ramp")
        return {"kind": "ramp", "start": start, "end": end, "over": duration or 30.0}
    if args.stages:
        stages = [
            dict(zip(("duration", "target"), _numbers(s, 2, "--stages"), strict=True)) for s in args.stages.split(",")
        ]
        return {"kind": "stages", "stages": stages}
    if args.sine:
        mean, amplitude, period = _numbers(args.sine, 3, "--sine")
        return {"kind": "sine", "mean": mean, "amplitude": amplitude, "period": period}
    if args.spike:
        base, peak, at, length = _numbers(args.spike, 4, "--spike")
        return {"kind": "spike", "base": base, "peak": peak, "at": at, "length": length}
    return None


def build_scenario(args: argparse.Namespace) -> runner.Scenario:
    from loadgen.scenario import Scenario, load
    from loadgen.workload import inline, reweigh, set_option

    doc: dict[str, Any] = load(args.scenario).model_dump(by_alias=True) if args.scenario else {}
    duration = parse_duration(args.duration) if args.duration else None
    profile = profile_from_flags(args, duration)
    if profile is not None:
        doc["profile"] = TypeAdapter(Profile).validate_python(profile).model_dump(by_alias=True)
    doc.setdefault("profile", {"kind": "constant", "rate": 10.0})
    if args.workload:
        doc["workload"] = inline(args.workload, Path.cwd())
    overrides = {
        "duration": args.duration, "requests": args.requests, "arrivals": args.arrivals,
        "max_in_flight": args.max_in_flight, "max_connections": args.max_connections, "timeout": args.timeout,
        "idle_timeout": args.idle_timeout, "seed": args.seed,
    }  # fmt: skip
    doc.update({k: v for k, v in overrides.items() if v is not None})
    scenario = Scenario.model_validate(doc)
    requests = scenario.workload
    if args.routes:
        requests = reweigh(requests, _routes(args.routes))
    options = [_option(text) for text in args.option]
    if args.invalid_fraction is not None:
        options.append(("invalid_fraction", args.invalid_fraction))
    if args.batch_size is not None:
        options.append(("batch_size", args.batch_size))
    for name, value in options:
        requests = set_option(requests, name, value)
    return scenario.model_copy(update={"workload": requests})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadgen",
        description="Open-loop synthetic load for the prediction service: a bounded load test (run) or steady "
        "traffic with its own /metrics (daemon). Latency counts from each request's scheduled start.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="one bounded load test with a closing table, thresholds and reports",
        description="Run one bounded load test (30 s by default) and report it.",
        epilog=EPILOG_RUN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--target", help="base URL of the service (default: LOADGEN_TARGET or http://127.0.0.1:8000)")
    run.add_argument("--scenario", help="scenario YAML file, or a name from loadgen/scenarios/ (steady, original, ...)")
    shape = run.add_mutually_exclusive_group()
    shape.add_argument("--rate", type=float, help="constant rate, requests per second")
    shape.add_argument("--ramp", metavar="FROM:TO", help="linear ramp over the duration")
    shape.add_argument("--stages", metavar="DUR:RATE,...", help="k6-style stages")
    shape.add_argument("--sine", metavar="MEAN:AMPLITUDE:PERIOD", help="sinusoidal rate")
    shape.add_argument("--spike", metavar="BASE:PEAK:AT:LENGTH", help="a spike on a base rate")
    run.add_argument("--duration", help="stop scheduling after this long (10s, 5m, 1h); default 30s")
    run.add_argument("--requests", type=int, help="stop after scheduling this many requests")
    run.add_argument("--arrivals", choices=["constant", "poisson"], help="evenly spaced (default) or Poisson")
    run.add_argument(
        "--workload", metavar="FILE",
        help="the requests to send: a workload YAML file, or a name in loadgen/workloads/ (default: the scenario's; "
        "without a scenario, `insurance-predict`: this project's service, single predictions)",
    )  # fmt: skip
    run.add_argument(
        "--routes", metavar="NAME=WEIGHT,...",
        help="the workload's mix by request name (its path unless named), e.g. "
        "/v1/predict=8,/v1/predict/batch=1; requests not named are not sent (this project's routes, once "
        "single, batch and original, are named by their paths)",
    )  # fmt: skip
    run.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE",
        help="set option NAME of every body generator that has it (repeatable; VALUE read as YAML)",
    )  # fmt: skip
    run.add_argument(
        "--batch-size", type=int, metavar="N", help="= --option batch_size=N (insurance: records per batch request)"
    )
    run.add_argument(
        "--invalid-fraction", type=float, metavar="X",
        help="= --option invalid_fraction=X (insurance: share of requests with one invalid record)",
    )  # fmt: skip
    run.add_argument("--max-in-flight", type=int, help="in-flight bound; requests due above it are dropped (1000)")
    run.add_argument(
        "--max-connections",
        type=int,
        help="bound on open connections, as a load balancer's pool: a request finding none free waits for one, "
        "the wait counted in its latency and timeout (default: none, a connection for each request that finds "
        "none idle)",
    )
    run.add_argument("--timeout", help="per-request timeout (default 10s)")
    run.add_argument(
        "--idle-timeout",
        help="longest reuse of an idle connection (default 1s; less if the server's "
        "Keep-Alive: timeout=N says so): retired before a short server keep-alive closes it",
    )
    run.add_argument("--seed", type=int, help="random seed for the deck of requests and Poisson arrivals")
    run.add_argument("--threshold", action="append", default=[], metavar="EXPR", help="k6-style threshold (repeatable)")
    run.add_argument("--slo", type=Path, metavar="PATH", help="add the thresholds implied by this SLO spec")
    run.add_argument("--out", type=Path, metavar="DIR", help="write results.json, results.csv and report.html here")
    run.add_argument("--client", choices=["auto", "fast", "aiohttp"], default="auto", help="HTTP client (auto)")
    run.add_argument("--quiet", action="store_true", help="no live progress and no table")
    run.add_argument(
        "--workers", default="auto", metavar="N",
        help="processes sharing the schedule, each with its own loop and connections (default auto: one per usable "
        f"core, but 1 when the rate never exceeds {workers.ONE_WORKER_RATE:,.0f} req/s)",
    )  # fmt: skip
    daemon = sub.add_parser(
        "daemon",
        help="steady load until SIGTERM/SIGINT, with /metrics",
        description="Send steady load until stopped, serving Prometheus metrics on LOADGEN_METRICS_HOST:PORT.",
        epilog=EPILOG_DAEMON,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    daemon.add_argument("--scenario", type=Path, help="scenario YAML file or name (overrides LOADGEN_SCENARIO)")
    return p


def _run_loop(coro: Coroutine[Any, Any, int]) -> int:
    result: int = workers.run_loop(coro)
    return result


def worker_count(text: str, scenario: runner.Scenario) -> int:
    if text == "auto":
        return workers.default_workers(scenario)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--workers takes a number >= 1 or 'auto' (got {text!r})")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "daemon":
        from loadgen import daemon

        try:
            settings = LoadgenSettings()
            if args.scenario is not None:
                settings = settings.model_copy(update={"scenario": args.scenario})
            logging.basicConfig(
                level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
            )
            return _run_loop(daemon.serve(settings))
        except (ValidationError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return runner.EXIT_USAGE
    try:
        scenario = build_scenario(args)
        texts = [*scenario.thresholds, *args.threshold]
        if args.slo is not None:
            texts += thresholds.from_slo(args.slo)
        checks = thresholds.with_defaults([thresholds.parse(t) for t in texts])
        target = check_target(args.target) if args.target else LoadgenSettings().target
        n_workers = worker_count(args.workers, scenario)
    except (ValidationError, ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return runner.EXIT_USAGE
    try:
        return _run_loop(
            runner.execute(
                scenario, target=target, thresholds=checks, out=args.out, client_kind=args.client, quiet=args.quiet,
                n_workers=n_workers,
            )
        )  # fmt: skip
    except workers.WorkerFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return runner.EXIT_ERROR
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return runner.EXIT_USAGE


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before the run's own handler is in place: nothing was measured yet
        print("interrupted before the run started", file=sys.stderr)
        sys.exit(runner.EXIT_FORCED)
