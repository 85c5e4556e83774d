"""Grafana's units, as the page prints them: the few the generated dashboards use, anything else as a number."""

from __future__ import annotations

import math

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BYTES = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def _short(value: float, digits: int = 3) -> str:
    """A number in at most `digits` significant digits, with an SI suffix from a thousand on."""
    for size, suffix in _SI:
        if abs(value) >= size:
            return f"{value / size:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def _seconds(value: float) -> str:
    if value != 0 and abs(value) < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s"


def _bytes(value: float) -> str:
    for size, suffix in _BYTES:
        if abs(value) >= size:
            return f"{value / size:.3g} {suffix}"
    return f"{value:.0f} B"


def _percent(value: float) -> str:
    """99.9%, 100%, 0.0123%: four decimals where SLIs live (an objective's nines), one from 100% on (-3728%)."""
    pct = value * 100
    text = f"{pct:.{1 if abs(pct) >= 100 else 4}f}".rstrip("0").rstrip(".")
    return f"{text}%"


def fmt(value: float | None, unit: str | None) -> str:
    """`value` in Grafana's `unit` (reqps, s, percentunit, currencyUSD, bytes, x, short, none)."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    match unit:
        case "s":
            return _seconds(value)
        case "percentunit":
            return _percent(value)
        case "reqps":
            return f"{_short(value)} req/s"
        case "currencyUSD":
            return f"${value:,.0f}" if abs(value) >= 100 else f"${value:.2f}"
        case "bytes":
            return _bytes(value)
        case "x":
            return f"{_short(value)}x"
        case _:
            return _short(value)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About `count` round values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    tick = first
    while tick <= high + step * 1e-9:
        ticks.append(round(tick, 12))
        tick += step
    return ticks
