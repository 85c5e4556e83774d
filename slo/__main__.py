"""python -m slo init: write an SLO spec for a target from a preset (see slo/init.py).

python -m slo init --preset otel --service my-model --route /predict --out slo.yaml
python -m slo init --preset bentoml --service iris --route /classify --latency 250ms:95 --out slo.yaml
python -m generators --spec slo.yaml --out generated/   # its rules, promtool tests and dashboards
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from contract.durations import parse_duration
from slo.init import PRESETS, LatencyObjective, Objectives, write_spec


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r} (e.g. 99.9)") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text}: a percentage is over 0 and at most 100")
    return value


def _latency(text: str) -> LatencyObjective:
    threshold, sep, objective = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: write THRESHOLD:PERCENT, e.g. 500ms:90 (90%% within 500 ms)")
    try:
        seconds = parse_duration(threshold)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return LatencyObjective(seconds, _percent(objective))


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m slo", description="SLO specs for other servers.")
    commands = cli.add_subparsers(dest="command", required=True)
    presets = "\n".join(f"  {name:24} {p.summary}" for name, p in PRESETS.items())
    init = commands.add_parser(
        "init",
        help="write an SLO spec for a target from a preset",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Write an SLO spec (Sloth prometheus/v1) for a target: an availability SLO and one latency SLO per "
            "threshold over the preset's metrics, for the routes given, plus the load generator's client-side twins "
            "(synthetic-*). Then: python -m generators --spec FILE --out DIR.",
            width=100,
        )
        + "\n\npresets:\n"
        + presets,
        epilog="Defaults are this project's objectives: --availability 99.9 --latency 500ms:90 --latency 100ms:99. "
        "A latency threshold must be a bucket boundary of the preset's histogram (the error lists them).",
    )
    init.add_argument("--preset", required=True, choices=sorted(PRESETS), help="what the target's metrics are")
    init.add_argument("--service", required=True, help="the service's name in the spec (Sloth's sloth_service)")
    init.add_argument(
        "--route",
        action="append",
        required=True,
        metavar="PATH",
        help="a route template the SLOs count, e.g. /v1/predict (repeat for several)",
    )
    init.add_argument("--availability", type=_percent, default=99.9, metavar="PERCENT", help="default: 99.9")
    init.add_argument("--no-availability", action="store_true", help="no availability SLO")
    init.add_argument(
        "--latency",
        action="append",
        type=_latency,
        metavar="THRESHOLD:PERCENT",
        help="PERCENT of the requests succeed within THRESHOLD, e.g. 500ms:90 (repeat; default: 500ms:90, 100ms:99)",
    )
    init.add_argument("--job", help="the scrape job of the target's metrics (default: the preset's, `service`)")
    init.add_argument(
        "--no-synthetic",
        action="store_true",
        help="leave out the load generator's client-side SLOs (synthetic-*) for a server preset",
    )
    init.add_argument("--out", required=True, type=Path, help="the spec file to write")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        objectives = Objectives(
            availability=None if args.no_availability else args.availability,
            latency=tuple(args.latency) if args.latency is not None else Objectives().latency,
        )
        notes = write_spec(
            PRESETS[args.preset],
            args.service,
            args.route,
            objectives,
            args.out,
            job=args.job,
            synthetic=not args.no_synthetic,
        )
    except (ValueError, OSError) as e:  # SpecError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
