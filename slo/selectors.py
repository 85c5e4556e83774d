"""What an SLI query selects: its series selectors and their label matchers.

The spec's checks (the `le` a latency SLI reads, the routes an SLI counts) need the selectors of a Sloth
query. The query is parsed by promql-parser (Prometheus' own grammar, ported from the Prometheus parser):
a regex over PromQL text would misread strings and nested braces. Sloth's `{{.window}}` placeholder is not
PromQL, so it is replaced by a real range before parsing. A metric named by a `__name__` matcher counts as that
metric; `or` matcher sets are not read (the spec's checks then find no matcher they accept and refuse the query).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import promql_parser

#: promql-parser's match operators (an enum whose members are not hashable) as PromQL writes them.
_OPS = (
    (promql_parser.MatchOp.Equal, "="),
    (promql_parser.MatchOp.NotEqual, "!="),
    (promql_parser.MatchOp.Re, "=~"),
    (promql_parser.MatchOp.NotRe, "!~"),
)
#: Sloth's range placeholder, the one template variable an SLI query may hold.
WINDOW_VARIABLE = "{{.window}}"


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'

    def promql(self) -> str:
        """The matcher as PromQL reads it back: the value quoted with JSON's escapes (a regex's `\\.` stays one)."""
        return f"{self.label}{self.op}{json.dumps(self.value)}"


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...]
    #: The series selector alone, as Prometheus' series API and an instant query take it (no range, offset or @).
    text: str = ""

    def on(self, label: str) -> list[Matcher]:
        """The matchers of one label."""
        return [m for m in self.matchers if m.label == label]


def _op(op: promql_parser.MatchOp) -> str:
    return next(text for known, text in _OPS if op == known)


def _text(node: promql_parser.VectorSelector) -> str:
    """The selector in PromQL; values quoted with JSON's escapes, which are Go's, which are PromQL's."""
    matchers = ", ".join(f"{m.name}{_op(m.op)}{json.dumps(m.value)}" for m in node.matchers.matchers)
    name = node.name or ""
    return f"{name}{{{matchers}}}" if matchers else name


def selectors(query: str) -> list[Selector]:
    """Every series selector of the query, depth first, left to right.

    Raises ValueError (promql-parser's) when the query is not PromQL.
    """
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = [Matcher(m.name, _op(m.op), m.value) for m in node.matchers.matchers]
            named = [m.value for m in matchers if m.label == "__name__" and m.op == "="]
            metric = node.name or (named[0] if len(named) == 1 else "")
            found.append(Selector(metric, tuple(m for m in matchers if m.label != "__name__"), _text(node)))

    promql_parser.walk(promql_parser.parse(query.replace(WINDOW_VARIABLE, "5m")), visit)
    return found
