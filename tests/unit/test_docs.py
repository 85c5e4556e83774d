"""The README's settings tables match the settings objects."""

from __future__ import annotations

import re

from loadgen.settings import LoadgenSettings
from service.settings import ServiceSettings
from tests.processes import ROOT


def documented(prefix: str) -> set[str]:
    readme = (ROOT / "README.md").read_text()
    return set(re.findall(rf"^\| `({prefix}[A-Z_]+)` \|", readme, flags=re.MULTILINE))


def test_every_service_setting_is_documented() -> None:
    fields = {f"SERVICE_{name.upper()}" for name in ServiceSettings.model_fields}
    assert documented("SERVICE_") == fields


def test_every_loadgen_setting_is_documented() -> None:
    fields = {f"LOADGEN_{name.upper()}" for name in LoadgenSettings.model_fields}
    assert documented("LOADGEN_") == fields
