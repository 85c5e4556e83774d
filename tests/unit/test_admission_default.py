"""The service's default admission bound follows the SLO spec's strictest latency threshold, through the contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import admission
from generators.grafana.service import check_admission_default
from service.settings import ServiceSettings
from slo.spec import SpecError, load_spec

SPEC = Path(__file__).resolve().parents[2] / "prometheus" / "slo.yaml"


def test_the_contract_holds_the_spec_s_strictest_threshold() -> None:
    spec = load_spec(SPEC)
    strictest = min(s.latency_threshold_seconds for s in spec.slos if s.latency_threshold_seconds is not None)
    assert strictest == admission.STRICTEST_LATENCY_SLO_SECONDS
    check_admission_default(spec)
    assert ServiceSettings().queue_delay_limit_seconds == strictest * admission.QUEUE_DELAY_SHARE
    assert ServiceSettings(max_queue_delay_ms=0).queue_delay_limit_seconds == 0
    assert ServiceSettings(max_queue_delay_ms=20).queue_delay_limit_seconds == 0.02


def test_the_generator_refuses_a_spec_that_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "STRICTEST_LATENCY_SLO_SECONDS", 0.25)
    with pytest.raises(SpecError, match=r"STRICTEST_LATENCY_SLO_SECONDS is 0\.25: update it"):
        check_admission_default(load_spec(SPEC))
