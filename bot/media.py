"""The media store: the bot's own copy of every result file it fetched (audio, covers, stems, exports), so
songs outlive the provider, which deletes its files after 14 days (15 on sunoapi.org).

Files live in a directory (MEDIA_DIR, by default ``media`` beside the SQLite database), one folder per server
and task: ``<guild>/<task>-<created>/<slot>-<name>`` (the task's number and the second it was made, so a number
used again by a new or restored database never finds another song's files). The slot says which result it is
(``a1``: track 1's audio, ``c1``: its cover, ``k1``: its karaoke .lrc, ``f3``: the third file of a stems or
export result); the name is
what a member's browser saves it as. The directory is the only record: nothing about a file is kept in the
database, so a copy restored or moved with the directory is complete, and several bot processes that mount
one directory share it.

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
from collections.abc import AsyncIterable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_FILE = 512 * MiB  # a result larger than this is not kept (Suno's longest video is far smaller)
DAY = 86400.0
PRUNE_EVERY = DAY
TOTAL_MAX_AGE = 300.0
KEY_FILE = ".link-key"  # the key links are signed with, when MEDIA_LINK_KEY is not set
# A stored file's relative path: server, task (its id and creation second: ids start again in a new database),
# slot, and a name of word characters, "-", "_" and one suffix.
NAME = re.compile(r"[\w\-]{1,160}\.[a-z0-9]{1,5}")
RELATIVE = re.compile(r"[0-9]{1,20}/[0-9]{1,20}-[0-9]{1,12}/[acfk][0-9]{1,3}-" + NAME.pattern)
GUILD_FOLDER = re.compile(r"[0-9]{1,20}")
TASK_FOLDER = re.compile(r"[0-9]{1,20}-[0-9]{1,12}")


@dataclass(frozen=True)
class Owner:
    """Whose files: a task of a server. The creation time is part of it, so a task number used again (a
    database restored from a backup, or a new one) never finds another song's files."""

    guild_id: int | None
    task_id: int
    created_at: float

    @classmethod
    def of(cls, task: Any) -> Owner:
        return cls(task.guild_id, task.id, task.created_at)

    @property
    def folder(self) -> str:
        return f"{self.guild_id or 0}/{self.task_id}-{int(self.created_at)}"


