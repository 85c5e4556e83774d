"""Run the Procfile's processes, each writing to its own log file, and stop them all for sure.

Each line runs under `/bin/sh -c` in a session (and process group) of its own, its stdout and stderr going
straight to `LOGS/NAME.log` (truncated at start): no relay process copies the service's per-request lines, and
a terminal's Ctrl-C reaches only `python -m stack`, which then stops the groups. Stopping sends SIGTERM to every
group, then SIGKILL to what is left after KILL_WAIT seconds (what honcho did, which ran these lines before).
The first process that exits is the stack's failure: `exited()` names it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Seconds between SIGTERM and SIGKILL when stopping.
KILL_WAIT = 5.0


@dataclass(frozen=True)
class Exit:
    """A process that stopped on its own: its name, exit code (negative: the signal) and log file."""

    name: str
    returncode: int
    log: Path

    def describe(self) -> str:
        code = self.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = last_line(self.log)
        return f"{self.name} {how}; its log: {self.log}" + (f' (last line: "{last}")' if last else "")


def last_line(path: Path, limit: int = 160) -> str:
    """The log's last non-empty line, cut to `limit` characters ("" when there is none)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


class Supervisor:
    """The stack's processes: started together, watched, stopped together."""

    def __init__(self, commands: Mapping[str, str], logs: Path, cwd: Path) -> None:
        self.commands = dict(commands)
        self.logs = logs
        self.cwd = cwd
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for name, command in self.commands.items():
            with self.log(name).open("wb") as out:  # the child holds its own copy of the descriptor
                self.procs[name] = subprocess.Popen(
                    ["/bin/sh", "-c", command],
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def pid(self, name: str) -> int | None:
        """The process's pid while it runs (after `exec`, the program's own), else None."""
        proc = self.procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def exited(self) -> Exit | None:
        """The first process (in Procfile order) that has stopped, if any."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return Exit(name, proc.returncode, self.log(name))
        return None

    def stop(self) -> None:
        """SIGTERM every group, SIGKILL what is left after KILL_WAIT; returns once every process is reaped.

        A group whose leader already exited may still hold its children (a killed uvicorn's workers): it is
        signalled too, and a group with nobody left in it is simply gone."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + KILL_WAIT
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        self._signal(signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait()

    def _signal(self, sig: signal.Signals) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
