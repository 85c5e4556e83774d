"""Cost of the SLO rules before and now: the period SLI (time-averaged vs request-weighted) and the SLI group.

    python bench/rules.py [--days 30] [--step 15] [--evaluations 20]

Writes `--days` of synthetic history, one sample every `--step` seconds: the service's request histogram
(count and the SLIs' buckets, per prediction route, 200s and 503s, a daily traffic wave and seeded noise) and,
for every SLO of prometheus/slo.yaml, the recorded series the period rules read: `slo:sli_error:ratio_rate5m`
(the old rule's input), `slo:sli_total_events:rate5m` and `slo:sli_error_events:rate5m` (the new one's). The
history is backfilled with `promtool tsdb create-blocks-from openmetrics` into a fresh Prometheus (Debian's),
which evaluates four rule groups every 4 s: the period SLI of every SLO as Sloth writes it and as generated
now (generators/prometheus/slo_rules.py), and the whole SLI recording group of every SLO before (the window
ratios and the time-averaged period) and now (sli_recordings: also the request and error rates, no-data).
Prometheus's own `prometheus_rule_group_last_duration_seconds` per group is read from its /metrics after each
evaluation; the median of `--evaluations` is printed per group, with the ratios now / before. The two period
rules' values are printed beside the request-weighted and the time-averaged SLI computed from the same samples.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client.parser import text_string_to_metric_families

from contract import metrics, routes
from generators.paths import SPEC
from generators.prometheus.slo_rules import (
    ERROR_EVENTS,
    TOTAL_EVENTS,
    id_filter,
    period_sli_expr,
    sli_recordings,
    slo_labels,
)
from generators.yamlout import dump
from slo.spec import SLOSpec, Spec, load_spec
from slo.windows import PERIOD_SECONDS, Windows, prom_duration
from stack.processes import free_port, stop, wait_until_ready

BLOCK = "744h"
OLD_GROUP, NEW_GROUP = "period-time-averaged", "period-request-weighted"
#: The whole SLI recording group of every SLO, as generated before (window ratios, time-averaged period) and now.
SLI_BEFORE, SLI_NOW = "sli-group-before", "sli-group-now"
GROUPS = (OLD_GROUP, NEW_GROUP, SLI_BEFORE, SLI_NOW)
#: Each group's evaluation interval: long beside an evaluation (~0.1 s), so the four groups, which
#: Prometheus starts at spread offsets, seldom run at the same time and compete for the CPU.
INTERVAL = "4s"
#: Shares of answers within 0.1 s and 0.5 s, for the synthetic histogram.
FAST = {"0.1": 0.95, "0.5": 0.995}
RATIO_5M = "slo:sli_error:ratio_rate5m"
HISTOGRAM = metrics.REQUEST_DURATION.name


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    values: list[float]


def traffic(days: float, step: int, seed: int) -> tuple[list[float], list[float]]:
    """Requests/s and errors/s per sample: a daily wave from 2 to 60 rps, errors 0.05% +/- noise, bursts."""
    rng = random.Random(seed)
    total, errors = [], []
    for i in range(int(days * 86400 / step)):
        rps = 31 + 29 * math.sin(2 * math.pi * i * step / 86400)
        ratio = 0.0005 * rng.uniform(0, 2) + (0.05 if rng.random() < 0.002 else 0)
        total.append(rps)
        errors.append(rps * ratio)
    return total, errors


def history(spec: Spec, days: float, step: int) -> list[Series]:
    series = []
    for n, slo in enumerate(spec.slos):
        labels = {**slo_labels(spec, slo), "sloth_window": "5m"}
        total, errors = traffic(days, step, seed=n)
        fmt = {"window": "5m"}
        series += [
            Series(RATIO_5M, labels, [e / t for e, t in zip(errors, total, strict=True)]),
            Series(TOTAL_EVENTS.format(**fmt), labels, total),
            Series(ERROR_EVENTS.format(**fmt), labels, errors),
        ]
    return series


def counters(days: float, step: int) -> list[Series]:
    """The service's request histogram (count and the SLIs' buckets) per prediction route, 200s and 503s."""
    total, errors = traffic(days, step, seed=99)
    series = []
    for route in routes.PREDICTION_ROUTES:
        for status, rates in (("200", [t - e for t, e in zip(total, errors, strict=True)]), ("503", errors)):
            counts = list(itertools.accumulate(r * step / len(routes.PREDICTION_ROUTES) for r in rates))
            labels = {"job": metrics.SERVICE_JOB, "route": route, "status_code": status}
            series.append(Series(f"{HISTOGRAM}_count", labels, counts))
            series += [
                Series(f"{HISTOGRAM}_bucket", {**labels, "le": le}, [c * share for c in counts])
                for le, share in FAST.items()
            ]
    return series


def openmetrics(series: list[Series], end: float, step: int) -> Iterator[str]:
    """OpenMetrics text, one family after another, each series' samples in time order."""
    for name in dict.fromkeys(s.name for s in series):
        yield f"# TYPE {name} unknown\n"
        for s in (s for s in series if s.name == name):
            labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
            start = end - step * len(s.values)
            for i, value in enumerate(s.values):
                yield f"{name}{{{labels}}} {value!r} {start + i * step:.0f}\n"
    yield "# EOF\n"


