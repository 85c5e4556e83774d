"""Keep the status on the terminal while the stack runs: a rich Live screen refreshed in place on a terminal,
one summary line per interval anywhere else (a file, a pipe, CI). Runs in a thread of its own so that the
stack's own loop (signals, a process that dies, the soak's end) never waits for Prometheus."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live

from stack.status import render
from stack.status.model import Source, Status, fetch


class Screen:
    """The status loop: `start()` it once the stack is ready, `stop()` it before printing anything else."""

    def __init__(
        self,
        source: Source,
        console: Console,
        refresh: float,
        interval: float,
        read: Callable[[Source, float], Status] = fetch,
    ) -> None:
        self.source = source
        self.console = console
        self.refresh = refresh  # seconds between two frames of the live screen
        self.interval = interval  # seconds between two summary lines off a terminal
        self.read = read
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stack-status", daemon=True)

    @property
    def live(self) -> bool:
        return self.console.is_terminal

    def start(self) -> None:
        self.started = time.time()
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """End the loop; on a terminal the last frame stays on the screen."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        if not self.live:
            while not self._stop.wait(self.interval):
                status = self.read(self.source, self.started)
                if not self._stop.is_set():
                    self.console.print(render.line(status), soft_wrap=True, highlight=False, markup=False)
            return
        with Live(
            render.screen(self.read(self.source, self.started)),
            console=self.console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as live:
            while not self._stop.wait(self.refresh):
                live.update(render.screen(self.read(self.source, self.started)), refresh=True)
