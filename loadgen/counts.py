"""A run's schedule counters, as the report and the daemon's metrics read them.

One process's Engine has them, and so do the worker processes' merged totals (workers.Totals): readers take
this protocol, not either class, so a run reads the same whatever its number of workers.
"""

from __future__ import annotations

from typing import Protocol


class ScheduleCounts(Protocol):
    """Requests scheduled, sent, and dropped (due while the in-flight bound was reached)."""

    @property
    def scheduled(self) -> int: ...
    @property
    def sent(self) -> int: ...
    @property
    def dropped(self) -> int: ...
