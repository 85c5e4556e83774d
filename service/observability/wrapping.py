"""Layers around an app's whole middleware stack, which Starlette builds at the first request.

`add_middleware` can only put a layer inside Starlette's outermost ServerErrorMiddleware and its own
exception layer; admission and the server span must see every request, whatever answers it, so they wrap
the stack the app builds (`build_middleware_stack`), each at its depth.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp


def wrap_stack(app: Starlette, wrap: Callable[[ASGIApp], ASGIApp], *, outermost: bool = False) -> None:
    """`wrap` the app's middleware stack when it is built: just inside Starlette's outermost ServerErrorMiddleware
    (whose 500 answers an exception raised in the wrapping layer), or, `outermost`, around it."""
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build()
        if not outermost and isinstance(stack, ServerErrorMiddleware):
            stack.app = wrap(stack.app)
            return stack
        return wrap(stack)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
