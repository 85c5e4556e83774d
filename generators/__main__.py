"""python -m generators: write everything the SLO spec drives, or render prometheus.yml for other targets.

python -m generators          # prometheus/generated/, grafana/generated/, deploy/k8s/generated/
python -m generators --check  # write nothing; exit 1 if a generated file is stale
python -m generators --spec my-slo.yaml --out DIR   # any spec (python -m slo init): rules, tests, dashboards in DIR
python -m generators --shrink 60 --out /tmp/drill   # rules with windows / 60 (5m -> 5s), for drills
python -m generators config --service service:8000 --loadgen loadgen:9100 --alertmanager alertmanager:9093 --out p.yml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generators.paths import ROOT, SPEC
from generators.prometheus.config import PrometheusTargets, prometheus_config
from generators.repository import generate, stale_repository, write_repository
from generators.yamlout import dump
from slo.spec import SpecError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["config"]:
        return config(argv[1:])
    gen = argparse.ArgumentParser(
        prog="python -m generators",
        description="Write the rules, promtool tests, Prometheus configs, dashboards and k8s objects from the "
        "SLO spec. `python -m generators config --help`: prometheus.yml for other targets.",
    )
    gen.add_argument("--spec", type=Path, default=SPEC, help="SLO spec (default: %(default)s)")
    gen.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the spec's rules, promtool tests, prometheus.yml and dashboards into this folder instead of the "
        "repository's generated folders (with --shrink: the drill rules only)",
    )
    gen.add_argument("--shrink", type=float, default=1.0, help="divide every window by this (drills); needs --out")
    gen.add_argument("--check", action="store_true", help="write nothing; fail if a generated file differs")
    args = gen.parse_args(argv)
    if args.shrink != 1.0 and args.out is None:
        gen.error("--shrink writes drill rules: give --out (the checked-in files keep real windows)")
    try:
        if args.check:
            stale = stale_repository(args.spec, ROOT)
            for path in stale:
                print(f"stale: {path} (run python -m generators)", file=sys.stderr)
            return 1 if stale else 0
        written = generate(args.spec, args.out, args.shrink) if args.out else write_repository(args.spec, ROOT)
        for path in written:
            print(path)
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def config(argv: list[str]) -> int:
    cfg = argparse.ArgumentParser(
        prog="python -m generators config", description="Render prometheus.yml for other targets."
    )
    cfg.add_argument("--service", action="append", help="host:port (repeatable)")
    cfg.add_argument("--loadgen", action="append", help="host:port (repeatable)")
    cfg.add_argument("--prometheus", action="append", help="host:port (repeatable)")
    cfg.add_argument("--alertmanager", action="append", help="host:port (repeatable)")
    cfg.add_argument("--rules", action="append", help="rule file glob, relative to the config (repeatable)")
    cfg.add_argument("--scrape-interval", default="15s")
    cfg.add_argument("--evaluation-interval", default="15s")
    cfg.add_argument("--out", type=Path, help="file to write (default: stdout)")

    args = cfg.parse_args(argv)
    defaults = PrometheusTargets()
    targets = PrometheusTargets(
        service=args.service or defaults.service,
        loadgen=args.loadgen or defaults.loadgen,
        prometheus=args.prometheus or defaults.prometheus,
        alertmanager=args.alertmanager or defaults.alertmanager,
        rule_files=args.rules or defaults.rule_files,
        scrape_interval=args.scrape_interval,
        evaluation_interval=args.evaluation_interval,
    )
    text = dump(prometheus_config(targets), source="python -m generators config")
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
