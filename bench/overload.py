"""The service under overload: 1x, 2x and 3x its measured capacity, its recovery, and what its
instrumentation costs at light load, in one run.

    python -m bench.overload [--seconds 30] [--workers 1] [--multiples 1,2,3] [--capacity RATE] ...

Layout. --workers 1: the service's one worker pinned to one core (taskset), the load generator
(`python -m loadgen run`, open loop, 10 s client timeout, POST /v1/predict with its standard payloads) on the
other. --workers 2: this machine has two cores, so the two service workers and the generator share them.

1. Capacity (1x), unless --capacity gives it: the service's ceiling, the 200s a second it finishes with 32
   requests always out (the generator asked far more than that: a closed loop in effect), then the highest
   rate it holds open loop, bisected between half the ceiling and the ceiling (--bisect-steps probes of
   --probe-seconds; none: the ceiling). A rate is held with at least 99% of it achieved, at most 0.1% dropped,
   no transport error or 5xx, and p99 within the strictest latency SLO of prometheus/slo.yaml.
2. Each multiple of the capacity for --seconds: the answers by status as the client saw them and as the
   service counted them (its /metrics read before and after, once it has gone quiet), admitted (200) p99 and
   503 p99 as the client saw them, client timeouts, goodput (200s a second while the schedule ran), predictions
   made for clients that left (the 200s the service answered minus those received), the service's abandoned
   count if it has one.
3. Recovery: a second generator process, started with the last step's, sends nothing while that step runs,
   then half the capacity for --recovery-seconds: the seconds from the overload's end until every later
   second's p99 is within the SLO threshold, with no failure.
4. At --light-fraction of the capacity: the p99 of the service with instrumentation on and off
   (SERVICE_INSTRUMENTATION=false), --light-rounds interleaved rounds (the order reversed every other round);
   the verdict is the median of the rounds' ratios.

Goals (the issue's, printed met/MISSED): at the top step (3x) 0 client timeouts, admitted p99 within the SLO
threshold, 503 p99 <= 10 ms; goodput >= 80% of the capacity at 2x and >= 60% at 3x; the service's counts by
status equal the client's at every step; recovery < 5 s; light-load p99 on / off <= 1.5.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # (run as a script, too)

from prometheus_client.parser import text_string_to_metric_families

from bench.loadgen import cores, ratio, taskset
from bench.overhead import service
from contract import metrics
from contract.routes import METRICS, PREDICT
from loadgen.recorder import Point
from loadgen.report import whole_seconds
from slo.spec import load_specs
from stack.processes import ROOT

SLO_SPEC = ROOT / "prometheus" / "slo.yaml"
CLIENT_TIMEOUT_S = 10.0
# The ceiling probe asks this many req/s (ten times one worker's capacity here: the in-flight bound rules, and
# the generator spends little on the requests it drops, which matters where it shares the service's cores).
CEILING_ASK = 20_000
CEILING_IN_FLIGHT = 32
SEED = 14
# The goals (the latency one is the SLO spec's: slo_p99_ms).
SHED_P99_MS = 10.0
GOODPUT = {2.0: 0.8, 3.0: 0.6}  # multiple -> the least share of the capacity answered 200 a second
RECOVERY_S = 5.0
LIGHT_RATIO = 1.5
# A counter of requests the service did not predict because their client had left, if the contract names one.
ABANDONED = tuple(m.name for m in vars(metrics).values() if isinstance(m, metrics.Metric) and "abandon" in m.name)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never through a proxy

Results = dict[str, Any]  # a loadgen run's results.json


def slo_p99_ms(path: Path = SLO_SPEC) -> float:
    """The strictest latency threshold of the SLO spec, in ms: what the admitted requests' p99 must stay within."""
    found = [s.latency_threshold_seconds for spec in load_specs(path) for s in spec.slos]
    return 1000 * min(t for t in found if t is not None)


