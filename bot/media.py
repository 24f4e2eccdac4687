"""The media store: the bot's own copy of every result file it fetched (audio, covers, stems, exports), so
songs outlive the provider, which deletes its files after 14 days (15 on sunoapi.org).

Files live in a directory (MEDIA_DIR, by default ``media`` beside the SQLite database), one folder per server
and task: ``<guild>/<task>/<slot>-<name>``. The slot says which result it is (``a1``: track 1's audio, ``c1``:
its cover, ``f3``: the third file of a stems or export result); the name is what a member's browser saves it
as. The directory is the only record: nothing about a file is kept in the database, so a copy restored or
moved with the directory is complete, and several bot processes that mount one directory share it.

A copy is streamed to a temporary file in its folder and renamed into place when complete: never held whole
in memory, never seen half-written. Members reach copies only through signed links (bot/links.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_FILE = 512 * MiB  # a result larger than this is not kept (Suno's longest video is far smaller)
DAY = 86400.0
PRUNE_EVERY = DAY
TOTAL_MAX_AGE = 300.0
KEY_FILE = ".link-key"  # the key links are signed with, when MEDIA_LINK_KEY is not set
# A stored file's relative path: server, task, slot and a name of word characters, "-", "_" and one suffix.
NAME = re.compile(r"[\w\-]{1,160}\.[a-z0-9]{1,5}")
RELATIVE = re.compile(r"(?P<guild>[0-9]{1,20})/(?P<task>[0-9]{1,20})/(?P<slot>[acf][0-9]{1,3})-" + NAME.pattern)


@dataclass(frozen=True)
class Kept:
    """One kept file."""

    path: Path
    relative: str  # "<guild>/<task>/<slot>-<name>": what links name
    size: int

    @property
    def filename(self) -> str:
        """The name a member sees and saves it as (without the slot)."""
        return self.path.name.partition("-")[2]


@dataclass(frozen=True)
class Usage:
    files: int = 0
    bytes: int = 0
    oldest: float | None = None  # when the oldest file was kept (Unix time)

    def __add__(self, other: Usage) -> Usage:
        oldest = min((t for t in (self.oldest, other.oldest) if t is not None), default=None)
        return Usage(self.files + other.files, self.bytes + other.bytes, oldest)


class MediaStore:
    """Kept copies of result files, in a directory."""

    def __init__(self, root: Path, *, max_file: int = MAX_FILE, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.max_file = max_file
        self._clock = clock
        self._pruning: asyncio.Task[None] | None = None
        self._total: tuple[float, Usage] | None = None  # (when counted, what)

    async def open(self) -> None:
        """Create the directory and check it can be written (OSError: it cannot)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".probe-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()

    def link_key(self) -> bytes:
        """The key links are signed with when the operator sets none: made once, kept beside the files (every
        process that serves them reads the same one), readable only by the bot's user."""
        path = self.root / KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes().strip()
            if len(key) >= 32:
                return key
            raise OSError(f"{path} is damaged: delete it (links made with it stop working) or set MEDIA_LINK_KEY")
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_hex(32).encode())
        return path.read_bytes().strip()

    # ----- finding and keeping --------------------------------------------------------------------------------

    def folder(self, guild_id: int | None, task_id: int) -> Path:
        return self.root / str(guild_id or 0) / str(task_id)

    def find(self, guild_id: int | None, task_id: int, slot: str) -> Kept | None:
        """The kept copy of ``slot`` of a task, if there is one."""
        folder = self.folder(guild_id, task_id)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith(f"{slot}-") and entry.is_file():
                        return self._kept(entry.path, entry.stat().st_size)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None

    def _kept(self, path: str | Path, size: int) -> Kept:
        path = Path(path)
        return Kept(path, path.relative_to(self.root).as_posix(), size)

    def resolve(self, relative: str) -> Kept | None:
        """The kept file a link names, or None (malformed names never reach the file system)."""
        if not RELATIVE.fullmatch(relative):
            return None
        path = self.root / relative
        try:
            size = path.stat().st_size
        except OSError:
            return None
        return self._kept(path, size) if path.is_file() else None

    async def keep(self, guild_id: int | None, task_id: int, slot: str, filename: str,
                   chunks: AsyncIterable[bytes]) -> Kept | None:
        """Stream ``chunks`` into a new copy of ``slot`` named ``filename``. None, with nothing left behind,
        if the file is larger than ``max_file`` or cannot be written (a full disk is logged, not raised)."""
        if not NAME.fullmatch(filename):
            filename = "file.bin"
        folder = self.folder(guild_id, task_id)
        temporary = folder / f".part-{secrets.token_hex(6)}"
        final = folder / f"{slot}-{filename}"
        written = 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
            file = open(temporary, "wb")  # noqa: SIM115 - closed below, before the rename
        except OSError as error:
            return self._cannot_write(task_id, error)
        try:
            with file:
                async for chunk in chunks:  # the network's errors (OSErrors too) are the caller's
                    written += len(chunk)
                    if written > self.max_file:
                        log.warning("task %s: a result file over %d MiB was not kept", task_id,
                                    self.max_file // MiB)
                        return None
                    if not self._write(file, chunk, task_id):
                        return None
            try:
                for old in folder.glob(f"{slot}-*"):  # a copy kept before under another name
                    old.unlink(missing_ok=True)
                os.replace(temporary, final)
            except OSError as error:
                return self._cannot_write(task_id, error)
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        return self._kept(final, written)

    def _write(self, file: IO[bytes], chunk: bytes, task_id: int) -> bool:
        try:
            file.write(chunk)
        except OSError as error:  # a full disk
            self._cannot_write(task_id, error)
            return False
        return True

    def _cannot_write(self, task_id: int, error: OSError) -> None:
        log.error("media store: could not keep a file of task %s in %s: %s", task_id, self.root,
                  error.strerror or error)

    async def forget(self, guild_id: int | None, task_id: int) -> None:
        """Delete every copy of a task's results."""
        await asyncio.to_thread(shutil.rmtree, self.folder(guild_id, task_id), True)

    # ----- size and retention ---------------------------------------------------------------------------------

    async def usage(self, guild_id: int | None = None) -> Usage:
        """What is kept: for one server, or for all."""
        return await asyncio.to_thread(self._usage, guild_id)

    async def total(self, max_age: float = TOTAL_MAX_AGE) -> Usage:
        """Everything kept, counted at most every ``max_age`` seconds (for metrics scraped every few seconds)."""
        now = time.monotonic()
        if self._total is None or now - self._total[0] > max_age:
            self._total = (now, await self.usage())
        return self._total[1]

    def _usage(self, guild_id: int | None) -> Usage:
        total = Usage()
        for guild in self._dirs(self.root):
            if guild_id is not None and guild.name != str(guild_id):
                continue
            for task in self._dirs(Path(guild.path)):
                for entry in self._files(Path(task.path)):
                    stat = entry.stat()
                    total += Usage(1, stat.st_size, stat.st_mtime)
        return total

    async def prune(self, older_than_days: float) -> Usage:
        """Delete copies kept more than ``older_than_days`` ago (and leftovers of copies cut short); returns
        what was deleted."""
        return await asyncio.to_thread(self._prune, self._clock() - older_than_days * DAY)

    def _prune(self, cutoff: float) -> Usage:
        removed = Usage()
        stale_parts = self._clock() - DAY
        for guild in self._dirs(self.root):
            for task in self._dirs(Path(guild.path)):
                for entry in self._files(Path(task.path), parts=True):
                    stat = entry.stat()
                    part = entry.name.startswith(".part-")
                    if stat.st_mtime < (stale_parts if part else cutoff):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
                            if not part:
                                removed += Usage(1, stat.st_size, stat.st_mtime)
                with contextlib.suppress(OSError):  # only succeeds once the folder is empty
                    os.rmdir(task.path)
        return removed

    def start(self, retention_days: float | None) -> None:
        """Prune once a day when MEDIA_RETENTION_DAYS is set (every process may: deleting is idempotent)."""
        if retention_days is not None and self._pruning is None:
            self._pruning = asyncio.create_task(self._prune_daily(retention_days), name="media-prune")

    async def _prune_daily(self, retention_days: float) -> None:
        while True:
            try:
                removed = await self.prune(retention_days)
                if removed.files:
                    log.info("media store: deleted %d files (%.1f MiB) kept over %g days", removed.files,
                             removed.bytes / MiB, retention_days)
            except OSError as error:
                log.error("media store: pruning failed: %s", error)
            await asyncio.sleep(PRUNE_EVERY)

    async def stop(self) -> None:
        if self._pruning is not None:
            self._pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruning
            self._pruning = None

    @staticmethod
    def _dirs(path: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(path) as entries:
                return [entry for entry in entries if entry.is_dir(follow_symlinks=False) and entry.name.isdigit()]
        except OSError:
            return []

    @staticmethod
    def _files(path: Path, *, parts: bool = False) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(path) as entries:
                return [entry for entry in entries if entry.is_file(follow_symlinks=False)
                        and (parts or not entry.name.startswith("."))]
        except OSError:
            return []
