"""JSONBodyRoute: FastAPI's contract (errors, OpenAPI, Request parameter) on the short path, every error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from service import fast_route
from service.fast_route import JSONBodyRoute

pytestmark = pytest.mark.anyio


class Item(BaseModel):
    name: str
    count: int


def make_app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.post("/named-req")
    async def named_req(body: Item, req: Request) -> dict[str, Any]:
        return {"name": body.name, "path": req.url.path}

    @router.post("/request-first")
    async def request_first(request: Request, item: Item) -> dict[str, Any]:
        return {"name": item.name, "path": request.url.path}

    @router.post("/no-request", status_code=201)
    async def no_request(item: Item) -> dict[str, Any]:
        return {"count": item.count}

    @router.post("/response")
    async def response(item: Item) -> Response:
        return Response(item.name, media_type="text/plain")

    @router.post("/two-bodies")
    async def two_bodies(a: Item, b: Item) -> dict[str, Any]:
        return {"a": a.name, "b": b.name}

    @router.post("/sync")
    def sync(item: Item) -> dict[str, Any]:
        return {"count": item.count}

    app = FastAPI()
    app.include_router(router)

    async def errors(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"errors": [{"type": e["type"], "loc": list(e["loc"])} for e in exc.errors()]}, 422)

    app.add_exception_handler(RequestValidationError, errors)  # type: ignore[arg-type]
    return app


@pytest.fixture(params=["fast", "fastapi"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The same endpoints on JSONBodyRoute and on FastAPI's APIRoute: every answer must be the same."""
    app = make_app(JSONBodyRoute if request.param == "fast" else APIRoute)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        yield c


ITEM = {"name": "x", "count": 2}


async def test_the_request_parameter_is_passed_under_any_name(client: httpx.AsyncClient) -> None:
    r = await client.post("/named-req", json=ITEM)
    assert (r.status_code, r.json()) == (200, {"name": "x", "path": "/named-req"})
    r = await client.post("/request-first", json=ITEM)
    assert (r.status_code, r.json()) == (200, {"name": "x", "path": "/request-first"})


async def test_status_code_response_objects_and_other_shapes(client: httpx.AsyncClient) -> None:
    r = await client.post("/no-request", json=ITEM)
    assert (r.status_code, r.json(), r.headers["content-type"]) == (201, {"count": 2}, "application/json")
    r = await client.post("/response", json=ITEM)
    assert (r.status_code, r.text) == (200, "x")
    assert (await client.post("/sync", json=ITEM)).json() == {"count": 2}
    both = {"a": ITEM, "b": {**ITEM, "name": "y"}}
    assert (await client.post("/two-bodies", json=both)).json() == {"a": "x", "b": "y"}


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (b"", "application/json", [{"type": "missing", "loc": ["body"]}]),
        (b'{"name": "x", "count": 2}', "text/plain", [{"type": "model_attributes_type", "loc": ["body"]}]),
        (b'{"name": "x", "count": 2}', None, [{"type": "model_attributes_type", "loc": ["body"]}]),
        (b"[1, 2]", "application/json", [{"type": "model_attributes_type", "loc": ["body"]}]),
        (b'"text"', "application/json", [{"type": "model_attributes_type", "loc": ["body"]}]),
        (b'{"name": "x"}', "application/json", [{"type": "missing", "loc": ["body", "count"]}]),
        (b'{"name": "x", "count": "z"}', "application/a+json", [{"type": "int_parsing", "loc": ["body", "count"]}]),
    ],
)  # fmt: skip
async def test_every_error_is_fastapi_s(
    client: httpx.AsyncClient, content: bytes, content_type: str | None, expected: list[dict[str, Any]]
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = await client.post("/no-request", content=content, headers=headers)
    assert (r.status_code, r.json()["errors"]) == (422, expected)


async def test_malformed_json_is_a_json_invalid_error(client: httpx.AsyncClient) -> None:
    r = await client.post("/no-request", content=b'{"name": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert [e["type"] for e in r.json()["errors"]] == ["json_invalid"]


async def test_the_short_path_is_taken_for_its_shape_only(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str | None] = []
    declared = fast_route._json_declared

    def spy(content_type: str | None) -> bool:
        checked.append(content_type)
        return declared(content_type)

    monkeypatch.setattr(fast_route, "_json_declared", spy)
    app = make_app(JSONBodyRoute)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        for path in ("/named-req", "/request-first", "/no-request"):
            assert (await c.post(path, json=ITEM)).status_code in (200, 201)
        assert checked == ["application/json"] * 3
        await c.post("/two-bodies", json={"a": ITEM, "b": ITEM})
        await c.post("/sync", json=ITEM)
    assert len(checked) == 3  # FastAPI's own handler for the other shapes


def test_the_openapi_is_fastapi_s() -> None:
    assert make_app(JSONBodyRoute).openapi() == make_app(APIRoute).openapi()
