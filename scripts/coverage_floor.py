"""Fail when any module's line coverage is under the floor: pytest-cov's --cov-fail-under checks the total only.

Usage: python scripts/coverage_floor.py COVERAGE_JSON [--floor 70]   (the JSON from --cov-report=json:PATH)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def under_floor(report: dict[str, Any], floor: float) -> dict[str, float]:
    """Module path -> percent covered, for the modules under the floor (an empty module counts as covered)."""
    percents = {path: data["summary"]["percent_covered"] for path, data in report["files"].items()}
    return {path: pct for path, pct in sorted(percents.items()) if pct < floor}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--floor", type=float, default=70.0)
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    low = under_floor(report, args.floor)
    for path, pct in low.items():
        print(f"coverage: {path} {pct:.1f}% < {args.floor:.0f}%")
    print(f"coverage: {len(report['files']) - len(low)} of {len(report['files'])} modules at or over {args.floor:.0f}%")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