def rule_files(spec: Spec, folder: Path) -> list[Path]:
    period = prom_duration(PERIOD_SECONDS)

    def old(slo: SLOSpec) -> str:
        five = f"{RATIO_5M}{id_filter(spec, slo)}[{period}]"
        return f"sum_over_time({five})\n/ ignoring (sloth_window)\ncount_over_time({five})\n"

    groups = {
        OLD_GROUP: [
            {"record": "bench:old:ratio_rate30d", "expr": old(slo), "labels": slo_labels(spec, slo)}
            for slo in spec.slos
        ],
        NEW_GROUP: [
            {
                "record": "bench:new:ratio_rate30d",
                "expr": period_sli_expr(spec, slo, Windows()),
                "labels": slo_labels(spec, slo),
            }
            for slo in spec.slos
        ],
    }
    # Records renamed (their expressions unchanged), so that the backfilled history is all the period rules read.
    generated = [r for slo in spec.slos for r in sli_recordings(spec, slo, Windows())]
    now = [{**r, "record": "bench_now:" + r["record"]} for r in generated]
    before = [
        {**r, "record": "bench_old:" + r["record"]}
        for r in generated
        if r["record"].startswith("slo:sli_error:ratio_rate") and r["record"] != "slo:sli_error:ratio_rate30d"
    ]
    before += [{**r, "record": "bench_old:ratio_rate30d"} for r in groups[OLD_GROUP]]
    groups |= {SLI_BEFORE: before, SLI_NOW: now}
    paths = []
    for name, rules in groups.items():
        path = folder / f"{name}.yml"
        path.write_text(dump({"groups": [{"name": name, "interval": INTERVAL, "rules": rules}]}))
        paths.append(path)
    return paths


def durations(url: str) -> dict[str, float]:
    """prometheus_rule_group_last_duration_seconds by group name, from Prometheus's own /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name == "prometheus_rule_group_last_duration_seconds":
            for sample in family.samples:
                found[sample.labels["rule_group"].rsplit(";", 1)[1]] = sample.value
    return found


def query(url: str, expr: str) -> dict[str, float]:
    """The instant value of each series by its sloth_slo."""
    with urllib.request.urlopen(f"{url}/api/v1/query?{urlencode({'query': expr})}", timeout=30) as response:
        return {r["metric"]["sloth_slo"]: float(r["value"][1]) for r in json.load(response)["data"]["result"]}


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--days", type=float, default=30.0, help="days of history (default %(default)s)")
    args.add_argument("--step", type=int, default=15, help="seconds between samples, as the evaluation interval")
    args.add_argument("--evaluations", type=int, default=20, help="evaluations of each group to take the median of")
    opts = args.parse_args(argv)
    spec = load_spec(SPEC)
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        folder = Path(tmp)
        series = history(spec, opts.days, opts.step)
        raw = counters(opts.days, opts.step)
        end = time.time() - 60
        started = time.monotonic()
        with (folder / "history.om").open("w") as out:
            out.writelines(openmetrics(series + raw, end, opts.step))
        subprocess.run(
            # Blocks as long as the history (the default, 2h, writes hundreds of blocks, minutes slower).
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                f"--max-block-duration={BLOCK}",
                str(folder / "history.om"),
                str(folder / "data"),
            ],
            check=True,
            capture_output=True,
        )
        samples = sum(len(s.values) for s in series + raw)
        print(f"history: {samples:,} samples ({opts.days:g} days every {opts.step}s, {len(spec.slos)} SLOs), "
              f"backfilled in {time.monotonic() - started:.1f}s")  # fmt: skip
        files = rule_files(spec, folder)
        config = folder / "prometheus.yml"
        config.write_text(dump({"global": {"evaluation_interval": "1s"}, "rule_files": [str(p) for p in files]}))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with (folder / "prometheus.log").open("wb") as log:
            proc = subprocess.Popen(
                ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                 "--storage.tsdb.retention.time=400d", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                wait_until_ready(f"{url}/-/ready", proc, timeout=120)
                measured = measure(url, opts.evaluations)
                old, new = query(url, "bench:old:ratio_rate30d"), query(url, "bench:new:ratio_rate30d")
            finally:
                stop(proc)
    for group, values in measured.items():
        print(f"{group:28s} median {statistics.median(values) * 1000:8.2f} ms  ({len(values)} evaluations)")
    for now, before, what in ((NEW_GROUP, OLD_GROUP, "the period rule"), (SLI_NOW, SLI_BEFORE, "the SLI group")):
        ratio = statistics.median(measured[now]) / statistics.median(measured[before])
        print(f"ratio now / before, {what}: {ratio:.2f}x")
    print("30d SLI error ratio: request-weighted computed here / the new rule; time-averaged here / the old rule")
    for slo in spec.slos:
        mine = {s.name: s.values for s in series if s.labels["sloth_slo"] == slo.name}
        weighted = sum(mine[ERROR_EVENTS.format(window="5m")]) / sum(mine[TOTAL_EVENTS.format(window="5m")])
        averaged = statistics.fmean(mine[RATIO_5M])
        print(f"  {slo.name:24s} {weighted:.6f} / {new.get(slo.name, math.nan):.6f}    "
              f"{averaged:.6f} / {old.get(slo.name, math.nan):.6f}")  # fmt: skip
    return 0


def measure(url: str, evaluations: int) -> dict[str, list[float]]:
    """One duration per new evaluation of each group (a changed last duration is a new evaluation)."""
    seen: dict[str, list[float]] = {group: [] for group in GROUPS}
    deadline = time.monotonic() + evaluations * 10 + 60
    while min(len(v) for v in seen.values()) < evaluations and time.monotonic() < deadline:
        for group, value in durations(url).items():
            if group in seen and value > 0 and (not seen[group] or seen[group][-1] != value):
                seen[group].append(value)
        time.sleep(0.3)
    return seen


if __name__ == "__main__":
    sys.exit(main())
