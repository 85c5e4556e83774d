"""The response check: what makes an answer a success, judged by the client as each response completes.

A check can only turn an answer that would count as a success into a failure, never the reverse: a status
>= 400 stays its own outcome ("404", "503": already a failure in Locust's and k6's sense, and the code says
more than a verdict would). An answer under 400 whose status is not an expected one, or whose JSON body lacks
the expected field, ends in the outcome CHECK, a failure kind of its own (beside the transport error kinds of
`loadgen.http.errors`) that the metrics, reports, thresholds and the synthetic SLOs count like the others.

Cheap on purpose: the status is one set lookup; the body is kept and parsed only for a check that names a
field.
"""

from __future__ import annotations

import json

#: The outcome of an answer that failed its check.
CHECK = "check"

#: Outcome strings of the status codes, made once.
_TEXT = {code: str(code) for code in range(100, 600)}

#: The default expected statuses: any 2xx.
SUCCESS_STATUSES: frozenset[int] = frozenset(range(200, 300))


class Check:
    """Expected statuses and, optionally, a JSON field (a dotted path: `predictions.0.charges`) in the body."""

    __slots__ = ("field", "known", "path", "statuses")

    def __init__(self, statuses: frozenset[int] = SUCCESS_STATUSES, field: str | None = None) -> None:
        self.statuses = statuses
        self.field = field
        self.path: tuple[str, ...] = tuple(field.split(".")) if field else ()
        #: The outcome of every status whose verdict needs no body: a client's hot path reads it with one
        #: dict lookup, and calls `outcome` for the rest.
        self.known: dict[int, str] = {s: t for s, t in _TEXT.items() if s >= 400 or (s in statuses and not field)}

    def __reduce__(self) -> tuple[type[Check], tuple[frozenset[int], str | None]]:  # (sent to worker processes)
        return Check, (self.statuses, self.field)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Check) and (self.statuses, self.field) == (other.statuses, other.field)

    def __hash__(self) -> int:
        return hash((self.statuses, self.field))

    def __repr__(self) -> str:
        return f"Check(statuses={sorted(self.statuses)}, field={self.field!r})"

    def outcome(self, status: int, body: bytes | None = None) -> str:
        """The outcome of a complete response: its status code, or CHECK."""
        text = _TEXT.get(status) or str(status)
        if status >= 400:
            return text
        if status not in self.statuses or (self.path and not has_field(body or b"", self.path)):
            return CHECK
        return text


def has_field(body: bytes, path: tuple[str, ...]) -> bool:
    """Whether the JSON document `body` has a value at `path` (object keys; list indexes as numbers)."""
    try:
        node = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return True
