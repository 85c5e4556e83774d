"""Every generated file, by path: what `python -m slo generate` writes and the freshness test compares."""

from __future__ import annotations

from pathlib import Path

from slo.operational import operational_groups
from slo.prometheus_config import COMPOSE, prometheus_config
from slo.promtool_tests import slo_test_files
from slo.rules import slo_groups
from slo.spec import load_spec
from slo.windows import Windows
from slo.yamlout import dump


def rendered(spec_path: Path, shrink: float = 1.0) -> dict[str, str]:
    """Relative path -> content. Shrunk output holds rules only (tests and config assume real windows)."""
    spec = load_spec(spec_path)
    windows = Windows(shrink)
    source = spec_path.name + (f" with windows shrunk {shrink:g}x" if shrink != 1 else "")
    files: dict[str, str] = {}
    for slo in spec.slos:
        groups = [g for g in slo_groups(spec, windows) if g["name"].endswith(f"-{spec.slo_id(slo)}")]
        files[f"rules/slo-{slo.name}.yml"] = dump({"groups": groups}, source)
    files["rules/operational.yml"] = dump({"groups": operational_groups(windows)}, "slo/operational.py")
    if shrink == 1:
        for slo in spec.slos:
            for suffix, (data, notes) in slo_test_files(spec, slo, f"../rules/slo-{slo.name}.yml").items():
                header = "".join(f"# Not tested: {n}.\n" for n in notes)
                files[f"tests/slo-{slo.name}.{suffix}.test.yml"] = header + dump(data, spec_path.name)
        files["prometheus.yml"] = dump(prometheus_config(), "slo/prometheus_config.py")
        files["prometheus.compose.yml"] = dump(prometheus_config(COMPOSE), "slo/prometheus_config.py (COMPOSE)")
    return files


def generate(spec_path: Path, out: Path, shrink: float = 1.0) -> list[Path]:
    written = []
    for rel, text in rendered(spec_path, shrink).items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def check(spec_path: Path, out: Path) -> list[Path]:
    """Paths whose content differs from what the spec generates now (missing ones included)."""
    stale = []
    for rel, text in rendered(spec_path).items():
        path = out / rel
        if not path.exists() or path.read_text() != text:
            stale.append(path)
    return stale
