"""A service that runs one background loop in the bot's event loop: started by setup_hook, stopped by close()."""

from __future__ import annotations

import asyncio


async def wait_for_wake(wake: asyncio.Event, seconds: float) -> None:
    """Wait until ``wake`` is set or ``seconds`` have passed.

    Not ``asyncio.wait_for(wake.wait(), seconds)``: on Python 3.11 it returns normally when a cancellation
    arrives in the same instant as the event is set, losing the cancellation, so a loop stopped just as it was
    woken went on waiting and ``stop()`` waited for it forever. ``asyncio.timeout`` never loses one."""
    try:
        async with asyncio.timeout(seconds):
            await wake.wait()
    except TimeoutError:
        pass


class BackgroundLoop:
    """Subclasses implement ``_run`` (forever); ``wake`` makes it look again now."""

    loop_name = "chorus-loop"

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name=self.loop_name)

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None

    def wake(self) -> None:
        self._wake.set()
