"""The BentoML virtualenv's builder (tests/foreign/venv.py): a failed step is one VenvError naming the step, its
exit code and the tool's last lines (what the e2e tests skip or fail with); a stamp of another lock is stale."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.foreign import venv


def test_a_failed_step_names_itself_its_exit_code_and_the_tools_last_lines() -> None:
    script = "import sys; print('\\n'.join(f'line {i}' for i in range(9))); sys.exit(3)"
    with pytest.raises(venv.VenvError) as failed:
        venv._run("installing the lock", [sys.executable, "-c", script])
    message = str(failed.value)
    assert message.startswith("installing the lock failed (exit 3): ")
    assert "line 8" in message and "line 3" not in message  # the last five lines only


def test_a_stamp_of_another_lock_is_not_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock, bin_dir = tmp_path / "bentoml.txt", tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "bentoml").write_text("")
    lock.write_text("bentoml==1.4.40\n")
    monkeypatch.setattr(venv, "LOCK", lock)
    monkeypatch.setattr(venv, "BENTOML", bin_dir / "bentoml")
    monkeypatch.setattr(venv, "STAMP", tmp_path / "venv" / ".lock.sha256")
    assert not venv.current()  # no stamp yet
    venv.STAMP.write_text(venv._digest() + "\n")
    assert venv.current()
    lock.write_text("bentoml==1.4.41\n")
    assert not venv.current()