# --- what the service counted -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counters:
    """What the service counted for POST /v1/predict (its /metrics): answers by status, sheds.

    (Not its inference histogram: that folds predictions in groups of SERVICE_MODEL_SIGNAL_MIN_COUNT, so a
    few of a step's are counted in the next; the request histogram counts every answer as it goes.)
    """

    statuses: dict[str, int] = field(default_factory=dict)
    shed: int = 0
    abandoned: int | None = None  # None: the service has no such counter

    def since(self, before: Counters) -> Counters:
        statuses = {k: n - before.statuses.get(k, 0) for k, n in self.statuses.items()}
        abandoned = None if self.abandoned is None else self.abandoned - (before.abandoned or 0)
        return Counters({k: n for k, n in statuses.items() if n}, self.shed - before.shed, abandoned)


def parse_counters(text: str) -> Counters:
    """The /v1/predict counters of a /metrics page (Prometheus text); series of other routes are left out."""
    statuses: dict[str, int] = {}
    shed = 0
    abandoned: int | None = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("route", PREDICT) != PREDICT:
                continue
            n = round(s.value)
            if s.name == f"{metrics.REQUEST_DURATION.name}_count":
                statuses[s.labels["status_code"]] = statuses.get(s.labels["status_code"], 0) + n
            elif s.name == metrics.SHED.name:
                shed += n
            elif s.name.removesuffix("_total") in {a.removesuffix("_total") for a in ABANDONED}:
                abandoned = (abandoned or 0) + n
    return Counters(statuses, shed, abandoned)


def read_counters(base: str) -> Counters:
    with _OPENER.open(base + METRICS, timeout=30) as response:
        return parse_counters(response.read().decode())


def quiet_counters(base: str, timeout: float = 60.0) -> Counters:
    """The counters once two reads 0.5 s apart agree: a service may still serve a backlog its clients left."""
    deadline, last = time.monotonic() + timeout, read_counters(base)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = read_counters(base)
        if now == last:
            return now
        last = now
    raise TimeoutError(f"the service at {base} was still counting answers after {timeout:g} s")


# --- the load generator ------------------------------------------------------------------------------------------
def constant(rate: float, seconds: float) -> list[str]:
    return ["--rate", f"{rate:g}", "--duration", f"{seconds:g}s"]


def after_overload(overload_s: float, rate: float, seconds: float) -> list[str]:
    """Nothing for overload_s (while another process overloads), then `rate` for `seconds`."""
    return ["--stages", f"{overload_s:g}:0,0:{rate:g},{seconds:g}:{rate:g}"]


#: The recovery run's connection pool (it runs at half the capacity, beside the overload's pool).
RECOVERY_CONNECTIONS = 100


@dataclass(frozen=True)
class Generator:
    """`python -m loadgen run` on `cpus` (None: unpinned) against one target, each run into its own folder."""

    cpus: str | None
    target: str
    in_flight: int
    workers: int
    tmp: Path
    connections: int = 800  # --max-connections: under the service's cap (1000 a worker), with the recovery's

    def start(
        self, name: str, profile: Sequence[str], length: float, in_flight: int | None = None, connections: int = 0
    ) -> Run:
        """A run of `profile` (its schedule `length` seconds long) into tmp/name."""
        out = self.tmp / name
        cmd = [*(taskset(self.cpus) if self.cpus else []), sys.executable, "-m", "loadgen", "run", "--quiet",
               "--target", self.target, *profile, "--max-in-flight", str(in_flight or self.in_flight),
               "--max-connections", str(connections or self.connections),
               "--timeout", f"{CLIENT_TIMEOUT_S:g}s", "--workers", str(self.workers), "--seed", str(SEED),
               "--threshold", "dropped_rate<=1", "--out", str(out)]  # fmt: skip
        return Run(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL), out, length + CLIENT_TIMEOUT_S + 120)

    def run(self, name: str, profile: Sequence[str], length: float, in_flight: int | None = None) -> Results:
        return self.start(name, profile, length, in_flight).results()


