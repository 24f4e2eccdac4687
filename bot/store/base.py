"""The database connection: WAL mode, migrations, serialized write transactions, small metadata."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.store.schema import MIGRATIONS
from bot.store.writer import BatchWriter

# WAL with synchronous=NORMAL: a commit survives the bot being killed; only a power loss can undo the last
# few (never corrupting the file). Commits then skip an fsync each.
PRAGMAS = ("PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000", "PRAGMA synchronous=NORMAL")


def _connect(database: str) -> sqlite3.Connection:
    """The batch writer's own connection (used from its one thread)."""
    conn = sqlite3.connect(database, isolation_level=None, uri=True, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class StoreBase:
    """One aiosqlite connection in autocommit mode. Writes that span statements run in :meth:`transaction`,
    which holds a lock, so concurrent coroutines never interleave inside one."""

    def __init__(
        self, db: aiosqlite.Connection, clock: Callable[[], float] = time.time, *, database: str = ":memory:"
    ) -> None:
        self._db = db
        self._clock = clock
        self._write = asyncio.Lock()
        self._writer = BatchWriter(lambda: _connect(database))

    @classmethod
    async def open(cls, path: Path | str, clock: Callable[[], float] = time.time) -> Self:
        """Open (creating folders as needed), switch to WAL and apply pending migrations."""
        if str(path) == ":memory:":  # one in-memory database shared by the bot's two connections
            database = f"file:chorus-{secrets.token_hex(8)}?mode=memory&cache=shared"
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            database = Path(path).resolve().as_uri()
        db = await aiosqlite.connect(database, isolation_level=None, uri=True)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        for pragma in PRAGMAS:
            await db.execute(pragma)
        store = cls(db, clock, database=database)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._writer.close()
        await self._db.close()

    async def _migrate(self) -> None:
        version = await self.schema_version()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        return int(version)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception), one at a time."""
        async with self._write:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """One write statement, group-committed with the writes around it (see BatchWriter). Never a bare
        autocommit write on the main connection: under WAL, such a write can meet a snapshot another
        writer made stale and fail at once with "database is locked" instead of waiting its turn."""
        await self._writer.run(lambda conn: conn.execute(sql, params).rowcount)

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[aiosqlite.Row]:
        """A read, done in one go on the connection's thread: no statement stays open between awaits, so
        every read starts a fresh snapshot and sees what the batch writer committed before it."""
        return list(await self._db.execute_fetchall(sql, params))

    async def _value(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    # ----- metadata ---------------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        value = await self._value("SELECT value FROM meta WHERE key = ?", (key,))
        return str(value) if value is not None else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
