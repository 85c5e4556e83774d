"""The API in-process: every endpoint, every validation rule, the 400 and 413 cases, the OpenAPI entries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from contract import routes
from contract.schemas import EXAMPLE_RECORD
from tests.unit.service.conftest import Serve

pytestmark = pytest.mark.anyio
RECORD = dict(EXAMPLE_RECORD)


@pytest.fixture
async def client(serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve() as c:
        yield c


async def test_predict_returns_charges_and_version(client: httpx.AsyncClient) -> None:
    r = await client.post(routes.PREDICT, json=RECORD)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"charges", "model_version"}
    assert 1000 < body["charges"] < 70000
    assert body["model_version"] == (await client.get(routes.MODEL_INFO)).json()["version"]


async def test_smoker_costs_more(client: httpx.AsyncClient) -> None:
    plain = (await client.post(routes.PREDICT, json=RECORD)).json()["charges"]
    smoker = (await client.post(routes.PREDICT, json={**RECORD, "smoker": True})).json()["charges"]
    assert smoker > plain * 1.5


async def test_batch_answers_in_order(client: httpx.AsyncClient) -> None:
    records = [{**RECORD, "age": age} for age in (20, 40, 60)]
    singles = [(await client.post(routes.PREDICT, json=r)).json()["charges"] for r in records]
    r = await client.post(routes.PREDICT_BATCH, json={"records": records})
    assert r.status_code == 200
    assert [p["charges"] for p in r.json()["predictions"]] == pytest.approx(singles, rel=1e-6)


async def test_original_route_rounds_to_cents(client: httpx.AsyncClient) -> None:
    r = await client.post(routes.PREDICT_ORIGINAL, json=RECORD)
    assert r.status_code == 200
    (charges,) = r.json().values()
    assert charges == round(charges, 2)
    single = (await client.post(routes.PREDICT, json=RECORD)).json()["charges"]
    assert charges == pytest.approx(single, abs=0.005)


async def test_model_metadata(client: httpx.AsyncClient) -> None:
    meta = (await client.get(routes.MODEL_INFO)).json()
    assert meta["name"] == routes.MODEL_NAME
    assert meta["version"].startswith("gbr-")
    assert len(meta["data"]["sha256"]) == 64
    assert {"trained_at", "features", "input_schema", "metrics"} <= set(meta)


async def test_probes(client: httpx.AsyncClient) -> None:
    assert (await client.get(routes.HEALTHZ)).json() == {"status": "ok"}
    assert (await client.get(routes.READYZ)).json() == {"status": "ready"}


async def test_readyz_says_loading_outside_the_lifespan(serve: Serve) -> None:
    from service.app import create_app
    from service.settings import ServiceSettings

    app = create_app(ServiceSettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://service") as c:
        r = await c.get(routes.READYZ)
    assert (r.status_code, r.json()) == (503, {"status": "loading"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("age", 17), ("age", 66), ("age", 30.5), ("age", "thirty"), ("age", "42"), ("age", True),
        ("sex", "other"), ("bmi", 14.9), ("bmi", 50.1), ("bmi", "fat"), ("children", -1), ("children", 6),
        ("children", 1.5), ("smoker", "maybe"), ("region", "south"), ("region", None),
    ],
)  # fmt: skip
async def test_each_rule_names_its_field(client: httpx.AsyncClient, field: str, value: object) -> None:
    r = await client.post(routes.PREDICT, json={**RECORD, field: value})
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == [field]
    assert field in r.json()["message"]


@pytest.mark.parametrize("field", sorted(RECORD))
async def test_missing_field_is_named(client: httpx.AsyncClient, field: str) -> None:
    r = await client.post(routes.PREDICT, json={k: v for k, v in RECORD.items() if k != field})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == field


async def test_unknown_field_rejected(client: httpx.AsyncClient) -> None:
    r = await client.post(routes.PREDICT, json={**RECORD, "income": 1})
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "income")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_rejected(client: httpx.AsyncClient, literal: str) -> None:
    body = json.dumps(RECORD).replace('"bmi": 24.3', f'"bmi": {literal}')
    assert literal in body
    r = await client.post(routes.PREDICT, content=body, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "bmi")


@pytest.mark.parametrize("route", routes.PREDICTION_ROUTES)
async def test_malformed_json_is_400(client: httpx.AsyncClient, route: str) -> None:
    r = await client.post(route, content=b'{"age": 42,', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["detail"]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = json.dumps({**RECORD, "padding": "x" * 70_000})
    r = await client.post(routes.PREDICT, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"records": ['
        for _ in range(2000):
            yield json.dumps(RECORD).encode() + b","
        yield b"]}"

    r = await client.post(routes.PREDICT_BATCH, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_a_small_chunked_body_is_replayed_whole(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = json.dumps(RECORD).encode()
        yield body[:10]
        yield body[10:]

    r = await client.post(routes.PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 200


async def test_batch_over_maximum_is_413_naming_records(client: httpx.AsyncClient) -> None:
    r = await client.post(routes.PREDICT_BATCH, json={"records": [RECORD] * 257})
    assert r.status_code == 413
    assert "records" in r.json()["detail"]


async def test_empty_batch_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(routes.PREDICT_BATCH, json={"records": []})
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "records")


async def test_bad_record_in_batch_names_its_index(client: httpx.AsyncClient) -> None:
    r = await client.post(routes.PREDICT_BATCH, json={"records": [RECORD, {**RECORD, "bmi": 99}]})
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "records.1.bmi")


async def test_openapi_documents_shedding_not_a_model_loading_state(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for route in routes.PREDICTION_ROUTES:
        assert "Retry-After" in paths[route]["post"]["responses"]["503"]["description"]
    assert "503" not in paths[routes.MODEL_INFO]["get"]["responses"]
