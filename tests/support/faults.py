"""Helpers for the fault tests (tests/faults/): look at the database from outside the bot, hold its write
lock from another connection, watch the provider client's polls, and a kie.ai fake whose record-info can
hang or answer like a broken proxy.

Nothing here touches the bot's code; the only private attribute used is the provider client's aiohttp
session (``ApiClient._session``), rebuilt with a shorter timeout by :func:`shorten_provider_timeout`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.kie_fake import FakeKie

__all__ = [
    "CommitWatch",
    "FlakyKie",
    "HeldLock",
    "PollWatch",
    "balance",
    "hold_write_lock",
    "ledger",
    "shorten_provider_timeout",
    "snapshot",
]


# ----- the database, read from outside the bot ------------------------------------------------------------


def snapshot(path: Path | str) -> str:
    """The whole database as SQL text (schema and every row): two equal snapshots mean nothing changed."""
    with closing(sqlite3.connect(path, timeout=5)) as db:
        return "\n".join(db.iterdump())


class CommitWatch:
    """Tells, cheaply, whether any connection (the bot's) committed to the database since the last look
    (SQLite's ``PRAGMA data_version``), to find the one request of many that changed something."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(path, timeout=5)
        self._version = self._read()

    def _read(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def committed(self) -> bool:
        version = self._read()
        changed, self._version = version != self._version, version
        return changed

    def close(self) -> None:
        self._db.close()


def ledger(path: Path | str, user_id: int | str) -> list[tuple[str, int, int | None, str]]:
    """A member's ledger rows in order: (kind, amount, task id, reason)."""
    with closing(sqlite3.connect(path, timeout=5)) as db:
        rows = db.execute("SELECT kind, amount, task_id, reason FROM ledger WHERE user_id = ? ORDER BY id",
                          (int(user_id),)).fetchall()
    return [(str(kind), int(amount), task_id, str(reason)) for kind, amount, task_id, reason in rows]


def balance(path: Path | str, user_id: int | str) -> int:
    """A member's balance: the sum of their ledger rows (what /credits shows, before any refill)."""
    return sum(amount for _, amount, _, _ in ledger(path, user_id))


@dataclass
class HeldLock:
    """A write lock another connection holds on the bot's database (see :func:`hold_write_lock`)."""

    acquired_at: float = 0.0
    released_at: float = 0.0
    released: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def hold_write_lock(path: Path | str, seconds: float) -> AsyncIterator[HeldLock]:
    """Another process's connection takes the database's write lock (``BEGIN IMMEDIATE`` plus a write) and
    keeps it for ``seconds``, from a thread, as a backup tool or a second bot instance would. The body runs
    while the lock is held; ``lock.released`` is set (and ``released_at`` is the monotonic time) once the
    other connection has committed. Leaving the block waits for that."""
    loop = asyncio.get_running_loop()
    lock = HeldLock()
    acquired = asyncio.Event()

    def hold() -> None:
        with closing(sqlite3.connect(path, timeout=5, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO meta (key, value) VALUES ('fault-test-lock', 'held') "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            lock.acquired_at = time.monotonic()
            loop.call_soon_threadsafe(acquired.set)
            time.sleep(seconds)  # the fault itself: a writer that keeps the lock this long
            db.execute("DELETE FROM meta WHERE key = 'fault-test-lock'")
            db.execute("COMMIT")
            lock.released_at = time.monotonic()
        loop.call_soon_threadsafe(lock.released.set)

    thread = threading.Thread(target=hold, name="fault-test-write-lock", daemon=True)
    thread.start()
    await asyncio.wait_for(acquired.wait(), timeout=5)
    try:
        yield lock
    finally:
        await asyncio.wait_for(lock.released.wait(), timeout=seconds + 5)
        await asyncio.to_thread(thread.join, 5)


# ----- the provider client --------------------------------------------------------------------------------


async def shorten_provider_timeout(provider: Any, seconds: float) -> None:
    """Give the bot's provider client a total timeout of ``seconds`` per request (30 s in production), so
    a provider that hangs is given up on quickly. Same headers, same behaviour otherwise."""
    old: aiohttp.ClientSession = provider._session
    provider._session = aiohttp.ClientSession(headers=dict(old.headers), timeout=aiohttp.ClientTimeout(total=seconds),
                                              raise_for_status=False)
    await old.close()


class PollWatch:
    """Records every status poll the bot makes through its provider client (the update it got, or the error
    it raised), so a test can wait for the Nth poll to have finished instead of sleeping."""

    def __init__(self, provider: Any) -> None:
        self.outcomes: list[Any] = []  # TaskUpdate or the exception the client raised
        self._changed = asyncio.Condition()
        original: Callable[..., Awaitable[Any]] = provider.status

        async def status(kind: Any, task_id: str) -> Any:
            try:
                update = await original(kind, task_id)
            except Exception as error:
                await self._record(error)
                raise
            await self._record(update)
            return update

        provider.status = status  # the tracker looks it up on the instance at every poll

    async def _record(self, outcome: Any) -> None:
        async with self._changed:
            self.outcomes.append(outcome)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Wait until ``count`` polls have finished; returns every outcome so far."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.outcomes) >= count)
        return list(self.outcomes)

    @property
    def errors(self) -> list[Exception]:
        return [o for o in self.outcomes if isinstance(o, Exception)]


class FlakyKie(FakeKie):
    """FakeKie whose record-info endpoints can misbehave the way networks and proxies do, before the fake's
    own handling: ``hang_next_poll()`` holds the next poll unanswered (until :meth:`release`, at most
    ``max_hang`` s); ``proxy_error_next_poll()`` answers it with an HTML 502 page, as a load balancer
    would. Unscripted polls are answered normally."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_hang = 10.0
        self.misbehaved: list[str] = []  # "hang" / "proxy" per poll that was not answered normally
        self._scripted: list[str] = []
        self._release = asyncio.Event()

    def hang_next_poll(self, times: int = 1) -> None:
        self._scripted += ["hang"] * times

    def proxy_error_next_poll(self, times: int = 1) -> None:
        self._scripted += ["proxy"] * times

    def release(self) -> None:
        """Let every held request finish (call before stopping the fake)."""
        self._release.set()

    def _middlewares(self) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
        @web.middleware
        async def misbehave(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if not request.path.endswith("/record-info") or not self._scripted:
                return await handler(request)
            fault = self._scripted.pop(0)
            self.misbehaved.append(fault)
            if fault == "hang":
                try:
                    await asyncio.wait_for(self._release.wait(), timeout=self.max_hang)
                except TimeoutError:
                    pass
                return web.Response(status=504, text="held")  # the client has long given up
            return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                                content_type="text/html")

        return [*super()._middlewares(), misbehave]
