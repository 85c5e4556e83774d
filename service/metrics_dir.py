"""The multiprocess metrics folder of a multi-worker service: chosen, locked, checked, wiped, removed.

prometheus-client's multiprocess mode keeps each worker's metrics in memory-mapped files in one folder
(PROMETHEUS_MULTIPROC_DIR, exported before the workers start; prometheus-client must not be imported
before that). The supervisor (`python -m service`) owns the folder:

- `claim` takes an exclusive lock on `<folder>/.lock` (flock): a second service pointed at the same folder
  refuses to start instead of wiping the files of a live one; then it wipes the previous run's files, checks
  that a metrics file can be written there in full (an unwritable or full folder fails the start here,
  with one line, instead of crashing workers later, some by SIGBUS on a memory map past the disk's end),
  and turns its lock into a shared one, which every worker takes too (`share_lock`): the folder counts as
  in use until the last process that writes into it is gone;
- `release` drops the lock and removes the folder if it was a temporary one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LOCK_NAME = ".lock"
#: What the check writes: prometheus-client grows a worker's file by 1 MiB at a time.
PROBE_BYTES = 1 << 20


class MetricsDirError(RuntimeError):
    """The folder cannot be used; the message says why, in one line."""


@dataclass
class MetricsDir:
    path: Path
    temporary: bool
    lock_fd: int

    def release(self) -> None:
        os.close(self.lock_fd)
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


def claim(configured: Path | None) -> MetricsDir:
    """Lock, wipe and check the folder (`configured`, or a new temporary one), and export it to the workers."""
    temporary = configured is None
    path = Path(tempfile.mkdtemp(prefix="service-metrics-")) if configured is None else configured
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise MetricsDirError(f"metrics folder {path} is not writable: {exc.strerror or exc}") from None
    try:
        _lock(fd, path)
        _wipe(path)
        _check_space(path)
        fcntl.flock(fd, fcntl.LOCK_SH)  # the workers share it from now on
    except BaseException:
        os.close(fd)
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
        raise
    os.environ[MULTIPROC_ENV] = str(path)
    return MetricsDir(path, temporary, fd)


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        raise MetricsDirError(
            f"metrics folder {path} is in use by a running service (pid {owner}): refusing to wipe it"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _wipe(path: Path) -> None:
    """A previous run's metrics and faults (never the lock, nor folders)."""
    for stale in path.iterdir():
        if stale.is_file() and stale.name != LOCK_NAME:
            stale.unlink()


def _check_space(path: Path) -> None:
    probe = path / ".probe"
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.posix_fallocate(fd, 0, PROBE_BYTES)  # the blocks themselves, not a sparse file
        finally:
            os.close(fd)
            probe.unlink()
    except OSError as exc:
        raise MetricsDirError(f"metrics folder {path} cannot hold the metrics: {exc.strerror or exc}") from None


def share_lock() -> int | None:
    """In a worker: the folder's lock, shared (kept open by the caller for the worker's life)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return None
    fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd
