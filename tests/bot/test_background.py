"""The bot's background loops (the tracker, the dispatcher, challenge deadlines) stop when the bot closes,
even when it closes in the very instant one of them is woken.

Python 3.11's ``asyncio.wait_for`` lost a cancellation that arrived as the awaited event was set: the loop
went on waiting and ``close()`` waited for it forever (a CI run hung there for 90 minutes). Each case below
cancels after a different number of event-loop turns, so every interleaving of the wake-up and the
cancellation is tried."""

from __future__ import annotations

import asyncio

import pytest

from bot.background import BackgroundLoop, wait_for_wake


class Sleeper(BackgroundLoop):
    """A loop that only waits to be woken, as the bot's loops do between rounds."""

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            await wait_for_wake(self._wake, 3600)


@pytest.mark.parametrize("turns", range(5))
async def test_a_loop_stopped_as_it_is_woken_stops(turns: int) -> None:
    loop = Sleeper()
    await loop.start()
    for _ in range(3):
        await asyncio.sleep(0)  # waiting to be woken
    loop.wake()
    for _ in range(turns):
        await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await loop.stop()


async def test_a_wake_up_ends_the_wait_and_the_time_limit_too() -> None:
    wake = asyncio.Event()
    waiting = asyncio.create_task(wait_for_wake(wake, 3600))
    await asyncio.sleep(0)
    wake.set()
    async with asyncio.timeout(5):
        await waiting
    wake.clear()
    async with asyncio.timeout(5):
        await wait_for_wake(wake, 0.01)  # returns when the time is up, without raising
