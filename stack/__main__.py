"""python -m stack: the whole stack on this machine, without Docker (see the README, "Run the whole stack")."""

from __future__ import annotations

import argparse
import sys

from contract.durations import parse_duration
from slo.spec import SpecError, load_spec
from stack import procfile, report, up
from stack.prometheus import Prometheus
from stack.settings import StackSettings


def duration(text: str) -> float:
    """Seconds from a duration in the project's one syntax (contract.durations: 90, 90s, 10m, 1h30m, 2h)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def processes(text: str) -> frozenset[str]:
    names = frozenset(filter(None, text.split(",")))
    unknown = names - set(procfile.PROCESSES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown process(es) {sorted(unknown)}; choose from {procfile.PROCESSES}")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stack",
        description="The whole stack on this machine without Docker: the service, the loadgen daemon, "
        "Prometheus and Alertmanager on loopback, run by honcho. Settings come from STACK_* variables.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser(
        "up",
        help="start everything; Ctrl-C stops it all",
        description="Start the stack and print where to look. Without --duration it runs until Ctrl-C; with "
        "--duration it is a bounded soak: it runs that long, prints the SLO report read from Prometheus, stops "
        "everything, and exits 1 on a breach (2 if the stack failed).",
    )
    u.add_argument("--duration", type=duration, help="bounded soak: run this long (90, 90s, 10m, 2h), then report")
    u.add_argument("--without", type=processes, default=frozenset(), help="comma-separated processes not to start")
    sub.add_parser("procfile", help="print the Procfile honcho runs (from the settings)")
    r = sub.add_parser("report", help="print the SLO report of the last WINDOW from a running Prometheus")
    r.add_argument("--window", type=duration, required=True, help="how far back (90s, 10m, 2h)")
    r.add_argument("--prometheus", help="Prometheus base URL (default: the local stack's)")
    r.add_argument("--json", action="store_true", help="print JSON instead of the table")
    w = sub.add_parser("wait", help="wait until URL answers 200 (start order by health)")
    w.add_argument("url")
    w.add_argument("--timeout", type=float, default=60.0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except FileNotFoundError as exc:  # a config that another part of the project writes is not there
        print(f"error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return up.EXIT_FAILED
    except SpecError as exc:  # the SLO spec the report reads is missing or invalid: say which, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return up.EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    if args.command == "wait":
        return 0 if up.wait_for(args.url, args.timeout) else 1
    settings = StackSettings()
    if args.command == "up":
        return up.up(settings, args.duration, args.without)
    if args.command == "procfile":
        print(procfile.render(settings), end="")
        return 0
    prom = Prometheus(args.prometheus or settings.url(settings.prometheus_port))
    result = report.build(prom, load_spec(settings.path(settings.slo_spec)), round(args.window))
    print(result.to_json() if args.json else report.render(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