@dataclass(frozen=True)
class Kept:
    """One kept file."""

    path: Path
    relative: str  # "<guild>/<task>-<created>/<slot>-<name>": what links name
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
        self._housekeeping: asyncio.Task[None] | None = None
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
        process that serves them reads the same one), readable only by the bot's user. Written whole under a
        temporary name and linked into place, so processes starting together agree on one key and a crash
        never leaves an empty one."""
        path = self.root / KEY_FILE
        if not path.exists():
            draft = self.root / f".link-key-{secrets.token_hex(4)}"
            try:
                fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as file:
                    file.write(secrets.token_hex(32).encode())
                    file.flush()
                    os.fsync(file.fileno())
                with contextlib.suppress(FileExistsError):  # another process made it first: theirs is used
                    os.link(draft, path)
            finally:
                draft.unlink(missing_ok=True)
        key = path.read_bytes().strip()
        if len(key) < 32:
            raise OSError(f"{path} is not a key this bot wrote; set MEDIA_LINK_KEY, or restore the file from a "
                          "backup (links already posted were signed with it)")
        return key

    # ----- finding and keeping --------------------------------------------------------------------------------

    def folder(self, owner: Owner) -> Path:
        return self.root / owner.folder

    def find(self, owner: Owner, slot: str) -> Kept | None:
        """The kept copy of ``slot`` of a task, if there is one."""
        try:
            with os.scandir(self.folder(owner)) as entries:
                for entry in entries:
                    if entry.name.startswith(f"{slot}-") and entry.is_file(follow_symlinks=False):
                        return self._kept(entry.path, entry.stat().st_size)
        except OSError:  # no folder yet, or the file went in the meantime
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

    async def keep(self, owner: Owner, slot: str, filename: str, chunks: AsyncIterable[bytes]) -> Kept | None:
        """Stream ``chunks`` into a new copy of ``slot`` named ``filename``. None, with nothing left behind,
        if the file is larger than ``max_file`` or cannot be written (a full disk is logged, not raised);
        the network's errors while reading ``chunks`` propagate."""
        if not NAME.fullmatch(filename):
            filename = "file.bin"
        folder = self.folder(owner)
        temporary = folder / f".part-{secrets.token_hex(6)}"
        final = folder / f"{slot}-{filename}"
        written = 0
        try:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                file = open(temporary, "wb", buffering=0)  # noqa: SIM115 - closed below, before the rename
            except OSError as error:
                return self._cannot_write(owner, error)
            with file:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > self.max_file:
                        log.warning("task %s: a result file over %d MiB was not kept", owner.task_id,
                                    self.max_file // MiB)
                        return None
                    if not self._write(file, chunk, owner):
                        return None
            try:
                os.replace(temporary, final)
            except OSError as error:
                return self._cannot_write(owner, error)
            for old in folder.glob(f"{slot}-*"):  # a copy kept before under another name (a renamed title)
                if old != final:
                    old.unlink(missing_ok=True)
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        return self._kept(final, written)

    def _write(self, file: IO[bytes], chunk: bytes, owner: Owner) -> bool:
        """Write all of ``chunk`` (unbuffered: a full disk shows here, not when the file is closed)."""
        try:
            view = memoryview(chunk)
            while view:
                view = view[file.write(view) or 0:]
        except OSError as error:
            self._cannot_write(owner, error)
            return False
        return True

    def _cannot_write(self, owner: Owner, error: OSError) -> None:
        log.error("media store: could not keep a file of task %s in %s: %s", owner.task_id, self.root,
                  error.strerror or error)

    async def forget(self, owner: Owner) -> None:
        """Delete every copy of a task's results."""
        await asyncio.to_thread(shutil.rmtree, self.folder(owner), True)

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
        for guild, _, stat in self._walk():
            if guild_id is None or guild == str(guild_id):
                total += Usage(1, stat.st_size, stat.st_mtime)
        return total

    async def prune(self, older_than_days: float | None) -> Usage:
        """Delete copies kept more than ``older_than_days`` ago (None: none), leftovers of copies cut short
        more than a day ago, and empty folders; returns what was deleted."""
        cutoff = None if older_than_days is None else self._clock() - older_than_days * DAY
        return await asyncio.to_thread(self._prune, cutoff)

    def _prune(self, cutoff: float | None) -> Usage:
        removed = Usage()
        stale_parts = self._clock() - DAY
        for _, path, stat in self._walk(parts=True):
            part = path.name.startswith(".part-")
            limit = stale_parts if part else cutoff
            if limit is None or stat.st_mtime >= limit:
                continue
            with contextlib.suppress(FileNotFoundError):  # another process pruned it first
                path.unlink()
                if not part:
                    removed += Usage(1, stat.st_size, stat.st_mtime)
        for guild in self._dirs(self.root, GUILD_FOLDER):
            for task in self._dirs(Path(guild.path), TASK_FOLDER):
                with contextlib.suppress(OSError):  # only succeeds once the folder is empty
                    os.rmdir(task.path)
        return removed

    def _walk(self, *, parts: bool = False) -> Iterator[tuple[str, Path, os.stat_result]]:
        """(server folder, path, stat) of every kept file (and, with ``parts``, of every copy being written);
        a file deleted meanwhile is skipped."""
        for guild in self._dirs(self.root, GUILD_FOLDER):
            for task in self._dirs(Path(guild.path), TASK_FOLDER):
                try:
                    with os.scandir(task.path) as entries:
                        found = [entry for entry in entries if entry.is_file(follow_symlinks=False)
                                 and (parts and entry.name.startswith(".part-") or not entry.name.startswith("."))]
                except OSError:
                    continue
                for entry in found:
                    try:
                        stat = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield guild.name, Path(entry.path), stat

    def start(self, retention_days: float | None) -> None:
        """Once a day: delete copies older than MEDIA_RETENTION_DAYS (when set) and leftovers (every process
        may: deleting is idempotent)."""
        if self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._daily(retention_days), name="media-housekeeping")

    async def _daily(self, retention_days: float | None) -> None:
        while True:
            try:
                removed = await self.prune(retention_days)
                if removed.files:
                    log.info("media store: deleted %d files (%.1f MiB) kept over %g days", removed.files,
                             removed.bytes / MiB, retention_days)
            except OSError as error:
                log.error("media store: housekeeping failed: %s", error)
            await asyncio.sleep(PRUNE_EVERY)

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None

    @staticmethod
    def _dirs(path: Path, name: re.Pattern[str]) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(path) as entries:
                return [entry for entry in entries
                        if entry.is_dir(follow_symlinks=False) and name.fullmatch(entry.name)]
        except OSError:
            return []
