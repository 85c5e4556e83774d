"""What an SLI query selects: its series selectors and their label matchers.

The spec's checks (the `le` a latency SLI reads, the routes an SLI counts) need the selectors of a Sloth
query. The query is parsed by promql-parser (Prometheus' own grammar, ported from the Prometheus parser):
a regex over PromQL text would misread strings, nested braces and `or` matchers. Sloth's `{{.window}}`
placeholder is not PromQL, so it is replaced by a real range before parsing.
"""

from __future__ import annotations

from dataclasses import dataclass

import promql_parser

#: promql-parser's match operators (an enum whose members are not hashable) as PromQL writes them.
_OPS = (
    (promql_parser.MatchOp.Equal, "="),
    (promql_parser.MatchOp.NotEqual, "!="),
    (promql_parser.MatchOp.Re, "=~"),
    (promql_parser.MatchOp.NotRe, "!~"),
)
WINDOW = "{{.window}}"


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...]

    def on(self, label: str) -> list[Matcher]:
        """The matchers of one label."""
        return [m for m in self.matchers if m.label == label]


def _op(op: promql_parser.MatchOp) -> str:
    return next(text for known, text in _OPS if op == known)


def selectors(query: str) -> list[Selector]:
    """Every series selector of the query, depth first, left to right.

    Raises ValueError (promql-parser's) when the query is not PromQL.
    """
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple(
                Matcher(m.name, _op(m.op), m.value) for m in node.matchers.matchers if m.name != "__name__"
            )
            found.append(Selector(node.name or "", matchers))

    promql_parser.walk(promql_parser.parse(query.replace(WINDOW, "5m")), visit)
    return found
