"""What the soak's page costs: its size and the time to build it, from a running Prometheus.

    python bench/page.py [--prometheus URL] [--window 30m] [--out DIR]

Builds the SLO report of the last `--window` (stack/report.py), then the page of that window (stack/page/: every
panel of every generated dashboard, its queries as range queries) into `--out`, and prints the time each took,
the page's size, and how much it holds: panels drawn, series, points. Run it against a stack that has been up at
least the window (`python -m stack up` in another terminal; its Prometheus is the default): the points per
series grow with the window up to the page's cap (stack/page/fetch.py MAX_POINTS), then the step grows instead.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.durations import parse_duration
from slo.spec import load_spec
from stack import report
from stack.page import build
from stack.page.fetch import MAX_POINTS
from stack.prometheus import Prometheus
from stack.settings import StackSettings


def main() -> int:
    settings = StackSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default=settings.url(settings.prometheus_port))
    parser.add_argument("--window", default="30m", help="the last WINDOW (default %(default)s)")
    parser.add_argument("--out", type=Path, help="where the page goes (default: a temporary folder)")
    args = parser.parse_args()
    prom = Prometheus(args.prometheus, timeout=60)
    spec_path = settings.path(settings.slo_spec)
    out = args.out or Path(tempfile.mkdtemp(prefix="page-bench-"))

    started = time.perf_counter()
    result = report.build(prom, load_spec(spec_path), parse_duration(args.window))
    reported = time.perf_counter()
    page = build.write(prom, spec_path, result, out)
    built = time.perf_counter()

    html = page.read_text()
    points = sum(int(n) for n in re.findall(r'data-points="(\d+)"', html))
    drawn = html.count('<svg class="chart"')
    empty = html.count('data-empty="1"')
    print(f"window {args.window} from {args.prometheus}: {drawn} panels drawn, {empty} without data")
    print(f"  report {reported - started:.2f} s, page {built - reported:.2f} s (cap {MAX_POINTS} points a series)")
    print(f"  page {len(html.encode()) / 1000:.0f} kB, {points} points drawn: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
