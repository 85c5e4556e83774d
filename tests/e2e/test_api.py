"""The API over real HTTP (uvicorn's parsing, real sockets); every rule in-process: tests/unit/service/test_api.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from contract import routes
from contract.schemas import EXAMPLE_RECORD

RECORD = dict(EXAMPLE_RECORD)


def test_predict_over_http(client: httpx.Client) -> None:
    r = client.post(routes.PREDICT, json=RECORD)
    assert r.status_code == 200
    assert r.json()["model_version"] == client.get(routes.MODEL_INFO).json()["version"]
    assert client.get(routes.READYZ).json() == {"status": "ready"}


def test_malformed_json_is_400(client: httpx.Client) -> None:
    r = client.post(routes.PREDICT, content=b'{"age": 42,', headers={"content-type": "application/json"})
    assert (r.status_code, "malformed JSON" in r.json()["detail"]) == (400, True)


def test_oversized_bodies_are_413_declared_or_chunked(client: httpx.Client) -> None:
    body = json.dumps({**RECORD, "padding": "x" * 70_000})
    assert client.post(routes.PREDICT, content=body, headers={"content-type": "application/json"}).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"records": ['
        for _ in range(2000):
            yield json.dumps(RECORD).encode() + b","
        yield b"]}"

    r = client.post(routes.PREDICT_BATCH, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