@dataclass(frozen=True)
class Run:
    proc: subprocess.Popen[bytes]
    out: Path
    timeout: float  # seconds: the schedule, the last requests' timeout, and start-up to spare

    def results(self) -> Results:
        try:
            code = self.proc.wait(self.timeout)
        finally:
            self.stop()
        if code != 0:
            raise RuntimeError(f"loadgen run {self.out.name} exited {code}")
        results: Results = json.loads((self.out / "results.json").read_text())
        return results

    def stop(self) -> None:
        """Kill the run if it still goes (it timed out, or the bench was interrupted)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass(frozen=True)
class Layout:
    """Where the generator and the service run: cpu lists for taskset, None for unpinned."""

    load: str | None
    service: str | None

    @classmethod
    def of(cls, workers: int) -> Layout:
        """One worker: a core for it, the other for the generator. More: two cores only, so they share them."""
        gen_cpu, service_cpu, every = cores()
        return cls(gen_cpu, service_cpu) if workers == 1 else cls(every, None)


# --- capacity ---------------------------------------------------------------------------------------------------
def goodput(results: Results) -> float:
    """200s a second while the schedule ran: those that came in the drain after it (up to the client timeout
    later) are left out, or a service that falls behind would look as fast as the schedule."""
    seconds = whole_seconds([Point(**p) for p in results["series"]], results["duration_s"])
    return sum(p.outcomes.get("200", 0) for p in seconds) / seconds[-1].t if seconds else 0.0


def holds(results: Results, rate: float, p99_ms: float) -> bool:
    """Whether a run held `rate`: achieved, nothing dropped to speak of, no failure, p99 within the SLO."""
    return (
        results["rps"] >= 0.99 * rate
        and results["dropped_rate"] <= 0.001
        and results["errors"] == 0
        and results["latency_ms"]["p99"] <= p99_ms
    )


def bisect_capacity(probe: Callable[[float], Results], ceiling: float, steps: int, p99_ms: float) -> float:
    """The highest rate found held between half the ceiling and the ceiling (the ceiling with no steps)."""
    if steps == 0:
        return ceiling
    low, high = 0.5 * ceiling, ceiling
    for _ in range(steps):
        rate = round((low + high) / 2)
        results = probe(rate)
        held = holds(results, rate, p99_ms)
        print(f"  probe {rate:7,} req/s: achieved {results['rps'] / rate:.3f}, errors {results['errors']:,}, "
              f"p99 {results['latency_ms']['p99']:.1f} ms -> {'held' if held else 'not held'}", flush=True)  # fmt: skip
        low, high = (rate, high) if held else (low, rate)
    if low == 0.5 * ceiling:
        print("  no probe held: the capacity is the bisection's floor, half the ceiling", flush=True)
    return low


def measure_capacity(gen: Generator, base: str, args: argparse.Namespace, p99_ms: float) -> tuple[float, float]:
    """(ceiling, capacity) in req/s."""
    probe_s = args.probe_seconds
    ceiling = goodput(gen.run("ceiling", constant(CEILING_ASK, probe_s), probe_s, CEILING_IN_FLIGHT))
    print(f"ceiling: {ceiling:,.0f} req/s answered 200 with {CEILING_IN_FLIGHT} in flight; bisecting below",
          flush=True)  # fmt: skip
    if ceiling > 0.5 * CEILING_ASK:
        print(f"  (the probe asked only {CEILING_ASK:,} req/s: give --capacity on a service this fast)", flush=True)
    quiet_counters(base)

    def probe(rate: float) -> Results:
        results = gen.run(f"probe-{rate:g}", constant(rate, probe_s), probe_s)
        quiet_counters(base)  # (a probe above the capacity leaves a backlog: not the next probe's)
        return results

    return ceiling, bisect_capacity(probe, ceiling, args.bisect_steps, p99_ms)


# --- the steps --------------------------------------------------------------------------------------------------
def statuses(outcomes: Mapping[str, int]) -> dict[str, int]:
    """The answers among a client's outcomes (status codes; transport errors left out)."""
    return {k: n for k, n in outcomes.items() if k[0].isdigit()}


