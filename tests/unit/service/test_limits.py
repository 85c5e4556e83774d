"""Bounded work per request, in-process: the batch cap before validation, the validation errors listed, the
routes faults cannot target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from contract import routes
from contract.schemas import EXAMPLE_RECORD
from service.faults import UNFAULTABLE, FaultConfig
from service.settings import ServiceSettings
from tests.unit.service.conftest import LogCapture, Serve

pytestmark = pytest.mark.anyio
RECORD = dict(EXAMPLE_RECORD)
ADMIN = {"Authorization": "Bearer s3cret"}
JSON = {"content-type": "application/json"}


def empty_records_body(size: int) -> bytes:
    """The amplification attack: `{"records": [{},{},...]}`, six missing fields per 3 bytes."""
    n = (size - len(b'{"records":[]}')) // 3
    return b'{"records":[' + b",".join([b"{}"] * n) + b"]}"


async def test_a_batch_over_the_maximum_is_refused_before_its_records_are_validated(
    serve: Serve, log: LogCapture
) -> None:
    body = empty_records_body(48_000)
    before = REGISTRY.get_sample_value("model_validation_errors_total", {"field": "records"}) or 0.0
    async with serve() as c:
        r = await c.post(routes.PREDICT_BATCH, content=body, headers=JSON)
    assert r.status_code == 413
    assert r.json() == {"detail": "records: batch of 15995 exceeds the maximum of 256 (SERVICE_MAX_BATCH_SIZE)"}
    (line,) = log.requests()
    assert line["invalid_fields"] == ["records"] and len(json.dumps(line)) < 4096
    assert (REGISTRY.get_sample_value("model_validation_errors_total", {"field": "records"}) or 0.0) - before == 1


async def test_the_batch_maximum_is_a_setting(serve: Serve) -> None:
    async with serve(max_batch_size=2) as c:
        assert (await c.post(routes.PREDICT_BATCH, json={"records": [RECORD] * 2})).status_code == 200
        r = await c.post(routes.PREDICT_BATCH, json={"records": [RECORD] * 3})
    assert (r.status_code, r.json()["detail"]) == (
        413,
        "records: batch of 3 exceeds the maximum of 2 (SERVICE_MAX_BATCH_SIZE)",
    )


async def test_validation_errors_are_listed_up_to_the_limit_and_the_rest_counted(serve: Serve, log: LogCapture) -> None:
    """256 records, each with 30 unknown fields and 6 missing ones: 9,216 errors, 20 listed, the rest counted."""
    record = {f"x{i}": 0 for i in range(30)}
    body = json.dumps({"records": [record] * 256}, separators=(",", ":")).encode()
    assert 40_000 < len(body) < 65_536
    before = REGISTRY.get_sample_value("model_validation_errors_total", {"field": "other"}) or 0.0
    async with serve() as c:
        r = await c.post(routes.PREDICT_BATCH, content=body, headers=JSON)
    assert r.status_code == 422
    assert len(r.content) < 16_384
    answer = r.json()
    assert len(answer["detail"]) == 20
    assert answer["message"].endswith("and 9196 more error(s) not listed (SERVICE_MAX_VALIDATION_ERRORS=20)")
    (line,) = log.requests()
    assert len(line["invalid_fields"]) == 20 and line["invalid_fields_more"] == 9196
    assert len(json.dumps(line)) < 4096
    # Every error is still counted (in bounded labels): 30 unknown fields per record fold into "other".
    assert (REGISTRY.get_sample_value("model_validation_errors_total", {"field": "other"}) or 0.0) - before == 30 * 256


async def test_the_validation_error_limit_is_a_setting(serve: Serve) -> None:
    async with serve(max_validation_errors=1) as c:
        r = await c.post(routes.PREDICT, json={})
    assert (r.status_code, len(r.json()["detail"])) == (422, 1)
    assert "and 5 more error(s)" in r.json()["message"]


@pytest.mark.parametrize("route", sorted(UNFAULTABLE))
async def test_the_admin_endpoint_probes_and_metrics_cannot_be_fault_targets(serve: Serve, route: str) -> None:
    async with serve(admin_token="s3cret") as c:
        r = await c.post(routes.ADMIN_FAULTS, json={"routes": {route: {"error_rate": 1.0}}}, headers=ADMIN)
        assert r.status_code == 422
        assert route in r.json()["message"] and r.json()["detail"][0]["field"] == "routes"
        # Nothing was set: the admin endpoint still answers, and clears.
        assert (await c.get(routes.ADMIN_FAULTS, headers=ADMIN)).json() == {"routes": {}}
        assert (await c.get(route if route != routes.ADMIN_FAULTS else routes.HEALTHZ)).status_code != 500


def test_the_start_up_faults_cannot_target_them_either() -> None:
    with pytest.raises(ValueError, match="/admin/faults"):
        FaultConfig.model_validate({"routes": {routes.ADMIN_FAULTS: {"error_rate": 1.0}}})


def test_the_admin_token_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "admin_token"
    secret.write_text("from-a-file\n")
    assert ServiceSettings(admin_token="env", admin_token_file=secret).admin_token == "from-a-file"
    with pytest.raises(ValueError, match="admin_token_file: cannot read"):
        ServiceSettings(admin_token_file=tmp_path / "missing")
