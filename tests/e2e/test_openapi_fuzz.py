"""Property-based API test: schemathesis, against the running service's own OpenAPI schema.

Every check is on: no 5xx, responses that match the schema, schema-valid requests accepted and
schema-violating ones refused. The CLI is used because its pytest plugin does not load under
pytest 9.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_schemathesis_finds_no_failure(service_url: str) -> None:
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{service_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "100",
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout
