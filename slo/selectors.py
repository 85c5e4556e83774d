"""What an SLI query selects: its series selectors and their label matchers, read from the PromQL text.

Enough PromQL for the spec's checks (the `le` a latency SLI reads, the routes an SLI counts), not a
parser: a selector is `metric{matchers}`, a matcher is `label op "value"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'\b([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


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


def selectors(query: str) -> list[Selector]:
    """Every `metric{...}` of the query, in order (bare metric names without braces are not reported)."""
    found = _SELECTOR.findall(query)
    return [Selector(metric, tuple(Matcher(*m) for m in _MATCHER.findall(body))) for metric, body in found]
