"""A shorter request path for the JSON prediction endpoints, with FastAPI's contract unchanged.

FastAPI's generic handler reads the body, decodes it with the standard json module, solves the
endpoint's dependencies, validates the dict, calls the endpoint, then validates its return value
against the response model again and serializes it: on the 2-core development machine about as
much CPU as the model and the HTTP server together (bench/overhead.py). For an endpoint of the
form `async def f(body: SomeModel, request: Request) -> dict` (the Request parameter optional, under
any name), `JSONBodyRoute` does instead: one
`SomeModel.model_validate_json(body)` (parsing and validation in one pass, in Rust), the call,
and orjson for the returned dict (built by our code from validated values, so re-validating it
proves nothing). The route, its OpenAPI description and its errors stay FastAPI's: a validation
failure is the same RequestValidationError (loc starting with "body"), handled by
service/errors.py; a body that is empty or not declared as JSON is refused as FastAPI refuses it.
Any other endpoint shape gets FastAPI's own handler.

`app.state.body_models` may replace an endpoint's declared model with a stricter one built from the
settings (service/api.py: the batch model whose list length is capped), so that a limit known only at
start is checked while parsing, before anything else is spent on the records.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

NO_OVERRIDES: dict[type[BaseModel], type[BaseModel]] = {}
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
#: FastAPI's error for a body that is not a JSON object (pydantic's JSON mode words it differently).
NOT_AN_OBJECT = {
    "type": "model_attributes_type",
    "loc": ("body",),
    "msg": "Input should be a valid dictionary or object to extract fields from",
}


def _json_declared(content_type: str | None) -> bool:
    """FastAPI's strict content type rule: application/json or application/*+json."""
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


class Shape(typing.NamedTuple):
    """The endpoint's parameters: one body model, and at most one Request."""

    body: str
    model: type[BaseModel]
    request: str | None


def _shape(endpoint: Callable[..., Any]) -> Shape | None:
    """The endpoint's body and Request parameters, if it has one body model and nothing but a Request else."""
    hints = typing.get_type_hints(endpoint)
    body: tuple[str, type[BaseModel]] | None = None
    request: str | None = None
    for name in inspect.signature(endpoint).parameters:
        hint = hints.get(name)
        if hint is Request and request is None:
            request = name
        elif inspect.isclass(hint) and issubclass(hint, BaseModel) and body is None:
            body = (name, hint)
        else:
            return None
    return None if body is None else Shape(*body, request)


def _as_fastapi(error: Any) -> dict[str, Any]:
    """A pydantic error as FastAPI reports it for a body: located under "body"."""
    if error["type"] == "model_type" and not error["loc"]:
        return NOT_AN_OBJECT
    return {**error, "loc": ("body", *error["loc"])}


class JSONBodyRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        shape = _shape(self.endpoint) if inspect.iscoroutinefunction(self.endpoint) else None
        if shape is None:
            return super().get_route_handler()
        name, model, request_param = shape
        endpoint = self.endpoint
        status_code = self.status_code or 200

        async def handler(request: Request) -> Response:
            strict: type[BaseModel] = getattr(request.app.state, "body_models", NO_OVERRIDES).get(model, model)
            body = await request.body()
            if not body:
                raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
            if not _json_declared(request.headers.get("content-type")):
                raise RequestValidationError([NOT_AN_OBJECT])
            try:
                value = strict.model_validate_json(body)
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_input=False)
                raise RequestValidationError([_as_fastapi(e) for e in errors]) from None
            kwargs: dict[str, Any] = {name: value}
            if request_param is not None:
                kwargs[request_param] = request
            result = await endpoint(**kwargs)
            if isinstance(result, Response):
                return result
            return Response(orjson.dumps(result), status_code=status_code, media_type="application/json")

        return handler
