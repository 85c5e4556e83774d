"""python -m stack: the whole stack on this machine, without Docker (see the README, "Run the whole stack")."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from contract.durations import parse_duration
from slo import validate
from slo.spec import SpecError, load_spec, load_specs
from stack import procfile, report, target, up
from stack.page import build, compare
from stack.prometheus import Prometheus, PrometheusError
from stack.settings import StackSettings
from stack.spans import Window, parse_time


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


def moment(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def report_window(args: argparse.Namespace, now: float) -> Window:
    """The window the flags name: --month, or two of --start/--end/--window (--window or --start alone: up to now)."""
    if args.month:
        if args.start is not None or args.end is not None or args.window is not None:
            raise ValueError("--month is a window of its own: give it without --start, --end or --window")
        return Window.month(args.month, now)
    given = sum(x is not None for x in (args.start, args.end, args.window))
    if given in (0, 3) or (given == 1 and args.end is not None):
        raise ValueError("give --window, --start, --month, or two of --start, --end and --window")
    end = args.end if args.end is not None else now
    if args.start is not None and args.window is not None:
        end = args.start + args.window
    start = args.start if args.start is not None else end - args.window
    return Window(start, min(end, now))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stack",
        description="The whole stack on this machine without Docker: the service, the loadgen daemon, "
        "Prometheus and Alertmanager on loopback, each writing to run/logs/NAME.log. Settings come from STACK_* "
        "variables.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser(
        "up",
        help="start everything; Ctrl-C stops it all",
        description="Start the stack, say where to look and keep a live status on the terminal (one summary line "
        "per interval off a terminal); each process's output goes to run/logs/NAME.log. Without --duration it runs "
        "until Ctrl-C; with "
        "--duration it is a bounded soak: it runs that long, prints the SLO report read from Prometheus, stops "
        "everything, and exits 1 on a breach (2 if the stack failed).",
    )
    u.add_argument("--duration", type=duration, help="bounded soak: run this long (90, 90s, 10m, 2h), then report")
    u.add_argument("--without", type=processes, default=frozenset(), help="comma-separated processes not to start")
    u.add_argument("--logs", action="store_true", help="stream every process's log (NAME | line) instead of the status")
    t = u.add_argument_group(
        "a service the stack does not run",
        "No service process: the loadgen daemon plays --scenario against --target, Prometheus scrapes the "
        "loadgen and --metrics, and loads the rules generated from --spec into the run folder.",
    )
    t.add_argument("--target", metavar="URL", help="its base URL, http(s) on loopback (STACK_TARGET)")
    t.add_argument(
        "--metrics",
        metavar="URL",
        help="its Prometheus metrics, any path (STACK_TARGET_METRICS); needed when the spec reads more than the "
        "loadgen's own metrics",
    )
    t.add_argument("--spec", type=Path, metavar="FILE", help="its SLO spec (STACK_SLO_SPEC)")
    t.add_argument("--scenario", type=Path, metavar="FILE", help="the loadgen's scenario (STACK_LOADGEN_SCENARIO)")
    sub.add_parser("procfile", help="print the Procfile of the stack's processes (from the settings)")
    r = sub.add_parser(
        "report",
        help="print the SLO report of a window from a running Prometheus",
        description="Each SLI weighted by requests, the share of the window's error budget spent, the spans "
        "without data and the alerts that fired (one line per incident). Exit 1 on a breach, 2 if Prometheus "
        "cannot be read. Times: ISO 8601 (UTC unless an offset is given) or Unix seconds.",
    )
    r.add_argument("--window", type=duration, help="its length (90s, 10m, 30d); alone: the last WINDOW")
    r.add_argument("--start", type=moment, help="its start (2026-11-03T04:00:00Z); alone: up to now")
    r.add_argument("--end", type=moment, help="its end (default: now)")
    r.add_argument("--month", help="a calendar month in UTC, YYYY-MM (cut at now if still running)")
    r.add_argument("--prometheus", help="Prometheus base URL (default: the local stack's)")
    r.add_argument("--spec", type=Path, metavar="FILE", help="the SLO spec (default: STACK_SLO_SPEC), e.g. a target's")
    r.add_argument("--json", action="store_true", help="print JSON instead of the table")
    r.add_argument(
        "--html",
        type=Path,
        metavar="DIR",
        help="also write the window's page (every dashboard panel, the report on top) to DIR/report.html, "
        "and DIR/run.json for a later --compare",
    )
    r.add_argument(
        "--compare",
        type=Path,
        metavar="OTHER_RUN",
        help="with --html: lay this run beside another run folder (its run.json), figure by figure; without "
        "a window, compare the run already in DIR with it (DIR/compare.html, no Prometheus needed)",
    )
    v = sub.add_parser(
        "validate",
        help="check what an SLO spec means, offline and against a live Prometheus",
        description="Refuse alerts that can never fire, latency thresholds that are not bucket boundaries and "
        "(with --prometheus) selectors that match no series; warn about what cannot be checked. Exit 0 when "
        "valid (warnings allowed), 1 when refused, 2 if Prometheus cannot be read.",
    )
    v.add_argument("spec", nargs="?", type=Path, help="the spec (default: STACK_SLO_SPEC)")
    v.add_argument("--prometheus", help="check every SLI selector against this Prometheus (base URL)")
    v.add_argument("--lookback", type=duration, default=3600.0, help="how far back a series counts (default 1h)")
    d = sub.add_parser(
        "target-dir",
        help="write the folder docker-compose.target.yml mounts (SLO_TARGET_DIR)",
        description="The target's rules generated from --spec (rules/), its scenario (scenario.yaml) and its "
        "metrics URL as Prometheus's file_sd list (metrics.yml, empty without --metrics), as the compose stack for "
        "a service it does not run reads them. URLs as the containers reach them.",
    )
    d.add_argument("--spec", type=Path, required=True, metavar="FILE", help="the target's SLO spec")
    d.add_argument("--scenario", type=Path, required=True, metavar="FILE", help="the loadgen's scenario")
    d.add_argument("--metrics", metavar="URL", help="the target's Prometheus metrics, any scheme, host and path")
    d.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write (its rules/ replaced)")
    w = sub.add_parser("wait", help="wait until URL answers 200 (start order by health)")
    w.add_argument("url")
    w.add_argument("--timeout", type=float, default=60.0)
    return p


#: `up`'s flags that set a setting: flag -> the setting's field.
SETTING_FLAGS = {"target": "target", "metrics": "target_metrics", "spec": "slo_spec", "scenario": "loadgen_scenario"}


def settings_from(args: argparse.Namespace) -> StackSettings:
    """The settings, with the fields `up`'s flags set (a flag wins over its STACK_* variable)."""
    given = {field: getattr(args, flag, None) for flag, field in SETTING_FLAGS.items()}
    return StackSettings(**{field: value for field, value in given.items() if value is not None})


