"""python -m slo.grafana: write grafana/dashboards/*.json from code and the SLO spec."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from slo.grafana import load, model, service, slo_overview, spec

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT / "prometheus" / "slo.yaml"
DEFAULT_OUT = ROOT / "grafana" / "dashboards"


def render(spec_path: Path = DEFAULT_SPEC) -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    dashboards = {
        "slo-overview.json": slo_overview.build(spec.load(spec_path)),
        "service.json": service.build(),
        "model.json": model.build(),
        "load.json": load.build(),
    }
    return {name: _to_json(d) for name, d in dashboards.items()}


def _to_json(dashboard: Dashboard) -> str:
    data = json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))
    for number, panel in enumerate(data["panels"], start=1):  # stable ids: Grafana links panels by id
        panel["id"] = number
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slo.grafana", description=__doc__)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="SLO spec (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render(args.spec).items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
