"""The load generator runs against any HTTP server with nothing of this project's service loaded: a short
bounded `loadgen run` with a JSONL workload, in a fresh interpreter, against a tiny server on loopback; then no
`contract` module and no insurance module is in sys.modules (they load only for a workload that names the
insurance generator, which the same probe shows)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stack.processes import ROOT
from tests.unit.loadgen.raw_http import server_thread

PROBE = """
import json, sys
from loadgen.__main__ import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "contract" or "insurance" in m)
print(json.dumps({"code": code, "loaded": loaded}))
"""


def probe(*argv: str) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", PROBE, "run", *argv], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return doc


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    (tmp_path / "bodies.jsonl").write_text('{"inputs": [1, 2]}\n{"inputs": [3, 4]}\n')
    path = tmp_path / "workload.yaml"
    path.write_text("- {name: score, path: /v1/score, body: {jsonl: bodies.jsonl}}\n")
    return path


def test_a_jsonl_workload_loads_nothing_of_the_insurance_service(workload: Path, tmp_path: Path) -> None:
    with server_thread() as server:
        flags = ("--target", server.url, "--rate", "200", "--requests", "20", "--quiet", "--workers", "1")
        own = probe(*flags, "--workload", str(workload), "--out", str(tmp_path / "own"))
        insurance = probe(*flags, "--out", str(tmp_path / "insurance"))  # the default workload: insurance
    assert own == {"code": 0, "loaded": []}
    doc = json.loads((tmp_path / "own" / "results.json").read_text())
    assert doc["completed"] == 20 and doc["routes"] == {"score": {"200": 20}}
    bodies = {r.partition(b"\r\n\r\n")[2] for r in server.requests[:20]}
    assert bodies == {b'{"inputs": [1, 2]}', b'{"inputs": [3, 4]}'} and b"POST /v1/score " in server.requests[0]
    # The same probe sees the insurance modules when a workload names their generator: it can fail.
    assert insurance["code"] == 0 and "contract.workload" in insurance["loaded"]  # type: ignore[operator]
