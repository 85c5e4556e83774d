"""`python -m stack up --logs`: follow every process's log file onto one stream, each line prefixed by its name.

The files stay the one place the output goes (stack/supervisor.py); this only reads them as they grow, like
`tail -f` on several files, so the terminal sees what it saw before the logs had files of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

#: Seconds between two reads of the files.
POLL = 0.1


class Follower:
    """Reads whole new lines from each file; a line still being written waits for its newline."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)
        self.offsets = dict.fromkeys(files, 0)
        self.partial = dict.fromkeys(files, b"")
        self.width = max(map(len, files), default=0)

    def lines(self) -> list[str]:
        """The lines written since the last call, each as `name | line`, file by file."""
        out = []
        for name, path in self.files.items():
            try:
                with path.open("rb") as f:
                    f.seek(self.offsets[name])
                    data = f.read()
            except FileNotFoundError:  # not created yet
                continue
            self.offsets[name] += len(data)
            *complete, self.partial[name] = (self.partial[name] + data).split(b"\n")
            out += [f"{name:<{self.width}} | {line.decode(errors='replace').rstrip()}" for line in complete]
        return out

    def rest(self) -> list[str]:
        """The unterminated last line of each file (at the end: a process that died mid-line)."""
        last = [f"{n:<{self.width}} | {p.decode(errors='replace')}" for n, p in self.partial.items() if p.strip()]
        self.partial = dict.fromkeys(self.files, b"")
        return last


def follow(files: Mapping[str, Path], out: TextIO, stop: threading.Event) -> threading.Thread:
    """Print the files' new lines to `out` until `stop` is set (then what is left); the started thread."""
    follower = Follower(files)

    def run() -> None:
        while True:
            stopping = stop.wait(POLL)
            for line in follower.lines() + (follower.rest() if stopping else []):
                print(line, file=out)
            out.flush()
            if stopping:
                return

    thread = threading.Thread(target=run, name="stack-logs", daemon=True)
    thread.start()
    return thread