def added(*outcomes: Mapping[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for each in outcomes:
        for k, n in each.items():
            total[k] = total.get(k, 0) + n
    return total


@dataclass(frozen=True)
class Step:
    """One multiple of the capacity: the generator's run, what the service counted, and every client's outcomes
    meanwhile (the last step's include the recovery run's)."""

    multiple: float
    rate: float
    results: Results
    service: Counters
    client: dict[str, int]

    @property
    def admitted_p99_ms(self) -> float | None:
        return float(self.results["latency_ms"]["p99"]) if self.results["outcomes"].get("200") else None

    @property
    def failures(self) -> dict[str, int]:
        """Transport errors and 5xx: what the generator's failed latency reads."""
        return {k: n for k, n in self.results["outcomes"].items() if not k[0].isdigit() or k[0] == "5"}

    @property
    def shed_p99_ms(self) -> float | None:
        """The 503s' p99 as the client saw them; None without 503s, or when other failures share the histogram
        (the generator keeps one histogram for every failure)."""
        if set(self.failures) != {"503"}:
            return None
        return float(self.results["failed_latency_ms"]["p99"])

    @property
    def timeouts(self) -> int:
        return int(self.results["outcomes"].get("timeout", 0))

    @property
    def goodput(self) -> float:
        return goodput(self.results)

    @property
    def left(self) -> int:
        """Predictions made for clients that did not receive them: 200s answered, not received."""
        return self.service.statuses.get("200", 0) - self.client.get("200", 0)

    @property
    def exact(self) -> bool:
        """The service's answers by status equal the clients'."""
        return self.service.statuses == statuses(self.client)


def run_step(gen: Generator, base: str, multiple: float, rate: float, seconds: float,
             recovery: tuple[float, float] | None) -> tuple[Step, Results | None]:  # fmt: skip
    """One step; with recovery = (rate, seconds), the recovery run beside it. Both processes start together."""
    before = quiet_counters(base)
    runs = [gen.start(f"{multiple:g}x", constant(rate, seconds), seconds)]
    if recovery:
        # Its pool: enough for half the capacity, and with the overload's within the service's connection cap.
        runs.append(gen.start(f"{multiple:g}x-recovery", after_overload(seconds, *recovery), seconds + recovery[1],
                              connections=RECOVERY_CONNECTIONS))  # fmt: skip
    try:
        results = [run.results() for run in runs]
    finally:
        for run in runs:
            run.stop()
    step = Step(
        multiple, rate, results[0], quiet_counters(base).since(before), added(*(r["outcomes"] for r in results))
    )
    return step, results[1] if recovery else None


def recovery_seconds(
    series: Sequence[Mapping[str, Any]], overload_end: float, end: float, p99_ms: float
) -> float | None:
    """Seconds from overload_end until every later whole second of the schedule (to `end`: the drain after it
    left out, as the generator's own per-second figures do) has a p99 within p99_ms and no failure; None when
    the last second is still over. A second with nothing due and nothing finished counts neither way."""
    start, previous = None, overload_end
    for p in whole_seconds([Point(**p) for p in series], end):
        if p.t <= overload_end:
            continue
        if p.scheduled or p.completed:
            good = p.p99_ms is not None and p.p99_ms <= p99_ms and p.errors == 0
            start = (start if start is not None else previous) if good else None
        previous = p.t
    return None if start is None else start - overload_end


# --- light load ---------------------------------------------------------------------------------------------------
def interleaved(runs: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each run once a round, the order reversed every other round, so that a drift of the machine's speed
    favours none."""
    out: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(rounds):
        for name in list(runs) if i % 2 == 0 else reversed(list(runs)):
            out[name].append(runs[name]())
    return out


def light_load(tmp: Path, layout: Layout, args: argparse.Namespace, rate: float) -> dict[str, list[float]]:
    """p99 (ms) of the service with instrumentation on and off at `rate`, round by round."""
    workers = {"SERVICE_WORKERS": str(args.workers)}
    with (
        service(tmp, "light-on", layout.service, **workers) as on,
        service(tmp, "light-off", layout.service, **workers, SERVICE_INSTRUMENTATION="false") as off,
    ):
        gens = {
            name: Generator(layout.load, t.url.removesuffix(PREDICT), args.max_in_flight, args.loadgen_workers, tmp)
            for name, t in (("on", on), ("off", off))
        }
        runs = iter(range(1_000_000))

        def p99(name: str, seconds: float) -> float:
            results = gens[name].run(f"light-{name}-{next(runs)}", constant(rate, seconds), seconds)
            return float(results["latency_ms"]["p99"])

        interleaved({name: functools.partial(p99, name, 1) for name in gens}, 1)  # warm-up, not counted
        timed = {name: functools.partial(p99, name, args.light_seconds) for name in gens}
        return interleaved(timed, args.light_rounds)


def light_ratio(p99s: Mapping[str, Sequence[float]]) -> float:
    """The median over rounds of p99 with instrumentation on / off, measured seconds apart."""
    return statistics.median(ratio(on, off) for on, off in zip(p99s["on"], p99s["off"], strict=True))


# --- the report ---------------------------------------------------------------------------------------------------
def counts(outcomes: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {n:,}" for k, n in sorted(outcomes.items())) or "-"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def abandoned_text(step: Step) -> str:
    return "no counter" if step.service.abandoned is None else f"{step.service.abandoned:,}"


def shed_p99_text(step: Step) -> str:
    if step.shed_p99_ms is not None:
        return f"{ms(step.shed_p99_ms)} ms"
    if "503" not in step.failures:
        return "no 503"
    return f"n/a, with the other failures {ms(step.results['failed_latency_ms']['p99'])} ms"


def step_rows(steps: Sequence[Step], capacity: float) -> list[tuple[str, list[str]]]:
    def row(label: str, cell: Callable[[Step], str]) -> tuple[str, list[str]]:
        return label, [cell(s) for s in steps]

    return [
        row("rate, req/s", lambda s: f"{s.rate:,.0f}"),
        row("client: answers and errors", lambda s: counts(s.results["outcomes"])),
        row("service: answers by status", lambda s: counts(s.service.statuses)),
        row("counted exactly (service = clients)", lambda s: "yes" if s.exact else "NO"),
        row("dropped by the generator", lambda s: f"{s.results['dropped']:,}"),
        row("client timeouts", lambda s: f"{s.timeouts:,}"),
        row("admitted (200) p99", lambda s: f"{ms(s.admitted_p99_ms)} ms"),
        row("503 p99", shed_p99_text),
        row("goodput, 200s/s (/ capacity)", lambda s: f"{s.goodput:,.0f} ({s.goodput / capacity:.2f})"),
        row("predictions for clients that left", lambda s: f"{s.left:,}"),
        row("service: shed counter", lambda s: f"{s.service.shed:,}"),
        row("service: abandoned", abandoned_text),
    ]


def table(header: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    widths = [max(len(r[0]) for r in [(header[0], []), *rows])]
    widths += [max(len(header[i + 1]), *(len(r[1][i]) for r in rows)) for i in range(len(header) - 1)]
    lines = [[header[0], *header[1:]], *([label, *cells] for label, cells in rows)]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        for line in lines
    )


@dataclass(frozen=True)
class Goal:
    figure: str
    goal: str
    met: bool


def goals(steps: Sequence[Step], capacity: float, p99_ms: float, recovery: float | None,
          light: float | None) -> list[Goal]:  # fmt: skip
    """The issue's goals over the figures; those about the overload read the top step (3x)."""
    top = max(steps, key=lambda s: s.multiple)
    at = f"{top.multiple:g}x"
    admitted, shed = top.admitted_p99_ms, top.shed_p99_ms
    out = [
        Goal(f"{at}: client timeouts {top.timeouts:,}", "= 0", top.timeouts == 0),
        Goal(f"{at}: admitted (200) p99 {ms(admitted)} ms", f"<= {p99_ms:g} ms", admitted is not None
             and admitted <= p99_ms),
        Goal(f"{at}: 503 p99 {shed_p99_text(top)}", f"<= {SHED_P99_MS:g} ms", shed is not None
             and shed <= SHED_P99_MS),
    ]  # fmt: skip
    for s in steps:
        if (share := GOODPUT.get(s.multiple)) is not None:
            out.append(Goal(f"{s.multiple:g}x: goodput / capacity {s.goodput / capacity:.2f}", f">= {share:g}",
                            s.goodput >= share * capacity))  # fmt: skip
    inexact = [f"{s.multiple:g}x" for s in steps if not s.exact]
    out.append(Goal(f"answers counted exactly: {'every step' if not inexact else 'not at ' + ', '.join(inexact)}",
                    "every step", not inexact))  # fmt: skip
    recovered = "not within the run" if recovery is None else f"{recovery:.1f} s"
    out.append(Goal(f"recovery at 0.5x after {at}: {recovered}", f"< {RECOVERY_S:g} s",
                    recovery is not None and recovery < RECOVERY_S))  # fmt: skip
    if light is not None:
        out.append(Goal(f"light load: p99 on / off {light:.2f}", f"<= {LIGHT_RATIO:g}", light <= LIGHT_RATIO))
    return out


def goal_lines(found: Sequence[Goal]) -> str:
    return "\n".join(f"{g.figure:55} goal {g.goal:10} {'met' if g.met else 'MISSED'}" for g in found)


# --- main ---------------------------------------------------------------------------------------------------------
def multiples(text: str) -> list[float]:
    try:
        values = sorted(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: multiples of the capacity, e.g. 1,2,3") from None
    if not values or values[0] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: every multiple must be above 0")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0, help="length of each step (default: %(default)s)")
    p.add_argument("--multiples", type=multiples, default=[1.0, 2.0, 3.0], help="of the capacity (default: 1,2,3)")
    p.add_argument("--workers", type=int, default=1, help="SERVICE_WORKERS; 1 is pinned (default: %(default)s)")
    p.add_argument("--capacity", type=float, help="the 1x rate in req/s (default: measured)")
    p.add_argument("--probe-seconds", type=float, default=4.0, help="per capacity probe (default: %(default)s)")
    p.add_argument("--bisect-steps", type=int, default=4, help="capacity probes (default: %(default)s)")
    p.add_argument("--recovery-seconds", type=float, default=15.0, help="at 0.5x after the last step (default: 15)")
    p.add_argument("--light-fraction", type=float, default=0.05, help="of the capacity (default: %(default)s)")
    p.add_argument("--light-seconds", type=float, default=10.0, help="per light run (default: %(default)s)")
    p.add_argument("--light-rounds", type=int, default=4, help="on/off rounds, 0: none (default: %(default)s)")
    p.add_argument("--max-in-flight", type=int, default=10_000, help="the generator's bound (default: %(default)s)")
    p.add_argument(
        "--max-connections", type=int, default=800, help="the generator's pool, as a load balancer's (default: 800)"
    )
    p.add_argument("--loadgen-workers", type=int, default=1, help="the generator's processes (default: 1)")
    p.add_argument("--out", type=Path, help="keep every run's results and report.html here (default: not kept)")
    args = p.parse_args(argv)
    if args.workers < 1 or args.loadgen_workers < 1 or args.seconds <= 0 or args.recovery_seconds <= 0:
        p.error("--workers and --loadgen-workers must be at least 1, --seconds and --recovery-seconds above 0")
    return args


@dataclass(frozen=True)
class Overload:
    ceiling: float | None  # None: the capacity was given
    capacity: float
    steps: list[Step]
    recovery_run: Results  # the run at half the capacity beside the last step


def overload(args: argparse.Namespace, tmp: Path, layout: Layout, p99_ms: float) -> Overload:
    """Capacity, the steps and the recovery run, against one service."""
    with service(tmp, "service", layout.service, SERVICE_WORKERS=str(args.workers)) as target:
        base = target.url.removesuffix(PREDICT)
        gen = Generator(layout.load, base, args.max_in_flight, args.loadgen_workers, tmp, args.max_connections)
        ceiling, capacity = (None, args.capacity) if args.capacity else measure_capacity(gen, base, args, p99_ms)
        print(f"capacity (1x): {capacity:,.0f} req/s", flush=True)
        steps, recovery_run = [], None
        for m in args.multiples:
            beside = (round(0.5 * capacity), args.recovery_seconds) if m == args.multiples[-1] else None
            step, recovery_run = run_step(gen, base, m, round(m * capacity), args.seconds, beside)
            print(f"{m:g}x: {counts(step.results['outcomes'])}", flush=True)
            steps.append(step)
    assert recovery_run is not None  # (the last step ran one)
    return Overload(ceiling, capacity, steps, recovery_run)


def report(run: Overload, p99s: Mapping[str, Sequence[float]] | None, recovery: float | None, p99_ms: float) -> bool:
    """Print the figures and the goals; whether every goal was met."""
    print()
    if run.ceiling is not None:
        print(f"capacity: ceiling {run.ceiling:,.0f} req/s (200s with {CEILING_IN_FLIGHT} in flight), held "
              f"{run.capacity:,.0f} req/s (/ ceiling {run.capacity / run.ceiling:.2f})")  # fmt: skip
    header = ["step", *(f"{s.multiple:g}x" for s in run.steps)]
    print(table(header, step_rows(run.steps, run.capacity)))
    print(f"(the {header[-1]} column's service counts include the recovery run's: "
          f"{counts(run.recovery_run['outcomes'])})")  # fmt: skip
    for s in run.steps:
        if s.results["dropped"]:
            print(f"({s.multiple:g}x: the generator dropped {s.results['dropped']:,} requests, due while "
                  "--max-in-flight were out: never sent, so neither answered nor timed out)")  # fmt: skip
    light = None
    if p99s is not None:
        light = light_ratio(p99s)
        pairs = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(p99s["on"], p99s["off"], strict=True))
        print(f"light load: p99 ms on/off by round {pairs}; median of the ratios {light:.2f}")
    found = goals(run.steps, run.capacity, p99_ms, recovery, light)
    print(goal_lines(found))
    return all(g.met for g in found)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("taskset") is None:
        print("error: needs taskset (Debian: apt-get install util-linux)", file=sys.stderr)
        return 2
    if not (ROOT / "models" / "insurance_charges_model" / "latest").is_file():
        print("error: no trained model: run python -m service.train (or bash scripts/setup)", file=sys.stderr)
        return 2
    layout, p99_ms = Layout.of(args.workers), slo_p99_ms()
    where = f"pinned to cpu {layout.service}" if layout.service else "unpinned"
    print(f"service: {args.workers} worker(s) {where}; loadgen on cpus {layout.load}; SLO p99 {p99_ms:g} ms")
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as d:
        tmp = args.out or Path(d)
        tmp.mkdir(parents=True, exist_ok=True)
        run = overload(args, tmp, layout, p99_ms)
        end = args.seconds + args.recovery_seconds
        recovery = recovery_seconds(run.recovery_run["series"], args.seconds, end, p99_ms)
        light_rate = round(args.light_fraction * run.capacity)
        print(f"light load: {light_rate:,} req/s, instrumentation on and off", flush=True)
        p99s = light_load(tmp, layout, args, light_rate) if args.light_rounds else None
    return 0 if report(run, p99s, recovery, p99_ms) else 1


if __name__ == "__main__":
    sys.exit(main())
