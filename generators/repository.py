"""Every generated file, by path: what `python -m generators` writes and the freshness tests compare.

One spec, prometheus/slo.yaml, gives the Prometheus rules and configs, the promtool tests, the Grafana
dashboards and the Kubernetes objects: nothing restates a threshold by hand.
"""

from __future__ import annotations

from pathlib import Path

from generators import compose, k8s, paths
from generators.grafana.render import render as render_dashboards
from generators.grafana.service import check_admission_default
from generators.prometheus.config import COMPOSE, COMPOSE_TARGET, prometheus_config
from generators.prometheus.operational import operational_groups
from generators.prometheus.promtool_tests import slo_test_files
from generators.prometheus.slo_rules import slo_groups
from generators.yamlout import dump
from slo.spec import check_contract_routes, load_spec, load_specs
from slo.windows import Windows


def rendered(spec_path: Path, shrink: float = 1.0) -> dict[str, str]:
    """Relative path -> content. Shrunk output holds rules only (tests and config assume real windows).

    A file of several specs (Sloth's multi-document form) gives each SLO's files under its sloth_id, since two
    services may both have an SLO of the same name; a file of one spec names them by SLO name."""
    specs = load_specs(spec_path)
    windows = Windows(shrink)
    source = spec_path.name + (f" with windows shrunk {shrink:g}x" if shrink != 1 else "")
    files: dict[str, str] = {}
    for spec in specs:
        for slo in spec.slos:
            name = slo.name if len(specs) == 1 else spec.slo_id(slo)
            groups = [g for g in slo_groups(spec, windows) if g["name"].endswith(f"-{spec.slo_id(slo)}")]
            files[f"rules/slo-{name}.yml"] = dump({"groups": groups}, source)
            if shrink == 1:
                for suffix, (data, notes) in slo_test_files(spec, slo, f"../rules/slo-{name}.yml").items():
                    header = "".join(f"# Not tested: {n}.\n" for n in notes)
                    files[f"tests/slo-{name}.{suffix}.test.yml"] = header + dump(data, spec_path.name)
    files["rules/operational.yml"] = dump(
        {"groups": operational_groups(windows, specs)}, "generators/prometheus/operational.py"
    )
    if shrink == 1:
        files["prometheus.yml"] = dump(prometheus_config(), "generators/prometheus/config.py")
        files["prometheus.compose.yml"] = dump(prometheus_config(COMPOSE), "generators/prometheus/config.py (COMPOSE)")
        files["prometheus.compose-target.yml"] = dump(
            prometheus_config(COMPOSE_TARGET), "generators/prometheus/config.py (COMPOSE_TARGET)"
        )
    return files


GENERATED_README = """\
# Generated: do not edit

Everything in this folder is written by `python -m generators` from the SLO spec
(`prometheus/slo.yaml`) and the generators' code (`generators/`). Edit those, then regenerate;
a test fails when a file here differs from what the generators write.
"""


def repository_files(spec_path: Path) -> dict[str, str]:
    """Path relative to the repository -> content, for every file generated from the spec."""
    spec = load_spec(spec_path)
    check_contract_routes(spec)  # our spec's spelled-out route selectors are the contract's
    check_admission_default(spec)  # the service's default admission bound follows the spec
    files = {f"{paths.PROMETHEUS}/{rel}": text for rel, text in rendered(spec_path).items()}
    dashboards = render_dashboards(spec_path)
    files.update({f"{paths.DASHBOARDS}/{name}": text for name, text in dashboards.items()})
    k8s_files = k8s.render(load_spec(spec_path), dashboards)
    files.update({f"{paths.K8S_GENERATED}/{name}": text for name, text in k8s_files.items()})
    files[compose.TARGET_FILE] = compose.render(paths.ROOT)
    for folder in paths.GENERATED_FOLDERS:
        files[f"{folder}/README.md"] = GENERATED_README
    return files


def write_repository(spec_path: Path, root: Path) -> list[Path]:
    return _write(repository_files(spec_path), root)


def stale_repository(spec_path: Path, root: Path) -> list[Path]:
    """Generated files of the repository that differ from what the spec gives now (missing ones included)."""
    return [root / rel for rel, text in repository_files(spec_path).items() if _differs(root / rel, text)]


def _differs(path: Path, text: str) -> bool:
    return not path.exists() or path.read_text() != text


def _write(files: dict[str, str], root: Path) -> list[Path]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return [root / rel for rel in files]


def generate(spec_path: Path, out: Path, shrink: float = 1.0) -> list[Path]:
    """The Prometheus folder's files (rules only when shrunk) under `out`, and the dashboards under
    `out/dashboards` (not when shrunk: drills read the repository's; not for a file of several specs)."""
    files = rendered(spec_path, shrink)
    if shrink == 1 and len(load_specs(spec_path)) == 1:  # a dashboard shows one service
        files |= {f"dashboards/{name}": text for name, text in render_dashboards(spec_path).items()}
    return _write(files, out)
