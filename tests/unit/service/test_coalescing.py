"""CoalescingTransport on a real event loop, over a transport that records what it is asked to send: one send for a
head and its body, nothing held past the loop turn, order kept, nothing sent to a closing connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from service.coalescing import CoalescingTransport


class Sent(asyncio.Transport):
    """The socket's transport, as far as this test needs: each write it is given, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "a write after close"
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))  # one send (uvloop's: one system call of several buffers)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


async def _turn() -> None:
    """Let the loop finish this turn and run the callbacks it queued."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def _pair() -> tuple[Sent, CoalescingTransport]:
    sent = Sent()
    return sent, CoalescingTransport(sent, asyncio.get_running_loop())


@pytest.mark.anyio
async def test_a_head_and_its_body_leave_in_one_send() -> None:
    sent, transport = _pair()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert sent.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await _turn()
    assert len(sent.writes) == 1


@pytest.mark.anyio
async def test_a_lone_write_leaves_at_the_end_of_the_turn() -> None:
    sent, transport = _pair()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert sent.writes == []
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 100 Continue\r\n\r\n")
    await _turn()
    assert sent.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


@pytest.mark.anyio
async def test_writes_keep_their_order() -> None:
    sent, transport = _pair()
    for chunk in (b"a", bytearray(b"b"), memoryview(b"c"), b"d", b"e"):
        transport.write(chunk)
    transport.writelines([b"f", b"g"])
    await _turn()
    assert b"".join(sent.writes) == b"abcdefg"
    assert len(sent.writes) == 3  # ab, cd, then e with fg


@pytest.mark.anyio
async def test_a_held_bytearray_is_copied() -> None:
    sent, transport = _pair()
    buffer = bytearray(b"head")
    transport.write(buffer)
    buffer[:] = b"XXXX"  # the writer may reuse its buffer once write returns
    await _turn()
    assert sent.writes == [b"head"]


@pytest.mark.anyio
async def test_close_sends_what_is_held_first() -> None:
    sent, transport = _pair()
    transport.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
    transport.close()
    assert sent.writes == [b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"] and sent.closed
    await _turn()  # the end of the turn finds nothing to send, and writes nothing to the closed transport


@pytest.mark.anyio
async def test_nothing_is_sent_once_the_connection_is_closing() -> None:
    sent, transport = _pair()
    transport.write(b"head")
    sent.close()  # the peer went away (uvicorn's connection_lost)
    await _turn()
    assert sent.writes == []


@pytest.mark.anyio
async def test_abort_drops_what_is_held() -> None:
    sent, transport = _pair()
    transport.write(b"head")
    transport.abort()
    await _turn()
    assert sent.writes == [] and sent.aborted