def settings_error(exc: ValidationError) -> str:
    """One line for the first invalid setting, named as the flag or the variable that set it."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    flags = {f: flag for flag, f in SETTING_FLAGS.items()}
    message = error["msg"].removeprefix("Value error, ")
    if not field:  # a rule across fields: its message names them
        return message
    return f"STACK_{field.upper()}" + (f" (--{flags[field]})" if field in flags else "") + f": {message}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except ValidationError as exc:  # a setting (a flag or a STACK_* variable) that does not hold
        print(f"error: {settings_error(exc)}", file=sys.stderr)
        return up.EXIT_FAILED
    except target.TargetError as exc:  # a target run that cannot start: said before anything started
        print(f"error: {exc}", file=sys.stderr)
        return up.EXIT_FAILED
    except FileNotFoundError as exc:  # a config that another part of the project writes is not there
        print(f"error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return up.EXIT_FAILED
    except SpecError as exc:  # the SLO spec the report reads is missing or invalid: say which, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return up.EXIT_FAILED
    except (OSError, PrometheusError) as exc:  # Prometheus does not answer, or refuses a query
        print(f"error: Prometheus: {exc}", file=sys.stderr)
        return up.EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    if args.command == "wait":
        return 0 if up.wait_for(args.url, args.timeout) else 1
    if args.command == "target-dir":
        for path in target.write_dir(args.spec, args.scenario, args.metrics, args.out):
            print(path)
        return 0
    settings = settings_from(args)
    if args.command == "up" and settings.target is None and args.spec is not None:
        print(
            "error: --spec goes with --target (the stack's own service: STACK_SLO_SPEC with STACK_RULES_DIR, the "
            "rules generated from it)",
            file=sys.stderr,
        )
        return up.EXIT_FAILED
    if args.command == "up":
        return up.up(settings, args.duration, args.without, logs=args.logs)
    if args.command == "procfile":
        print(procfile.render(settings), end="")
        return 0
    if args.command == "validate":
        return run_validate(args.spec or settings.path(settings.slo_spec), args.prometheus, args.lookback)
    if args.html is not None and args.compare is not None and not windowed(args):
        return run_compare(args.html, args.compare)
    prom = Prometheus(args.prometheus or settings.url(settings.prometheus_port))
    try:
        window = report_window(args, time.time())
        if args.compare is not None and args.html is None:
            raise ValueError("--compare lays this run beside another on the page: give --html DIR too")
        if args.compare is not None:
            compare.load_run(args.compare)  # refuse a folder without a run before querying anything
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return up.EXIT_FAILED
    spec_path = settings.path(settings.slo_spec)
    result = report.build_window(prom, load_spec(spec_path), window)
    print(result.to_json() if args.json else report.render(result))
    if args.html is not None:
        path = build.write(prom, spec_path, result, args.html, other=args.compare)
        print(f"page: {path}", file=sys.stderr)
    return 0 if result.ok else 1


def windowed(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag) is not None for flag in ("month", "start", "end", "window"))


def run_compare(folder: Path, other: Path) -> int:
    """Two runs already written, compared from their run.json alone; exit 1 if this one breached."""
    try:
        path = build.write_compare(folder, other)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return up.EXIT_FAILED
    print(f"page: {path}", file=sys.stderr)
    return 0 if compare.load_run(folder)["report"]["ok"] else 1


def run_validate(spec_path: Path, prometheus: str | None, lookback: float) -> int:
    """Print every finding, one a line; 1 if any is an error (a spec that does not read is one)."""
    try:
        specs = load_specs(spec_path)
    except SpecError as exc:
        print(f"error: {exc}")
        return 1
    findings = [f for spec in specs for f in validate.check(spec)]
    if prometheus:
        prom = Prometheus(prometheus)
        window = f"[{round(lookback)}s]"

        def count(selector: str) -> int:
            return round(prom.scalar(f"count(last_over_time({selector}{window}))") or 0)

        findings += [f for spec in specs for f in validate.check_live(spec, count)]
    for finding in findings:
        print(finding)
    errors = sum(f.level == "error" for f in findings)
    slos = sum(len(spec.slos) for spec in specs)
    checked = f"{slos} SLO(s) of {len(specs)} spec(s) in {spec_path}"
    checked += f", against {prometheus}" if prometheus else ""
    print(f"refused: {errors} error(s), {checked}" if errors else f"valid: {checked}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
