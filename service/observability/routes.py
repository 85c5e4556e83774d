"""Route templates: the bounded names a request's path is known by (metric labels, span names)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

#: The HTTP methods known by name; any other folds into one value (labels and caches stay bounded).
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def route_table(routes: Iterable[Any]) -> Iterator[tuple[str, frozenset[str]]]:
    """Every route's path template and HTTP methods (none for a mount or a websocket), included routers too.

    FastAPI 0.16x wraps an included router in an object without `path` (`original_router` and
    `include_context.prefix` hold what is needed); older versions copy the routes with their path.
    """
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str) and path:
            yield path, frozenset(getattr(route, "methods", None) or ())
        inner = getattr(route, "original_router", None)
        if inner is not None:
            prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            yield from ((prefix + p, methods) for p, methods in route_table(inner.routes))


def route_templates(routes: Iterable[Any]) -> Iterator[str]:
    """Every route's path template, included routers too."""
    for path, _ in route_table(routes):
        yield path


def static_paths(routes: Iterable[Any]) -> set[str]:
    """The templates without parameters: for these the path is the template."""
    return {path for path in route_templates(routes) if "{" not in path}


def static_post_paths(routes: Iterable[Any]) -> set[str]:
    """The templates without parameters that answer POST: a model service's predictions, by default."""
    return {path for path, methods in route_table(routes) if "{" not in path and "POST" in methods}
