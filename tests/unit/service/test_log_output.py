"""TurnWriter: a loop turn's lines in one write at the turn's end, a line without a loop at once, the order kept,
and nothing lost at the interpreter's exit."""

from __future__ import annotations

import asyncio
import io
import select
import subprocess
import sys
import threading

import pytest

from service.observability.log_output import TurnWriter


class File(io.BytesIO):
    """A file that counts the writes it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


@pytest.mark.anyio
async def test_a_turns_lines_leave_in_one_write_at_its_end() -> None:
    file = File()
    writer = TurnWriter(file)
    for n in range(3):
        writer.info(b'{"n":%d}' % n)
    assert file.getvalue() == b""
    await asyncio.sleep(0)  # the turn ends
    await asyncio.sleep(0)
    assert file.getvalue() == b'{"n":0}\n{"n":1}\n{"n":2}\n' and file.writes == 1
    writer.warning(b'{"n":3}')
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert file.getvalue().endswith(b'{"n":2}\n{"n":3}\n') and file.writes == 2


def test_without_a_loop_a_line_is_written_at_once() -> None:
    file = File()
    TurnWriter(file).error(b"{}")
    assert file.getvalue() == b"{}\n"


@pytest.mark.anyio
async def test_a_line_from_another_thread_comes_after_the_kept_ones() -> None:
    file = File()
    writer = TurnWriter(file)
    writer.info(b"first")
    thread = threading.Thread(target=writer.info, args=(b"second",))
    thread.start()
    thread.join()
    assert file.getvalue() == b"first\nsecond\n"
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert file.getvalue() == b"first\nsecond\n"


def test_a_line_kept_when_the_loop_stops_is_written_at_exit() -> None:
    """A fresh interpreter whose loop is closed before the turn that would write the line: atexit writes it."""
    code = """
import asyncio, sys
from service.observability.log_output import TurnWriter
writer = TurnWriter(sys.stdout.buffer)
loop = asyncio.new_event_loop()
loop.call_soon(lambda: (writer.info(b"kept"), loop.stop()))  # the loop stops after this batch of callbacks
loop.run_forever()
loop.close()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60)
    assert out.stdout == b"kept\n"


class Pieces(File):
    """A file that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.pieces.append(bytes(data))
        return super().write(data)


@pytest.mark.anyio
async def test_no_write_is_longer_than_a_pipe_keeps_whole() -> None:
    """Workers share one stdout pipe: a write over PIPE_BUF could be cut by another worker's, mid-line."""
    file = Pieces()
    writer = TurnWriter(file)
    lines = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * 290) for n in range(40)]  # 12 KB in one turn
    for line in lines:
        writer.info(line)
    assert 0 < len(file.getvalue()) < 12_000  # written before the turn ended: nothing piles up
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert file.getvalue() == b"\n".join(lines) + b"\n"
    assert all(len(piece) <= select.PIPE_BUF and piece.endswith(b"\n") for piece in file.pieces)
    assert len(file.pieces) < 10  # batched all the same


def test_a_long_line_is_written_whole() -> None:
    file = Pieces()
    TurnWriter(file).error(b"x" * 10_000)
    assert file.pieces == [b"x" * 10_000 + b"\n"]
