"""A sliding-window limiter that keeps submissions inside a provider's documented rate."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable


class SlidingWindow:
    """At most ``limit`` submissions in any ``window`` seconds, as the provider counts them: a submission takes
    a slot while it is in flight and is stamped when its answer arrives (the provider counted it on arrival,
    a little earlier), so jitter on the way can never push a burst over the limit. Callers beyond the limit
    wait their turn, first come first served."""

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
        self._in_flight = 0
        self._released = asyncio.Event()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until the next submission could go out (0: now; inf: when one in flight is answered)."""
        now = self._clock()
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if len(self._stamps) + self._in_flight < self.limit:
            return 0.0
        return self._stamps[0] + self.window - now if self._stamps else math.inf

    def schedule(self, count: int) -> list[float]:
        """In how many seconds each of the next ``count`` submissions could go out, if each were answered at
        once: the basis of a queue's estimated start times."""
        self.delay()  # drop stamps that left the window
        now = self._clock()
        stamps = list(self._stamps) + [now] * self._in_flight
        waits = []
        for _ in range(count):
            at = now if len(stamps) < self.limit else max(now, stamps[-self.limit] + self.window)
            stamps.append(at)
            waits.append(at - now)
        return waits

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one submission's slot while it is sent; it counts from when the answer arrives."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.delay()) > 0:
                if wait == math.inf:
                    self._released.clear()
                    await self._released.wait()
                else:
                    await self._sleep(wait)
            self._in_flight += 1

    def release(self) -> float:
        """The submission was answered (or given up): it counts from now. Returns the stamp."""
        self._in_flight -= 1
        stamp = self._clock()
        self._stamps.append(stamp)
        self._released.set()
        return stamp

    def restore(self, stamps: list[float]) -> None:
        """Count these submissions (made by another process) instead of the ones remembered here; the slots of
        this process's own submissions in flight stay held."""
        self._stamps = deque(sorted(stamps))
        self._released.set()
