"""``python -m bot copy-db``: copy the bot's SQLite database into an empty PostgreSQL database, so a server
that moves to PostgreSQL keeps its history, balances, challenges and settings.

The copy is generic: every table of the SQLite file is copied, column by column by name, in an order that
respects the foreign keys, in batches (the database is never held in memory), inside ONE PostgreSQL
transaction: a failure anywhere leaves the target without a single row. The source is read in one snapshot.
Afterwards the identity sequences continue after the copied ids, and row counts and every member's balance are
compared on both sides (still inside the transaction: a mismatch commits nothing).

The URL is never printed (it may carry a password): only its host, port and database name.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosqlite
import asyncpg

from bot.settings import SettingsError, load_dotenv_file, parse_database_url
from bot.store import MIGRATIONS, Store
from bot.store.base import is_postgres_url
from bot.store.db import read_sqlite_version
from bot.store.postgres import PostgresDatabase

EXIT_OK = 0
EXIT_FAILED = 1  # the copy started and was rolled back
EXIT_REFUSED = 2  # nothing was done: the message says what to change
BATCH_ROWS = 1000
DEFAULT_SOURCE = Path("data/bot.db")
CONNECT_TIMEOUT = 10.0
LOCK_TIMEOUT = "10s"  # a bot already running against the target must not make the copy wait forever
# PostgreSQL's own record of the schema version; who posts in a channel now (nobody, once the bot is stopped).
NOT_COPIED = frozenset({"chorus_schema", "channel_leases"})

PROG = "python -m bot copy-db"
DESCRIPTION = """\
Copy the bot's SQLite database into an EMPTY PostgreSQL database (tasks, tracks, the credit ledger, settings,
challenges: every table), all or nothing, then check row counts and every member's balance on both sides.
Stop the bot first: what it writes during the copy is not copied. The SQLite file is first upgraded to this
code's schema, as the bot does when it starts; keep it afterwards as a backup."""
EPILOG = """\
Source: --from, else DATABASE_PATH (default data/bot.db). Target: --to, else DATABASE_URL. Both are also
read from .env. Prefer DATABASE_URL (in .env or the environment) to --to: a password on the command line is
visible to other users of the machine. Exit status: 0 copied, 2 refused (nothing done), 1 failed (rolled back)."""


class CopyRefused(Exception):
    """The copy cannot start; nothing was changed. The message is one line saying what to do."""


class CopyFailed(Exception):
    """The copy started and was rolled back: no row was written to the target."""


