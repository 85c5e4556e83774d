"""Import boundaries: each deployable loads only what it runs, and imports between our packages point one way.

Why: the service image has no scikit-learn and the loadgen image no FastAPI or onnxruntime (see pyproject's
extras); an import across a boundary would fail there, not here, unless a test looks. docs/architecture.md draws
the graph; this file is the truth.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.processes import ROOT

PROJECT = frozenset({"common", "contract", "service", "loadgen", "slo", "generators", "stack", "bench", "tests"})

# Which of our packages each package may import (besides itself). bench may import anything but tests; tests may
# import anything, so they have no entry here.
ALLOWED: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "contract": frozenset({"common"}),
    "service": frozenset({"common", "contract"}),
    # The spec model gives `loadgen run --slo` its thresholds: the load test and the alerts read one file. The
    # loadgen names no contract module: a workload names the insurance generator by its import path.
    "loadgen": frozenset({"common", "slo"}),
    "slo": frozenset({"common", "contract"}),
    "generators": frozenset({"common", "contract", "slo"}),
    "stack": frozenset({"common", "contract", "slo", "generators"}),
    "bench": PROJECT - {"tests"},
}

# What a fresh interpreter must not load when it imports an entry point: (modules to import, forbidden packages).
SERVING = ("service", "service.app", "service.__main__")
LOADGEN = ("loadgen", "loadgen.__main__", "loadgen.daemon", "loadgen.runner")
CONTRACT = ("contract", *sorted(f"contract.{p.stem}" for p in (ROOT / "contract").glob("*.py") if p.stem != "__init__"))
FORBIDDEN: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "service": (SERVING, frozenset({"sklearn", "skl2onnx", "scipy", "generators", "stack", "loadgen", "tests"})),
    "loadgen": (
        LOADGEN,
        # contract (this project's service) only for a workload that names its generator; slo only for --slo
        frozenset(
            {"fastapi", "starlette", "onnxruntime", "sklearn", "contract", "slo", "service", "generators", "stack"}
        ),
    ),
}
# contract's only third-party dependency is pydantic, with the packages pydantic itself loads (and common, ours).
CONTRACT_MAY_LOAD = frozenset(
    {"common", "contract", "pydantic", "pydantic_core", "typing_extensions", "annotated_types", "typing_inspection"}
)


PROBE = "import sys; before = set(sys.modules); import {}; print(' '.join(set(sys.modules) - before))"


@pytest.fixture(scope="module")
def loaded() -> dict[str, set[str]]:
    """Per probe, the top-level names of the modules a fresh interpreter has after importing its entry points,
    less its start-up's own. The interpreters run side by side: each pays for a cold import."""
    probes = {name: modules for name, (modules, _) in FORBIDDEN.items()} | {"contract": CONTRACT}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", PROBE.format(", ".join(modules))],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, modules in probes.items()
    }
    result = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"importing {', '.join(probes[name])} failed:\n{err}"
        result[name] = {module.split(".")[0] for module in out.split()}
    return result


@pytest.mark.parametrize("deployable", sorted(FORBIDDEN))
def test_entry_points_load_nothing_forbidden(deployable: str, loaded: dict[str, set[str]]) -> None:
    modules, forbidden = FORBIDDEN[deployable]
    assert deployable in loaded[deployable]  # the probe imported what it names
    assert not loaded[deployable] & forbidden, (
        f"importing {', '.join(modules)} loads {sorted(loaded[deployable] & forbidden)}"
    )


def test_contract_loads_only_pydantic_and_the_standard_library(loaded: dict[str, set[str]]) -> None:
    assert "pydantic" in loaded["contract"]
    # _sysconfigdata_* is the standard library's, named for the platform.
    foreign = {m for m in loaded["contract"] - sys.stdlib_module_names if not m.startswith("_sysconfigdata_")}
    assert foreign <= CONTRACT_MAY_LOAD, f"contract loads {sorted(foreign - CONTRACT_MAY_LOAD)}"


def imported_packages(source: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level name) of every absolute import in a file, at any depth (lazy imports count too)."""
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def crossings(package: str) -> list[str]:
    """Imports of our packages that `package` may not make, as path:line -> name."""
    allowed = ALLOWED[package] | {package}
    return [
        f"{path.relative_to(ROOT)}:{line} -> {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in imported_packages(path)
        if name in PROJECT and name not in allowed
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    assert any((ROOT / package).rglob("*.py"))  # the package is where the check looks
    assert crossings(package) == []


def test_the_import_check_sees_lazy_imports(tmp_path: Path) -> None:
    # The check must fail on an import inside a function, the kind a lazy import hides from a fresh interpreter.
    source = tmp_path / "lazy.py"
    source.write_text("from .sibling import x\n\ndef f():\n    from service.app import create_app\n")
    assert list(imported_packages(source)) == [(4, "service")]
