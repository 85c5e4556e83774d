"""Property-based API test: schemathesis, against the running service's own OpenAPI schema.

Every check is on: no 5xx, responses that match the schema, schema-valid requests accepted and
schema-violating ones refused. The CLI is used because its pytest plugin does not load under
pytest 9. A second run has every request limit at its minimum (the settings' lower bounds): the limits
answer 4xx as documented, never a 5xx.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.settings import ServiceSettings
from tests import processes

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
LIMITS = (
    "max_batch_size",
    "max_body_bytes",
    "max_validation_errors",
    "max_url_bytes",
    "max_header_bytes",
    "max_headers",
)


def lower_bound(name: str) -> int:
    """The smallest value the setting accepts (its `ge`)."""
    (bound,) = [m.ge for m in ServiceSettings.model_fields[name].metadata if getattr(m, "ge", None) is not None]
    return int(bound)


@pytest.fixture(scope="module")
def minimal_limits_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {name: str(lower_bound(name)) for name in LIMITS}
    with processes.service(tmp_path_factory.mktemp("minimal-limits"), **settings) as url:
        yield url


#: 413 is a rejection too (schemathesis' default list leaves it out): a batch over the schema's `maxItems` (the
#: batch maximum) is refused with it, and with the body limit at 1 KiB, so is many a schema-violating body.
REJECTIONS_WITH_413 = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
"""


def schemathesis(url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    config = tmp / "schemathesis.toml"
    config.write_text(REJECTIONS_WITH_413)
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{url}/openapi.json",
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


def test_schemathesis_finds_no_failure(service_url: str, tmp_path: Path) -> None:
    result = schemathesis(service_url, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout


def test_schemathesis_finds_no_failure_with_every_limit_at_its_minimum(minimal_limits_url: str, tmp_path: Path) -> None:
    assert lower_bound("max_batch_size") == 1 and lower_bound("max_body_bytes") == 1024
    result = schemathesis(minimal_limits_url, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout
