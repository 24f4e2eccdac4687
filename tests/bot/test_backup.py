"""``python -m bot backup PATH``: a consistent copy of the SQLite database, taken while the bot writes, that
the bot opens as it is; refusals that change nothing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot import backup
from bot.backup import BackupRefused, backup_database
from bot.models import MusicRequest
from bot.store import MIGRATIONS, NewTask, Store

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pg-password-for-the-backup-test"


def _new(n: int) -> NewTask:
    return NewTask("kie", f"{n:032d}", 1, 2, 3, MusicRequest(prompt=f"song {n}"), 10)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a maintenance command: no token, no database settings from the developer's shell."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DISCORD_TOKEN", "DATABASE_URL", "DATABASE_PATH")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, not an installed copy
    env.update(extra)
    return env


def run_command(*args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "backup", *args], cwd=cwd, env=clean_env(**extra),
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no database variables from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "DATABASE_PATH", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


async def test_a_backup_taken_while_the_store_writes_opens_with_the_store(tmp_path: Path) -> None:
    path, copy = tmp_path / "bot.db", tmp_path / "backups" / "nested" / "copy.db"
    store = await Store.open(path)
    first = await store.create_task(_new(0))
    await store.set_meta("greeting", "hello")
    written = [first.id]
    stop = asyncio.Event()

    async def keep_writing() -> None:  # the bot at work while the backup runs
        n = 1
        while not stop.is_set():
            task = await store.create_task(_new(n))
            await store.mark_submitted(task.id, f"remote-{n}", next_poll_at=0)
            written.append(task.id)
            n += 1

    writer = asyncio.create_task(keep_writing())
    try:
        while len(written) < 20:
            await asyncio.sleep(0.01)
        report = await asyncio.to_thread(backup_database, path, copy)
        at_backup = len(written)
        while len(written) < at_backup + 20:  # the bot went on writing afterwards
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await writer
    await store.close()

    assert report.schema_version == len(MIGRATIONS) and report.size == copy.stat().st_size > 0
    assert not list(copy.parent.glob("*.partial")) and not Path(f"{copy}-wal").exists()
    with sqlite3.connect(copy) as conn:  # one self-contained file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()

    restored = await Store.open(copy)
    try:
        assert await restored.schema_version() == len(MIGRATIONS)
        task = await restored.get_task(first.id)
        assert task is not None and task.request == MusicRequest(prompt="song 0") and task.user_id == 3
        assert await restored.get_meta("greeting") == "hello"
        counts = await restored.count_by_state()
        assert 20 <= sum(counts.values()) < len(written)  # a snapshot from the middle of the writes
    finally:
        await restored.close()


async def test_refuses_an_existing_path_or_a_folder(tmp_path: Path, no_settings: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = await Store.open(tmp_path / "data" / "bot.db")  # the default DATABASE_PATH, in the working folder
    await store.close()
    existing = tmp_path / "keep.db"
    existing.write_bytes(b"an earlier backup")
    assert backup.main([str(existing)]) == backup.EXIT_REFUSED
    err = capsys.readouterr().err
    assert err == f"chorus backup: {existing} already exists; choose a new file name (a backup never overwrites)\n"
    assert existing.read_bytes() == b"an earlier backup"

    folder = tmp_path / "backups"
    folder.mkdir()
    assert backup.main([str(folder)]) == backup.EXIT_REFUSED
    err = capsys.readouterr().err
    assert f"{folder} is a folder" in err and len(err.splitlines()) == 1
    assert list(folder.iterdir()) == []

    assert backup.main(["fresh.db"]) == backup.EXIT_OK  # DATABASE_PATH's default: data/bot.db
    assert f"schema version {len(MIGRATIONS)}" in capsys.readouterr().out


async def test_refuses_a_missing_or_foreign_database(tmp_path: Path, no_settings: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackupRefused, match="does not exist; set DATABASE_PATH"):
        backup_database(tmp_path / "nowhere.db", tmp_path / "copy.db")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(BackupRefused, match="not a Chorus database"):
        backup_database(empty, tmp_path / "copy.db")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just some words that fill more than a header" * 10)
    with pytest.raises(BackupRefused, match="not a readable SQLite database"):
        backup_database(text, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


def test_the_command_backs_up_without_a_discord_token(tmp_path: Path) -> None:
    async def make() -> None:
        store = await Store.open(tmp_path / "state" / "chorus.db")
        await store.create_task(_new(1))
        await store.close()

    asyncio.run(make())
    (tmp_path / ".env").write_text("DATABASE_PATH=state/chorus.db\n")  # read from .env, as the bot does
    done = run_command("backups/today.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("✓ backed up state/chorus.db to backups/today.db: ")
    assert f"schema version {len(MIGRATIONS)}" in done.stdout and "integrity check ok" in done.stdout
    with sqlite3.connect(tmp_path / "backups" / "today.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 1
    conn.close()

    again = run_command("backups/today.db", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and again.stdout == ""


def test_the_command_points_postgresql_to_pg_dump_without_printing_the_url(tmp_path: Path) -> None:
    url = f"postgresql://chorus:{SECRET}@db.example:5432/chorus"
    done = run_command("chorus.dump", cwd=tmp_path, DATABASE_URL=url)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert 'pg_dump --format=custom --file=chorus.dump "$DATABASE_URL"' in done.stderr
    assert SECRET not in done.stderr and "db.example" not in done.stderr
    assert not (tmp_path / "chorus.dump").exists()
