"""Run every query of the generated dashboards against a live Prometheus.

    python -m stack.dashboard_check --prometheus http://127.0.0.1:9090 [--rate-interval 1m]

A dashboard whose queries return nothing is worse than none. Each panel query (template
variables substituted as Grafana would with "All" selected) must parse and return at least
one series; each template variable's label_values() must find values. Exit code 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.paths import DASHBOARDS, ROOT
from stack.prometheus import Prometheus, PrometheusError

DEFAULT_OUT = ROOT / DASHBOARDS

_LABEL_VALUES = re.compile(r"label_values\((?P<metric>.+),\s*(?P<label>\w+)\)")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str


@dataclass(frozen=True)
class Result:
    query: Query
    series: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.series > 0


def substitute(expr: str, variables: list[str], rate_interval: str, time_range: str) -> str:
    """Grafana's substitution with every variable on "All" (allValue .*)."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range", time_range)
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", ".*").replace(f"${name}", ".*")
    return expr


def queries(dashboard: dict[str, Any], rate_interval: str = "1m", time_range: str = "5m") -> Iterator[Query]:
    """Every panel query and every label_values() variable query of one dashboard, ready to run."""
    variables = [v["name"] for v in dashboard.get("templating", {}).get("list", [])]
    title = dashboard["title"]
    for var in dashboard.get("templating", {}).get("list", []):
        match = _LABEL_VALUES.fullmatch(str(var.get("query", "")))
        if var.get("type") == "query" and match:
            expr = f"count by ({match['label']}) ({match['metric']})"
            yield Query(title, f"variable ${var['name']}", substitute(expr, variables, rate_interval, time_range))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield Query(title, panel["title"], substitute(target["expr"], variables, rate_interval, time_range))


def run(prometheus: Prometheus, query: Query) -> Result:
    try:
        return Result(query, len(prometheus.query(query.expr)))
    except PrometheusError as exc:  # the query does not parse, or Prometheus cannot run it
        return Result(query, 0, str(exc))


def check(
    prometheus: str, folder: Path = DEFAULT_OUT, rate_interval: str = "1m", time_range: str = "5m"
) -> list[Result]:
    client = Prometheus(prometheus)
    return [
        run(client, query)
        for path in sorted(folder.glob("*.json"))
        for query in queries(json.loads(path.read_text()), rate_interval, time_range)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.dashboard_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090", help="base URL (default: %(default)s)")
    parser.add_argument("--dashboards", type=Path, default=DEFAULT_OUT, help="folder (default: %(default)s)")
    parser.add_argument("--rate-interval", default="1m", help="value for $__rate_interval (default: %(default)s)")
    parser.add_argument("--range", default="5m", help="value for $__range (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        results = check(args.prometheus, args.dashboards, args.rate_interval, args.range)
    except OSError as exc:  # nothing answers (urllib's URLError)
        print(f"error: cannot query Prometheus at {args.prometheus}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 2
    for r in results:
        status = "ok " if r.ok else "FAIL"
        print(f"{status} {r.series:3d} series  {r.query.dashboard} / {r.query.panel}  {r.error}")
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
