"""A run's progress while it runs: a live line on a terminal, plain lines in a log.

On a terminal the line is redrawn every second with that second's figures. Off a terminal (CI logs,
redirected output) one line is printed every `interval` seconds of the schedule, stamped with the exact
mark (10 s, 20 s, ...: the mark counts the seconds closed, not a clock read, so none is skipped or
repeated) and describing that interval: its rate, the worst second's p99, its errors and drops. A line
never wraps: it is cut to the console's width, so one interval is one line in any log.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from loadgen.recorder import Point

#: Seconds between two lines off a terminal.
INTERVAL_SECONDS = 10


def ms(value: float | None) -> str:
    """A latency with its unit, short: 0.42 ms, 12.3 ms, 1.23 s; '-' when there is none."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:,.3g} s" if value < 100_000 else f"{value / 1000:,.0f} s"
    return f"{value:.3g} ms"


def rate(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def fit(line: str, width: int) -> str:
    """The line cut to `width` columns (with '..' where it was cut)."""
    return line if len(line) <= width else line[: max(width - 2, 0)] + ".."


class Progress:
    """Shows each closed second (`show`); a context manager that holds the terminal's live view."""

    def __init__(self, console: Console, *, interval: int = INTERVAL_SECONDS) -> None:
        self.console = console
        self.interval = interval
        self.live = Live(console=console, transient=True) if console.is_terminal and not console.quiet else None
        self.seconds = 0
        self.sent = self.dropped = self.errors = 0
        self._window: list[Point] = []

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.stop()

    def show(self, point: Point) -> None:
        """One second of the schedule has closed."""
        self.seconds += 1
        self.sent += point.sent
        self.dropped += point.dropped
        self.errors += point.errors
        if self.live is not None:
            self.live.update(Text(self.now(point), no_wrap=True, overflow="ellipsis"))
            return
        self._window.append(point)
        if self.seconds % self.interval == 0:
            # emoji=False: rich's emoji table is imported on first use, 25 ms of the event loop's time.
            line = fit(self.interval_line(), self.console.width)
            self.console.print(line, highlight=False, markup=False, emoji=False)
            self._window.clear()

    def now(self, point: Point) -> str:
        """The live line: this second's figures and the run's totals."""
        return (
            f"{self.seconds:5d} s  {rate(point.completed)} req/s (target {rate(point.target_rps)})  "
            f"p50 {ms(point.p50_ms)}  p99 {ms(point.p99_ms)}  errors {self.errors:,}  dropped {self.dropped:,}  "
            f"in flight {point.in_flight:,}  sent {self.sent:,}"
        )

    def interval_line(self) -> str:
        """The log line: the interval that just closed (most telling first, as the end may be cut)."""
        window = self._window
        finished = sum(p.completed for p in window)
        p99s = [p.p99_ms for p in window if p.p99_ms is not None]
        return (
            f"{self.seconds:4d} s  {rate(finished / len(window))} req/s of {rate(window[-1].target_rps)}  "
            f"errors {sum(p.errors for p in window):,}  dropped {sum(p.dropped for p in window):,}  "
            f"worst p99 {ms(max(p99s, default=None))}  in flight {window[-1].in_flight:,}"
        )
