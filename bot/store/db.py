"""One interface to the database, with a backend per database (SQLite here, PostgreSQL in ``postgres.py``).

The store writes its SQL once, in the dialect both understand (``?`` placeholders, ``ON CONFLICT``,
``RETURNING``); the PostgreSQL backend rewrites the placeholders. Three ways to write:

* :meth:`Database.execute` — one statement;
* :meth:`Database.write` — a short unit of work (a few statements with a little logic between them) that
  runs in a transaction of its own; on SQLite, units that arrive together share one (group commit, see
  ``writer.py``), so a unit must await nothing but its transaction;
* :meth:`Database.transaction` — reads and writes that must not interleave with any other such transaction,
  in this process or another (credits, caps, entries, votes): SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL,
  a transaction-scoped advisory lock that every such transaction takes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from bot.store.writer import BatchWriter

T = TypeVar("T")
Params = Sequence[Any]


class UniqueViolation(Exception):
    """A write broke a unique constraint (the same on every backend)."""


class SchemaTooNew(Exception):
    """The database is at a schema version this code does not know: a newer Chorus used it. Nothing was
    changed; running older code on it could misread or damage what the newer one wrote."""

    def __init__(self, version: int, supported: int) -> None:
        super().__init__(f"the database is at schema version {version}, newer than this code's {supported}")
        self.version = version
        self.supported = supported


class Tx(Protocol):
    """Statements inside a transaction."""

    async def rows(self, sql: str, params: Params = ()) -> list[Any]: ...
    async def value(self, sql: str, params: Params = ()) -> Any: ...
    async def execute(self, sql: str, params: Params = ()) -> int: ...
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...


Work = Callable[[Tx], Awaitable[T]]


class Database(ABC):
    """A connection (or pool) to one database."""

    kind: str  # "sqlite" or "postgresql"
    shared: bool  # other processes may use this database at the same time

    @abstractmethod
    async def rows(self, sql: str, params: Params = ()) -> list[Any]: ...

    async def value(self, sql: str, params: Params = ()) -> Any:
        rows = await self.rows(sql, params)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement; the number of rows it changed."""
        return await self.write(lambda tx: tx.execute(sql, params))

    @abstractmethod
    async def write(self, work: Work[T]) -> T: ...

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    @abstractmethod
    async def next_ids(self, tx: Tx, table: str, count: int) -> list[int]:
        """``count`` unused ids for ``table`` (inside a :meth:`transaction`), for rows inserted in bulk."""

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def migrate(self, migrations: Sequence[str]) -> None:
        """Apply the migrations the database has not had yet; raises :class:`SchemaTooNew` (changing nothing)
        when it is at a version beyond ``len(migrations)``."""

    async def notify(self, channel: str) -> None:
        """Wake the processes listening on ``channel`` (nobody else listens to a SQLite file)."""

    @abstractmethod
    async def close(self) -> None: ...


# ----- SQLite -----------------------------------------------------------------------------------------------

# WAL with synchronous=NORMAL: a commit survives the bot being killed; only a power loss can undo the last
# few (never corrupting the file). Commits then skip an fsync each.
PRAGMAS = ("PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000", "PRAGMA synchronous=NORMAL")


def _unique(error: sqlite3.IntegrityError) -> Exception:
    return UniqueViolation(str(error)) if "UNIQUE" in str(error) else error


class _SqliteTx:
    """Statements on the bot's main aiosqlite connection, inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, params: Params = ()) -> list[Any]:
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def value(self, sql: str, params: Params = ()) -> Any:
        rows = await self.rows(sql, params)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            cursor = await self._conn.execute(sql, tuple(params))
        except sqlite3.IntegrityError as error:
            raise _unique(error) from error
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, [tuple(row) for row in rows])


class SyncTx:
    """The same statements on the batch writer's plain sqlite3 connection, in its thread. The methods are
    coroutines that never suspend, so a unit of work written for any backend runs here to completion in one
    step (see :func:`writer.run_to_end`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, params: Params = ()) -> list[Any]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    async def value(self, sql: str, params: Params = ()) -> Any:
        row = self._conn.execute(sql, tuple(params)).fetchone()
        return row[0] if row else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return self._conn.execute(sql, tuple(params)).rowcount
        except sqlite3.IntegrityError as error:
            raise _unique(error) from error

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._conn.executemany(sql, [tuple(row) for row in rows])


def read_sqlite_version(path: Path, timeout: float = 5.0) -> tuple[int, int]:
    """(schema version, number of schema objects) of a SQLite file, read without changing it: without a -wal
    file the main file is the whole database and is read as immutable (no lock, no -wal or -shm file left
    behind); with one (the bot runs, or stopped uncleanly) read-only through SQLite's locks, so what the bot
    committed is seen. For the maintenance commands (check, copy-db); raises sqlite3.Error."""
    options = "mode=ro" if Path(f"{path}-wal").exists() else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, timeout=timeout)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        objects = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    finally:
        conn.close()
    return version, objects


def _connect(database: str) -> sqlite3.Connection:
    """The batch writer's own connection (used from its one thread)."""
    conn = sqlite3.connect(database, isolation_level=None, uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class SqliteDatabase(Database):
    """One aiosqlite connection in autocommit mode for reads and transactions, and a batch writer (a second
    connection in a thread of its own) for the short writes that come in floods."""

    kind = "sqlite"
    shared = False

    def __init__(self, conn: aiosqlite.Connection, database: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._writer = BatchWriter(lambda: _connect(database), SyncTx)

    @classmethod
    async def open(cls, database: str) -> SqliteDatabase:
        conn = await aiosqlite.connect(database, isolation_level=None, uri=True)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        return cls(conn, database)

    async def rows(self, sql: str, params: Params = ()) -> list[Any]:
        """A read, done in one go on the connection's thread: no statement stays open between awaits, so
        every read starts a fresh snapshot and sees what the batch writer committed before it."""
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def write(self, work: Work[T]) -> T:
        """Group-committed with the writes around it. Never a bare autocommit write on the main connection:
        under WAL, such a write can meet a snapshot another writer made stale and fail at once with "database
        is locked" instead of waiting its turn."""
        return await self._writer.run(work)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception), one at a time."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def next_ids(self, tx: Tx, table: str, count: int) -> list[int]:
        # AUTOINCREMENT never reuses an id, and the write lock is held until the rows are in.
        first = await tx.value(
            f"""SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0),
                           COALESCE((SELECT MAX(id) FROM {table}), 0)) + 1""")
        return list(range(int(first), int(first) + count))

    async def schema_version(self) -> int:
        return int(await self.value("PRAGMA user_version"))

    async def migrate(self, migrations: Sequence[str]) -> None:
        version = await self.schema_version()
        if version > len(migrations):
            raise SchemaTooNew(version, len(migrations))
        for number, script in enumerate(migrations[version:], start=version + 1):
            await self._conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def close(self) -> None:
        await self._writer.close()
        await self._conn.close()
