"""The engine's sub-millisecond wake-up (a timerfd watched by the loop): never early, replaced when set again."""

from __future__ import annotations

import asyncio
import time

import pytest
import uvloop

from loadgen import alarm as alarm_module
from loadgen.alarm import Alarm

LOOPS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]


@pytest.mark.parametrize("run", LOOPS)
def test_it_rings_once_after_the_time_set(run: object) -> None:
    async def go() -> list[float]:
        loop = asyncio.get_running_loop()
        rang: list[float] = []
        alarm = Alarm.open(loop, lambda: rang.append(time.perf_counter()))
        assert alarm is not None
        try:
            start = time.perf_counter()
            alarm.set(0.0003)  # under the loop's own timer resolution
            while not rang and time.perf_counter() - start < 5:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)  # a second ring would come now
            return [t - start for t in rang]
        finally:
            alarm.close()

    rang = run(go())  # type: ignore[operator]
    assert len(rang) == 1 and 0.0003 <= rang[0] < 5


def test_setting_it_again_replaces_the_earlier_time() -> None:
    async def go() -> tuple[int, int]:
        rang: list[float] = []
        alarm = Alarm.open(asyncio.get_running_loop(), lambda: rang.append(time.perf_counter()))
        assert alarm is not None
        try:
            alarm.set(0.01)
            alarm.set(60.0)  # the earlier time no longer rings
            await asyncio.sleep(0.1)
            early = len(rang)
            alarm.set(0.0001)
            await asyncio.sleep(0.1)
            return early, len(rang)
        finally:
            alarm.close()

    assert asyncio.run(go()) == (0, 1)


def test_no_timerfd_no_alarm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alarm_module.sys, "platform", "darwin")

    async def go() -> Alarm | None:
        return Alarm.open(asyncio.get_running_loop(), lambda: None)

    assert asyncio.run(go()) is None
