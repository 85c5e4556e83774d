"""The API over real HTTP: every endpoint, every validation rule, the 400 and 413 cases."""

from __future__ import annotations

import json

import httpx
import pytest

from contract.schemas import EXAMPLE_RECORD

RECORD = dict(EXAMPLE_RECORD)


def test_predict_returns_charges_and_version(client: httpx.Client) -> None:
    r = client.post("/v1/predict", json=RECORD)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"charges", "model_version"}
    assert 1000 < body["charges"] < 70000
    assert body["model_version"] == client.get("/v1/model").json()["version"]


def test_smoker_costs_more(client: httpx.Client) -> None:
    plain = client.post("/v1/predict", json=RECORD).json()["charges"]
    smoker = client.post("/v1/predict", json={**RECORD, "smoker": True}).json()["charges"]
    assert smoker > plain * 1.5


def test_batch_answers_in_order(client: httpx.Client) -> None:
    records = [{**RECORD, "age": age} for age in (20, 40, 60)]
    singles = [client.post("/v1/predict", json=r).json()["charges"] for r in records]
    r = client.post("/v1/predict/batch", json={"records": records})
    assert r.status_code == 200
    assert [p["charges"] for p in r.json()["predictions"]] == pytest.approx(singles, rel=1e-6)


def test_original_route_rounds_to_cents(client: httpx.Client) -> None:
    r = client.post("/api/models/insurance_charges_model/prediction", json=RECORD)
    assert r.status_code == 200
    (charges,) = r.json().values()
    assert charges == round(charges, 2)
    assert charges == pytest.approx(client.post("/v1/predict", json=RECORD).json()["charges"], abs=0.005)


def test_model_metadata(client: httpx.Client) -> None:
    meta = client.get("/v1/model").json()
    assert meta["name"] == "insurance_charges_model"
    assert meta["version"].startswith("gbr-")
    assert len(meta["data"]["sha256"]) == 64
    assert meta["metrics"]["held_out"]["r2"] >= 0.85
    assert {"trained_at", "features", "input_schema"} <= set(meta)


def test_probes(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("age", 17),
        ("age", 66),
        ("age", 30.5),
        ("age", "thirty"),
        ("age", "42"),
        ("age", True),
        ("sex", "other"),
        ("bmi", 14.9),
        ("bmi", 50.1),
        ("bmi", "fat"),
        ("children", -1),
        ("children", 6),
        ("children", 1.5),
        ("smoker", "maybe"),
        ("region", "south"),
        ("region", None),
    ],
)
def test_each_rule_names_its_field(client: httpx.Client, field: str, value: object) -> None:
    r = client.post("/v1/predict", json={**RECORD, field: value})
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == [field]
    assert field in r.json()["message"]


@pytest.mark.parametrize("field", sorted(RECORD))
def test_missing_field_is_named(client: httpx.Client, field: str) -> None:
    record = {k: v for k, v in RECORD.items() if k != field}
    r = client.post("/v1/predict", json=record)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == field


def test_unknown_field_rejected(client: httpx.Client) -> None:
    r = client.post("/v1/predict", json={**RECORD, "income": 1})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "income"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_rejected(client: httpx.Client, literal: str) -> None:
    body = json.dumps(RECORD).replace('"bmi": 24.3', f'"bmi": {literal}')
    r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "bmi"


@pytest.mark.parametrize(
    "route", ["/v1/predict", "/v1/predict/batch", "/api/models/insurance_charges_model/prediction"]
)
def test_malformed_json_is_400(client: httpx.Client, route: str) -> None:
    r = client.post(route, content=b'{"age": 42,', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["detail"]


def test_oversized_body_is_413(client: httpx.Client) -> None:
    body = json.dumps({**RECORD, "padding": "x" * 70_000})
    r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_oversized_chunked_body_is_413(client: httpx.Client) -> None:
    def chunks():
        yield b'{"records": ['
        for _ in range(2000):
            yield json.dumps(RECORD).encode() + b","
        yield b"]}"

    r = client.post("/v1/predict/batch", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_batch_over_maximum_is_413_naming_records(client: httpx.Client) -> None:
    r = client.post("/v1/predict/batch", json={"records": [RECORD] * 257})
    assert r.status_code == 413
    assert "records" in r.json()["detail"]


def test_empty_batch_is_422(client: httpx.Client) -> None:
    r = client.post("/v1/predict/batch", json={"records": []})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "records"


def test_bad_record_in_batch_names_its_index(client: httpx.Client) -> None:
    r = client.post("/v1/predict/batch", json={"records": [RECORD, {**RECORD, "bmi": 99}]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "records.1.bmi"
