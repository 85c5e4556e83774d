"""The one duration syntax of every command line and settings file of the project.

A duration is either a bare number of seconds (`90`, `1.5`) or one or more numbers each followed by a
unit, largest first or not (`250ms`, `10s`, `5m`, `1h30m`, `2d`, `1m 30s`). Units: ms, s, m, h, d.
Numbers are plain decimals (no sign, no exponent), so `-5`, `inf`, `nan` and `1e3` are refused rather than
read by Python's float() as something nobody meant. Whitespace around the text and between the parts is
ignored. Pure Python: the load generator's scenarios and the stack's flags read durations the same way
(`contract.durations` re-exports it).
"""

from __future__ import annotations

import re

UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_NUMBER = r"\d+(?:\.\d+)?"
# "ms" before "m" and "s": the alternation takes the first unit that matches.
_PART = re.compile(rf"({_NUMBER})\s*(ms|s|m|h|d)")
_WHOLE = re.compile(rf"\s*(?:{_NUMBER}|(?:{_NUMBER}\s*(?:ms|s|m|h|d)\s*)+)\s*")

EXAMPLES = "90, 1.5, 250ms, 10s, 5m, 1h30m, 2d"


def parse_duration(text: str) -> float:
    """Seconds from a duration written as above; ValueError (naming the text and the syntax) otherwise."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"not a duration: {text!r} (seconds, or numbers with units ms, s, m, h, d: e.g. {EXAMPLES})")
    parts = _PART.findall(text)
    if not parts:  # a bare number of seconds
        return float(text)
    return sum(float(number) * UNITS[unit] for number, unit in parts)
