"""A sliding-window limiter that keeps submissions inside a provider's documented rate."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class SlidingWindow:
    """At most ``limit`` acquisitions in any ``window`` seconds; callers beyond that wait their turn."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until the next acquisition could go through (0 if it could now)."""
        now = self._clock()
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if len(self._stamps) < self.limit:
            return 0.0
        return self._stamps[0] + self.window - now

    async def acquire(self) -> None:
        async with self._lock:  # first come, first served
            while (wait := self.delay()) > 0:
                await self._sleep(wait)
            self._stamps.append(self._clock())
