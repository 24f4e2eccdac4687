"""``python -m bot backup PATH``: a consistent copy of the bot's SQLite database, taken while the bot runs.

SQLite's online backup API copies the database as of one moment (a read snapshot: under WAL the bot keeps
writing meanwhile, and what it commits after that moment is simply not in the copy). The copy is written to a
temporary file beside PATH, switched out of WAL mode (one self-contained file), checked with
``PRAGMA integrity_check``, and only then given its name: PATH never holds half a backup.

PostgreSQL (``DATABASE_URL`` set) is backed up with ``pg_dump``; this command only says so. Restore: stop the
bot, copy the file back to DATABASE_PATH, remove any ``-wal``/``-shm`` file beside it, start the bot.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.settings import load_dotenv_file
from bot.store import MIGRATIONS

EXIT_OK = 0
EXIT_FAILED = 1  # the backup started and failed: nothing was left at PATH
EXIT_REFUSED = 2  # nothing was done: the message says what to change
DEFAULT_SOURCE = Path("data/bot.db")
BUSY_TIMEOUT_MS = 10_000  # the bot's writer holds the write lock only briefly; a backup only reads anyway

PROG = "python -m bot backup"
DESCRIPTION = """\
Copy the bot's SQLite database (DATABASE_PATH, default data/bot.db, also read from .env) into PATH: a
consistent copy, safe to take while the bot runs, checked with PRAGMA integrity_check. PATH must not exist
yet; its folder is created. Restore: stop the bot, copy the file back to DATABASE_PATH, remove any -wal and
-shm files beside it, start the bot."""
EPILOG = """\
With DATABASE_URL (PostgreSQL), use pg_dump instead (see "Running at scale" in the README).
Exit status: 0 backed up, 2 refused (nothing done), 1 failed (nothing left at PATH)."""


class BackupRefused(Exception):
    """The backup cannot start; nothing was written. The message is one line saying what to do."""


@dataclass(frozen=True)
class BackupReport:
    source: Path
    target: Path
    schema_version: int
    size: int  # bytes

    def describe(self) -> str:
        newer = (f" (newer than this code's {len(MIGRATIONS)})" if self.schema_version > len(MIGRATIONS) else "")
        return (f"✓ backed up {self.source} to {self.target}: schema version {self.schema_version}{newer}, "
                f"{_size(self.size)}, integrity check ok")


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    scaled, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit} ({size:,} bytes)"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def check_target(target: Path) -> None:
    if target.is_dir():
        raise BackupRefused(f"{target} is a folder; give the backup's file name, such as {target / 'bot.db'}")
    if os.path.lexists(target):
        raise BackupRefused(f"{target} already exists; choose a new file name (a backup never overwrites)")


def _open_source(source: Path) -> sqlite3.Connection:
    """The bot's database, never created (``mode=rw``), waiting out the bot's short write locks."""
    if not source.is_file():
        raise BackupRefused(f"DATABASE_PATH: {source} does not exist; set DATABASE_PATH (in .env or the "
                            "environment) to the bot's database file")
    try:
        conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as error:
        raise BackupRefused(f"DATABASE_PATH: {source} is not a readable SQLite database ({error})") from None
    if version == 0:
        conn.close()
        raise BackupRefused(f"DATABASE_PATH: {source} is not a Chorus database (it has no schema); set "
                            "DATABASE_PATH to the bot's database file")
    return conn


def backup_database(source: Path, target: Path) -> BackupReport:
    """Copy ``source`` into ``target`` (which must not exist) and verify the copy."""
    check_target(target)
    src = _open_source(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
        partial = Path(name)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # all pages in one step: one read snapshot of the source
                dst.execute("PRAGMA journal_mode=DELETE")  # one file (the bot turns WAL back on when it opens it)
                problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError(f"the copy failed its integrity check: {'; '.join(problems[:3])}")
                version = int(dst.execute("PRAGMA user_version").fetchone()[0])
            finally:
                dst.close()
            check_target(target)  # still free (another backup may have taken the name meanwhile)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    finally:
        src.close()
    return BackupReport(source, target, version, target.stat().st_size)


# ----- the command --------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    name = Path(sys.argv[0]).name
    prog = PROG if name in ("__main__.py", "") else f"{name} backup"  # python -m bot, or the chorus script
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", metavar="PATH", help="the backup file to write, such as data/backup.db")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``backup PATH``; returns the exit status."""
    args = _parser().parse_args(sys.argv[2:] if argv is None else argv)
    load_dotenv_file()
    target = Path(args.path)
    if _env("DATABASE_URL") is not None:  # never printed: it may carry a password
        print("chorus backup: DATABASE_URL is set, so the bot's database is PostgreSQL: back it up with "
              f'pg_dump --format=custom --file={shlex.quote(str(target))} "$DATABASE_URL"', file=sys.stderr)
        return EXIT_REFUSED
    source = Path(_env("DATABASE_PATH") or DEFAULT_SOURCE)
    try:
        report = backup_database(source, target)
    except BackupRefused as error:
        print(f"chorus backup: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, sqlite3.Error) as error:
        print(f"chorus backup: failed, nothing was written to {target}: {str(error).strip() or type(error).__name__}",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"chorus backup: interrupted, nothing was written to {target}", file=sys.stderr)
        return 130
    print(report.describe())
    return EXIT_OK
