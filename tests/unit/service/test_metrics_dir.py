"""The multiprocess metrics folder: locked by its owner, wiped, checked for space, removed when temporary."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import metrics_dir


@pytest.fixture(autouse=True)
def _restore_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics_dir.MULTIPROC_ENV, raising=False)


def test_claim_wipes_files_keeps_folders_and_exports_the_folder(tmp_path: Path) -> None:
    (tmp_path / "counter_1.db").write_bytes(b"old")
    (tmp_path / "faults.json").write_text("{}")
    (tmp_path / "keep").mkdir()
    folder = metrics_dir.claim(tmp_path)
    try:
        assert os.environ[metrics_dir.MULTIPROC_ENV] == str(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "keep"]
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    finally:
        folder.release()
    assert tmp_path.is_dir()  # not temporary: kept


def test_a_live_folder_is_not_wiped_by_a_second_start(tmp_path: Path) -> None:
    """Another process holds the lock (as a live worker does, shared): the second claim refuses, nothing wiped."""
    (tmp_path / ".lock").write_text("4242\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_SH); print('locked', flush=True); time.sleep(30)", str(tmp_path / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        (tmp_path / "counter_7.db").write_bytes(b"live")
        with pytest.raises(metrics_dir.MetricsDirError, match=r"in use by a running service \(pid 4242\)"):
            metrics_dir.claim(tmp_path)
        assert (tmp_path / "counter_7.db").read_bytes() == b"live"
    finally:
        holder.kill()
        holder.wait()
    metrics_dir.claim(tmp_path).release()  # the holder is gone: the folder is free again


def test_a_temporary_folder_is_removed_at_release() -> None:
    folder = metrics_dir.claim(None)
    assert folder.temporary and folder.path.name.startswith("service-metrics-")
    folder.release()
    assert not folder.path.exists()


def test_an_unusable_folder_is_one_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(metrics_dir.MetricsDirError, match=r"metrics folder .*/file/m is not writable: Not a directory"):
        metrics_dir.claim(not_a_folder / "m")


def test_a_full_folder_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(metrics_dir.os, "posix_fallocate", full)
    with pytest.raises(metrics_dir.MetricsDirError, match="cannot hold the metrics: No space left on device"):
        metrics_dir.claim(tmp_path)
    # The lock is released on the way out: a later start may claim the folder.
    fd = os.open(tmp_path / ".lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_a_worker_shares_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert metrics_dir.share_lock() is None  # one worker: no folder
    folder = metrics_dir.claim(tmp_path)
    fd = metrics_dir.share_lock()
    assert fd is not None
    folder.release()
    try:
        with pytest.raises(metrics_dir.MetricsDirError, match="in use"):
            metrics_dir.claim(tmp_path)  # the supervisor is gone, its worker is not
    finally:
        os.close(fd)