@dataclass(frozen=True)
class TableCopy:
    name: str
    rows: int


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_database` did."""

    source: Path
    target: str  # host:port/database, never the URL
    source_version: int  # the SQLite file's schema before the copy (it was migrated to schema_version)
    schema_version: int
    tables: tuple[TableCopy, ...]  # in the order they were copied
    members: int  # members whose balance was compared

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)

    @property
    def migrated(self) -> bool:
        return self.source_version != self.schema_version


# ----- the target's address, without its secrets ------------------------------------------------------------

def describe_target(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL: never its user, password or options."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    hosts = parts.netloc.rpartition("@")[2] or query.get("host", ["localhost"])[0]
    if not re.search(r":\d+$", hosts):
        hosts = f"{hosts}:{query.get('port', ['5432'])[0]}"
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", [""])[0] or "(default database)"
    return f"{hosts}/{database}"


def redact(text: str, url: str) -> str:
    """``text`` (an error message) without the URL or any password in it."""
    parts = urlsplit(url)
    secrets = {url}
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        raw = userinfo.partition(":")[2]
        secrets.update({raw, unquote(raw)})
    secrets.update(parse_qs(parts.query).get("password", []))
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def error_text(error: BaseException, url: str | None) -> str:
    """An error's own words (or its kind), without the URL or its password."""
    text = str(error).strip() or type(error).__name__
    return redact(text, url) if url else text


# ----- values: SQLite lets any column hold any type, PostgreSQL does not -------------------------------------

INTEGER_TYPES = frozenset({"bigint", "integer", "smallint"})
FLOAT_TYPES = frozenset({"double precision", "real"})
TEXT_TYPES = frozenset({"text", "character varying", "character"})
_INT64 = (-(2**63), 2**63)


def _to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int):  # bool
        return int(value)
    if isinstance(value, float) and value.is_integer() and _INT64[0] <= value < _INT64[1]:
        return int(value)
    raise ValueError(f"holds {value!r}, which is not a whole number")


def _to_float(value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, int):
        return float(value)
    raise ValueError(f"holds {value!r}, which is not a number")


def _to_text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise ValueError("holds bytes that are not UTF-8 text") from None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"holds {value!r}, which is not text")
    if "\x00" in value:
        raise ValueError("holds a NUL character, which PostgreSQL text cannot store")
    return value


def _as_is(value: Any) -> Any:
    return value


def value_converter(pg_type: str) -> Callable[[Any], Any]:
    """How a (non-NULL) SQLite value becomes what a PostgreSQL column of ``pg_type`` takes; raises ValueError
    for a value that would lose something (2.5 in a bigint column)."""
    if pg_type in INTEGER_TYPES:
        return _to_int
    if pg_type in FLOAT_TYPES:
        return _to_float
    if pg_type in TEXT_TYPES:
        return _to_text
    return _as_is


def convert_value(value: Any, pg_type: str) -> Any:
    return None if value is None else value_converter(pg_type)(value)


def row_converter(table: str, columns: Sequence[str],
                  types: dict[str, str]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function from a SQLite row (``columns`` in order) to the record PostgreSQL's COPY takes."""
    converters = [value_converter(types[column]) for column in columns]
    pairs = list(zip(columns, converters, strict=True))
    key = columns.index("id") if "id" in columns else None

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        try:
            return tuple(None if value is None else f(value) for f, value in zip(converters, row, strict=True))
        except ValueError:
            for (column, f), value in zip(pairs, row, strict=True):
                try:
                    if value is not None:
                        f(value)
                except ValueError as error:
                    where = f" (the row with id {row[key]})" if key is not None else ""
                    raise CopyFailed(f"{table}.{column}{where} {error} for a PostgreSQL {types[column]} column; "
                                     "correct that row in the SQLite file and run copy-db again") from None
            raise

    return convert


# ----- checks before anything is changed ----------------------------------------------------------------------

def check_source(path: Path) -> int:
    """The SQLite file's schema version, read without changing the file; refuses what cannot be copied."""
    if is_postgres_url(path):
        raise CopyRefused("--from/DATABASE_PATH must be the bot's SQLite file, not a PostgreSQL URL "
                          "(the target goes in --to or DATABASE_URL)")
    if not path.is_file():
        raise CopyRefused(f"source {path} does not exist; pass --from PATH or set DATABASE_PATH to the bot's "
                          "SQLite file")
    try:
        version, _ = read_sqlite_version(path)
    except sqlite3.Error as error:
        raise CopyRefused(f"source {path} is not a readable SQLite database ({error}); pass --from PATH with "
                          "the bot's database file") from None
    if version == 0:
        raise CopyRefused(f"source {path} is not a Chorus database (it has no schema); pass --from PATH with "
                          "the bot's database file")
    if version > len(MIGRATIONS):
        raise CopyRefused(f"source {path} has schema version {version}, newer than this code's "
                          f"{len(MIGRATIONS)}; update Chorus to the version that wrote it, then run copy-db")
    return version


async def check_target(url: str) -> int:
    """The target's schema version (0: none yet); refuses an unreachable or non-empty database."""
    where = describe_target(url)
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except asyncpg.InvalidCatalogNameError:
        raise CopyRefused(f"PostgreSQL at {where}: the database does not exist; create it (CREATE DATABASE) "
                          "or correct the name in DATABASE_URL/--to") from None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as error:
        raise CopyRefused(f"cannot reach PostgreSQL at {where}: {error_text(error, url)}; check that the "
                          "server runs and DATABASE_URL/--to (host, port, user, password, database)") from None
    try:
        version = 0
        if await conn.fetchval("SELECT to_regclass('chorus_schema') IS NOT NULL"):
            version = int(await conn.fetchval("SELECT MAX(version) FROM chorus_schema") or 0)
        if version > len(MIGRATIONS):
            raise CopyRefused(f"PostgreSQL at {where} has schema version {version}, newer than this code's "
                              f"{len(MIGRATIONS)}; it is not an empty database for this copy")
        tables = [row[0] for row in await conn.fetch(
            """SELECT table_name FROM information_schema.tables
               WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name""")]
        filled = await _filled(conn, [table for table in tables if table not in NOT_COPIED])
    finally:
        await conn.close()
    if filled:
        raise CopyRefused(_not_empty(where, filled))
    return version


def _not_empty(where: str, filled: Sequence[str]) -> str:
    return (f"refusing a non-empty target: PostgreSQL at {where} already holds rows ({', '.join(filled)}); "
            "copy-db only fills an empty database: create a new one and point DATABASE_URL/--to at it")


async def _filled(conn: asyncpg.Connection, tables: Sequence[str]) -> list[str]:
    return [table for table in tables if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_ident(table)})")]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ----- the copy -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    parents: frozenset[str]  # tables its foreign keys point to


async def _source_tables(src: aiosqlite.Connection) -> list[_Table]:
    names = [row[0] for row in await src.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name")]
    tables = []
    for name in names:
        if name in NOT_COPIED:
            continue
        columns = tuple(row[1] for row in await src.execute_fetchall(f"PRAGMA table_info({_ident(name)})"))
        parents = frozenset(row[2] for row in await src.execute_fetchall(f"PRAGMA foreign_key_list({_ident(name)})"))
        tables.append(_Table(name, columns, parents - {name}))
    return tables


def dependency_order(tables: Sequence[_Table]) -> list[_Table]:
    """Parents before children (a foreign key's table before the table that points to it), else by name."""
    by_name = {table.name: table for table in tables}
    done: set[str] = set()
    ordered: list[_Table] = []
    while len(ordered) < len(tables):
        ready = sorted(name for name, table in by_name.items()
                       if name not in done and not (table.parents & by_name.keys()) - done)
        if not ready:
            raise CopyFailed(f"the foreign keys between {', '.join(sorted(by_name.keys() - done))} form a cycle")
        done.add(ready[0])
        ordered.append(by_name[ready[0]])
    return ordered


async def _batches(src: aiosqlite.Connection, sql: str, size: int) -> AsyncIterator[list[Any]]:
    async with src.execute(sql) as cursor:
        while rows := await cursor.fetchmany(size):
            yield list(rows)


async def _balances(fetch: Callable[[str], Any]) -> dict[tuple[int, int], int]:
    rows = await fetch("SELECT guild_id, user_id, SUM(amount) FROM ledger GROUP BY guild_id, user_id")
    return {(int(row[0]), int(row[1])): int(row[2]) for row in rows}


async def copy_database(source: Path, target: str, *, batch_rows: int = BATCH_ROWS,
                        out: Callable[[str], None] = print) -> CopyReport:
    """Copy the SQLite database at ``source`` into the empty PostgreSQL database at ``target`` (a URL);
    ``out`` gets one line per step. Raises :class:`CopyRefused` before changing anything, :class:`CopyFailed`
    (or a database error) after rolling the copy back."""
    where = describe_target(target)
    source_version = check_source(source)
    target_version = await check_target(target)
    version = len(MIGRATIONS)

    # Both sides at this code's schema: the SQLite file is upgraded in place, as the bot does when it starts.
    store = await Store.open(source)
    await store.close()
    migrated = f", upgraded from schema {source_version} first" if source_version != version else ""
    out(f"source: {source} (SQLite, schema {version}{migrated})")
    try:
        target_store = await Store.open(target)
    except asyncpg.PostgresError as error:
        raise CopyFailed(f"could not create the schema in PostgreSQL at {where}: {error_text(error, target)}"
                         ) from None
    created = "schema created" if target_version == 0 else f"schema {target_version} upgraded to {version}" \
        if target_version != version else "schema already there"
    out(f"target: PostgreSQL at {where} (empty; {created})")

    try:
        db = target_store.database
        assert isinstance(db, PostgresDatabase)
        async with aiosqlite.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True,
                                     isolation_level=None) as src:
            await src.execute("BEGIN")  # one snapshot of the whole file, whatever else writes to it
            try:
                async with db.pool.acquire() as conn, conn.transaction():
                    report = await _copy(src, conn, source, where, source_version, batch_rows, out)
            finally:
                await src.execute("ROLLBACK")
    finally:
        await target_store.close()
    out(f"✓ copied {report.rows:,} rows in {len(report.tables)} tables; balances match for {report.members:,} "
        "members")
    out(f"next: set DATABASE_URL to this database (in .env or the environment) and start the bot; "
        f"keep {source} as a backup")
    return report


async def _copy(src: aiosqlite.Connection, conn: asyncpg.Connection, source: Path, where: str,
                source_version: int, batch_rows: int, out: Callable[[str], None]) -> CopyReport:
    tables = dependency_order(await _source_tables(src))
    types: dict[str, dict[str, str]] = {}
    identities: dict[str, list[str]] = {}
    for row in await conn.fetch(
            """SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns
               WHERE table_schema = current_schema()"""):
        types.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
        if row["is_identity"] == "YES":
            identities.setdefault(row["table_name"], []).append(row["column_name"])
    for table in tables:
        missing = [column for column in table.columns if column not in types.get(table.name, {})]
        if table.name not in types or missing:
            what = f"table {table.name}" if table.name not in types else f"{table.name}.{', '.join(missing)}"
            raise CopyFailed(f"PostgreSQL at {where} has no {what}, which the SQLite file has: their schemas differ")

    # No bot may write while the copy runs; and the target must still be empty now that it is locked.
    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    await conn.execute(f"LOCK TABLE {', '.join(_ident(t.name) for t in tables)} IN EXCLUSIVE MODE")
    filled = await _filled(conn, [table.name for table in tables])
    if filled:
        raise CopyRefused(_not_empty(where, filled))

    width = max((len(table.name) for table in tables), default=0)
    copied: list[TableCopy] = []
    for table in tables:
        convert = row_converter(table.name, table.columns, types[table.name])
        count = 0
        select = f"SELECT {', '.join(_ident(c) for c in table.columns)} FROM {_ident(table.name)}"
        async for batch in _batches(src, select, batch_rows):
            await conn.copy_records_to_table(table.name, records=[convert(row) for row in batch],
                                             columns=list(table.columns))
            count += len(batch)
        copied.append(TableCopy(table.name, count))
        out(f"  {table.name:<{width}}  {count:>12,} {'row' if count == 1 else 'rows'}")

    # The same rows on both sides, and the same balance for every member.
    for done in copied:
        source_count = list(await src.execute_fetchall(f"SELECT COUNT(*) FROM {_ident(done.name)}"))[0][0]
        target_count = await conn.fetchval(f"SELECT COUNT(*) FROM {_ident(done.name)}")
        if not source_count == done.rows == target_count:
            raise CopyFailed(f"{done.name}: {source_count} rows in SQLite, {target_count} in PostgreSQL; "
                             "nothing was committed")
    members = 0
    if "ledger" in types and any(done.name == "ledger" for done in copied):
        before = await _balances(src.execute_fetchall)
        after = await _balances(conn.fetch)
        if before != after:
            wrong = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
            raise CopyFailed(f"balances differ after the copy for {len(wrong)} members (first: guild {wrong[0][0]}, "
                             f"user {wrong[0][1]}); nothing was committed")
        members = len(before)

    # New rows continue after the copied ids (and after ids SQLite handed out for rows deleted since).
    used: dict[str, int] = {}
    if (await src.execute_fetchall("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")):
        used = {row[0]: int(row[1]) for row in await src.execute_fetchall("SELECT name, seq FROM sqlite_sequence")}
    for done in copied:
        for column in identities.get(done.name, []):
            await conn.execute(
                f"""SELECT setval(pg_get_serial_sequence($1, $2),
                                  GREATEST((SELECT MAX({_ident(column)}) FROM {_ident(done.name)}), $3) + 1, false)""",
                _ident(done.name), column, used.get(done.name, 0) if column == "id" else 0)
    return CopyReport(source, where, source_version, len(MIGRATIONS), tuple(copied), members)


# ----- the command --------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    name = Path(sys.argv[0]).name
    prog = PROG if name in ("__main__.py", "") else f"{name} copy-db"  # python -m bot, or the chorus script
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", metavar="PATH",
                        help="the SQLite file (default: DATABASE_PATH, else data/bot.db)")
    parser.add_argument("--to", dest="target", metavar="URL",
                        help="the empty PostgreSQL database, postgresql://USER:PASSWORD@HOST:PORT/NAME "
                             "(default: DATABASE_URL)")
    return parser


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def resolve(source: str | None, target: str | None) -> tuple[Path, str]:
    """The source file and the target URL, from the options, else the environment (validated like the bot's
    settings)."""
    path = Path(source or _env("DATABASE_PATH") or DEFAULT_SOURCE)
    url = target.strip() if target else _env("DATABASE_URL")
    if url is None:
        raise CopyRefused("no target: set DATABASE_URL to the empty PostgreSQL database (postgresql://…) in .env "
                          "or the environment, or pass --to URL")
    try:
        parse_database_url(url)
    except SettingsError as error:
        message = str(error) if target is None else "--to" + str(error).removeprefix(error.variable)
        raise CopyRefused(redact(message, url)) from None
    return path, url


def main(argv: Sequence[str] | None = None) -> int:
    """``copy-db [--from PATH] [--to URL]``; returns the exit status."""
    args = _parser().parse_args(sys.argv[2:] if argv is None else argv)
    load_dotenv_file()
    url = ""
    try:
        path, url = resolve(args.source, args.target)
        asyncio.run(copy_database(path, url))
    except CopyRefused as error:
        print(f"chorus copy-db: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except (CopyFailed, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, sqlite3.Error) as error:
        print(f"chorus copy-db: failed, nothing was copied (no row was committed to PostgreSQL): "
              f"{error_text(error, url)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("chorus copy-db: interrupted, nothing was copied (no row was committed to PostgreSQL)",
              file=sys.stderr)
        return 130
    return EXIT_OK
