"""``python -m bot copy-db``: a realistic SQLite database, made through the real store, copied into a real
PostgreSQL database; what the bot reads back through the store is the same on both sides."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot import copydb
from bot.copydb import (
    CopyRefused,
    convert_value,
    copy_database,
    describe_target,
    redact,
)
from bot.credits import period_start
from bot.models import MusicRequest, TaskState, TaskUpdate, Track
from bot.store import (
    MIGRATIONS,
    Allowance,
    MemberSettings,
    NewChallenge,
    NewPersona,
    NewTask,
    Store,
)
from tests.support.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
GUILD, CHANNEL, ROLE = 900_000_000_000_000_001, 900_000_000_000_000_002, 900_000_000_000_000_003
ALICE, BOB, CAROL, MOD = 800_000_000_000_000_001, 800_000_000_000_000_002, 800_000_000_000_000_003, 8000
MEMBERS = (ALICE, BOB)
META_KEY = "commands:1:global"
SECRET = "s3cret"
# Every table but channel_leases (who posts in a channel now: nobody, once the bot is stopped).
TABLES = ("allowed_channels", "blocked_words", "blocks", "challenge_entries", "challenge_votes", "challenges",
          "costs", "denied_channels", "guild_settings", "ledger", "likes", "member_settings", "meta", "personas",
          "provider_slots", "role_allowances", "tasks", "tracks")


@dataclass(frozen=True)
class Source:
    path: Path
    task_ids: tuple[int, ...]  # the tasks still there
    deleted_task_id: int  # the highest id SQLite ever gave a task (that task was deleted since)
    challenge_id: int


def _new(token: str, user_id: int, guild_id: int | None = GUILD) -> NewTask:
    return NewTask("kie", token * 32, guild_id, CHANNEL, user_id, MusicRequest(prompt=f"a song by {user_id}"), 10)


async def _song(store: Store, allowance: Allowance, token: str, user_id: int, audio_ids: tuple[str, ...]) -> int:
    """A paid-for song that finished with its tracks."""
    admission = await store.admit(_new(token, user_id), cost=5, operation="generate", allowance=allowance,
                                  member_cap=5, guild_cap=10)
    assert admission.task is not None
    task_id = admission.task.id
    assert await store.claim(task_id)
    assert await store.mark_submitted(task_id, f"remote-{token}", next_poll_at=time.time())
    tracks = tuple(Track(audio_id, audio_url=f"https://cdn.example/{audio_id}.mp3", title=f"Rain {audio_id}",
                         tags="synthwave", duration=123.456, lyrics="la la\nla") for audio_id in audio_ids)
    assert await store.apply_update(task_id, TaskUpdate(f"remote-{token}", TaskState.SUCCEEDED, tracks))
    await store.set_track_message(task_id, audio_ids[0], 700_000_000_000_000_000 + task_id)
    await store.set_status_message(task_id, 600_000_000_000_000_000 + task_id)
    await store.mark_delivered(task_id)
    return task_id


async def build_source(path: Path) -> Source:
    """Every table of the schema holds rows, written the way the bot writes them."""
    store = await Store.open(path)
    now = time.time()
    allowance = Allowance(50, period_start("weekly", now))
    await store.set_policy(GUILD, allowance=50, period="weekly", member_running=5, guild_running=10,
                           log_channel_id=CHANNEL + 10, moderator_role_id=ROLE)
    await store.set_cost(GUILD, "generate", 5)
    await store.set_role_allowance(GUILD, ROLE, 80)
    await store.block(GUILD, CAROL, "spam", actor_id=MOD)
    await store.allow_channel(GUILD, CHANNEL)
    await store.deny_channel(GUILD, CHANNEL + 1)
    await store.add_word(GUILD, "banana")
    await store.set_meta(META_KEY, "digest-123")

    first = await _song(store, allowance, "a", ALICE, ("a1", "a2"))
    second = await _song(store, allowance, "b", BOB, ("b1", "b2"))
    failed = await store.admit(_new("c", ALICE), cost=5, operation="generate", allowance=allowance,
                               member_cap=5, guild_cap=10)
    assert failed.task is not None
    assert await store.cancel_waiting(failed.task.id, "cancelled")  # refunded
    waiting = await store.admit(_new("d", BOB), cost=5, operation="generate", allowance=allowance,
                                member_cap=5, guild_cap=10)  # still reserved
    assert waiting.task is not None
    free = await store.create_task(_new("e", ALICE, guild_id=None))  # no server, no credits
    doomed = await store.create_task(_new("f", BOB))
    await store.adjust(GUILD, ALICE, allowance, kind="grant", actor_id=MOD, reason="nice song", amount=20)
    await store.adjust(GUILD, BOB, allowance, kind="revoke", actor_id=MOD, reason="oops", amount=3)
    await store.grant(GUILD, BOB, 7, "challenge reward")

    challenge = await store.create_challenge(NewChallenge(
        guild_id=GUILD, channel_id=CHANNEL, creator_id=MOD, theme="rain", description="Neon rain.",
        required_style="synthwave", max_entries=2, reward_credits=10, free_entries=True, anonymous=False,
        votes_per_member=2, min_membership=3600.0, opens_at=now, closes_at=now + 86_400))
    await store.set_challenge_messages(challenge.id, announcement_id=CHANNEL + 20, thread_id=CHANNEL + 21)
    alice = await store.add_entry(challenge, ALICE, first, "a1", refund_reason="free challenge entry")
    bob = await store.add_entry(challenge, BOB, second, "b1")
    assert alice is not None and bob is not None and alice.refunded == 5
    await store.set_entry_message(alice.entry.id, CHANNEL + 30)
    assert (await store.toggle_vote(challenge, bob.entry, ALICE)).outcome == "voted"
    assert (await store.toggle_vote(challenge, alice.entry, CAROL)).outcome == "voted"

    assert await store.toggle_like(GUILD, first, 0, BOB)
    await store.set_member_settings(GUILD, ALICE, MemberSettings(model="V4_5", instrumental=True, vocal_gender="f"))
    persona = await store.add_persona(NewPersona(GUILD, ALICE, "kie", "persona-1", "Neon", "a soft voice", first, "a1",
                                                 "V5"))
    assert persona is not None

    slot = await store.take_slot(now - 2, 20, 10.0, 120.0)
    assert slot is not None
    await store.answer_slot(slot, now - 1)
    await store.take_slot(now, 20, 10.0, 120.0)  # a send whose answer never came
    assert await store.claim_channel(CHANNEL, "process-1", now + 60)
    await store.close()
    with sqlite3.connect(path) as conn:  # SQLite never hands out this id again; PostgreSQL must not either
        conn.execute("DELETE FROM tasks WHERE id = ?", (doomed.id,))
    conn.close()
    ids = (first, second, failed.task.id, waiting.task.id, free.id)
    return Source(path, ids, doomed.id, challenge.id)


async def read_back(store: Store, source: Source) -> dict[str, Any]:
    """What the bot sees through its store."""
    histories = {member: await store.history(GUILD, member, 100) for member in MEMBERS}
    return {
        "tasks": [await store.get_task(task_id) for task_id in source.task_ids],
        "history": histories,
        "balances": {member: sum(row.amount for row in rows) for member, rows in histories.items()},
        "policy": await store.policy(GUILD),
        "channels": await store.channel_lists(GUILD),
        "words": await store.blocked_words(GUILD),
        "block": await store.block_reason(GUILD, CAROL),
        "challenge": await store.challenge(source.challenge_id),
        "entries": await store.entries(source.challenge_id),
        "meta": await store.get_meta(META_KEY),
        "slots": await store.rate_window(0, 0),
        "states": await store.count_by_state(),
    }


@pytest.fixture
async def source(tmp_path: Path) -> Source:
    return await build_source(tmp_path / "bot.db")


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no database variables from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "DATABASE_PATH", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


async def run_main(*args: str) -> int:
    return await asyncio.to_thread(copydb.main, list(args))  # main() runs its own event loop


async def table_rows(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        names = [row[0] for row in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
        return {name: await conn.fetchval(f'SELECT COUNT(*) FROM "{name}"') for name in names
                if name in TABLES}
    finally:
        await conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----- the copy ------------------------------------------------------------------------------------------------

async def test_everything_the_bot_reads_is_the_same_after_the_copy(source: Source, postgres_dsn: str) -> None:
    lines: list[str] = []
    report = await copy_database(source.path, postgres_dsn, batch_rows=2, out=lines.append)  # several batches

    assert {table.name: table.rows for table in report.tables}.keys() == set(TABLES)
    assert all(table.rows > 0 for table in report.tables), report.tables
    order = [table.name for table in report.tables]
    assert order.index("tasks") < min(order.index("tracks"), order.index("ledger"))
    assert order.index("challenges") < order.index("challenge_entries") < order.index("challenge_votes")
    assert report.members == 2 and not report.migrated
    assert f"✓ copied {report.rows:,} rows in {len(TABLES)} tables; balances match for 2 members" in lines
    assert sum(line.startswith("  tasks ") for line in lines) == 1

    sqlite_store, pg_store = await Store.open(source.path), await Store.open(postgres_dsn)
    try:
        before, after = await read_back(sqlite_store, source), await read_back(pg_store, source)
        assert after == before
        first = after["tasks"][0]
        assert (first.guild_id, first.user_id, [t.audio_id for t in first.tracks]) == (GUILD, ALICE, ["a1", "a2"])
        assert first.tracks[0].message_id == 700_000_000_000_000_000 + first.id and first.tracks[0].duration == 123.456
        assert after["tasks"][-1].guild_id is None
        assert after["balances"] == {ALICE: 50 - 5 + 5 + 20, BOB: 50 - 5 - 5 - 3 + 7}
        assert [entry.votes for entry in after["entries"]] == [1, 1]
        assert after["policy"].role_allowances == {ROLE: 80} and after["policy"].costs == {"generate": 5}

        # New rows continue after the copied ids, even after the id of a task SQLite deleted.
        task = await pg_store.create_task(_new("g", ALICE))
        assert task.id > max(*source.task_ids, source.deleted_task_id)
        await pg_store.grant(GUILD, ALICE, 1, "after the move")
        newest = (await pg_store.history(GUILD, ALICE, 1))[0]
        assert newest.id > max(row.id for rows in before["history"].values() for row in rows)
        challenge = await pg_store.challenge(source.challenge_id)
        assert challenge is not None
        again = await pg_store.create_challenge(NewChallenge(**{
            name: getattr(challenge, name) for name in NewChallenge.__dataclass_fields__}))
        assert again.id > source.challenge_id
        entry = await pg_store.add_entry(again, CAROL, task.id, "c1")
        assert entry is not None and entry.entry.id > max(e.id for e in before["entries"])
    finally:
        await sqlite_store.close()
        await pg_store.close()


async def test_the_command_copies_without_a_discord_token_and_never_prints_the_password(
        source: Source, postgres_dsn: str, tmp_path: Path) -> None:
    store = await Store.open(postgres_dsn)  # a schema without rows is still an empty database
    await store.close()
    url = postgres_dsn.replace("chorus@", f"chorus:{SECRET}@")  # the test server trusts any password
    env = {name: value for name, value in os.environ.items()
           if name not in ("DISCORD_TOKEN", "DATABASE_URL", "DATABASE_PATH")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, not an installed copy
    done = subprocess.run([sys.executable, "-m", "bot", "copy-db", "--from", str(source.path), "--to", url],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert SECRET not in output and "postgresql://" not in output
    lines = done.stdout.splitlines()
    assert lines[0] == f"source: {source.path} (SQLite, schema {len(MIGRATIONS)})"
    assert lines[1] == f"target: PostgreSQL at {describe_target(postgres_dsn)} (empty; schema already there)"
    rows = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines[2:2 + len(TABLES)]}
    assert rows == await table_rows(postgres_dsn)
    assert lines[-2].startswith("✓ copied ") and lines[-2].endswith("; balances match for 2 members")
    assert "set DATABASE_URL" in lines[-1] and f"keep {source.path} as a backup" in lines[-1]


async def test_an_older_source_is_upgraded_first(tmp_path: Path, postgres_dsn: str) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            conn.executescript(f"{script}\nPRAGMA user_version = {number};")
        conn.execute("""INSERT INTO tasks (kind, provider, callback_token, guild_id, channel_id, user_id, params,
                            state, upload_limit, created_at, updated_at)
                        VALUES ('generate', 'kie', 'tok', 1, 2, 3, '{"prompt": "hi"}', 'succeeded', 10, 1, 2)""")
        conn.execute("INSERT INTO ledger (guild_id, user_id, kind, amount, created_at) VALUES (1, 3, 'grant', 9, 1)")
    conn.close()
    lines: list[str] = []
    report = await copy_database(path, postgres_dsn, out=lines.append)
    assert report.migrated and report.source_version == 3 and report.members == 1
    assert f"source: {path} (SQLite, schema {len(MIGRATIONS)}, upgraded from schema 3 first)" in lines
    store = await Store.open(postgres_dsn)
    try:
        task = await store.get_task(1)
        assert task is not None and task.created_at == 1.0 and isinstance(task.created_at, float)
        assert [row.amount for row in await store.history(1, 3)] == [9]
    finally:
        await store.close()


# ----- refusals and failures ------------------------------------------------------------------------------------

async def test_refuses_a_non_empty_target_and_changes_nothing(source: Source, postgres_dsn: str, no_settings: None,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    store = await Store.open(postgres_dsn)
    await store.set_meta("mine", "keep me")
    await store.close()
    before = digest(source.path)
    assert await run_main("--from", str(source.path), "--to", postgres_dsn) == copydb.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "refusing a non-empty target" in err and "(meta)" in err and len(err.splitlines()) == 1
    assert digest(source.path) == before
    rows = await table_rows(postgres_dsn)
    assert rows["meta"] == 1 and sum(rows.values()) == 1


async def test_refuses_a_missing_or_newer_source(tmp_path: Path, postgres_dsn: str, no_settings: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere" / "bot.db"
    assert await run_main("--from", str(missing), "--to", postgres_dsn) == copydb.EXIT_REFUSED
    err = capsys.readouterr().err
    assert f"source {missing} does not exist" in err and "--from PATH" in err
    assert not missing.parent.exists()

    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    assert await run_main("--from", str(newer), "--to", postgres_dsn) == copydb.EXIT_REFUSED
    assert f"newer than this code's {len(MIGRATIONS)}" in capsys.readouterr().err
    assert await table_rows(postgres_dsn) == {}  # the target was not even given a schema


async def test_refuses_an_unreachable_or_missing_target_without_printing_the_url(
        source: Source, no_settings: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    url = f"postgresql://chorus:{SECRET}@127.0.0.1:{port}/chorus"
    assert await run_main("--from", str(source.path), "--to", url) == copydb.EXIT_REFUSED
    err = capsys.readouterr().err
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}/chorus" in err
    assert SECRET not in err and "postgresql://" not in err and len(err.splitlines()) == 1

    monkeypatch.setenv("DATABASE_URL", url)  # read from the environment as the bot does
    monkeypatch.setenv("DATABASE_PATH", str(source.path))
    assert await run_main() == copydb.EXIT_REFUSED
    assert f"127.0.0.1:{port}/chorus" in capsys.readouterr().err

    monkeypatch.delenv("DATABASE_URL")
    assert await run_main() == copydb.EXIT_REFUSED
    assert "no target: set DATABASE_URL" in capsys.readouterr().err
    assert await run_main("--to", f"mysql://chorus:{SECRET}@db/chorus") == copydb.EXIT_REFUSED
    err = capsys.readouterr().err
    assert err.startswith("chorus copy-db: --to: must be a PostgreSQL URL") and SECRET not in err


async def test_a_value_postgresql_cannot_take_rolls_the_whole_copy_back(
        source: Source, postgres_dsn: str, no_settings: None, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(source.path) as conn:  # SQLite keeps 2.5 in an INTEGER column
        conn.execute("UPDATE tasks SET error_code = 2.5 WHERE id = ?", (source.task_ids[2],))
    conn.close()
    assert await run_main("--from", str(source.path), "--to", postgres_dsn) == copydb.EXIT_FAILED
    out, err = capsys.readouterr()
    assert "  blocks " in out  # tables before tasks were copied, then rolled back
    assert f"tasks.error_code (the row with id {source.task_ids[2]}) holds 2.5" in err
    assert "nothing was copied" in err
    rows = await table_rows(postgres_dsn)
    assert set(TABLES) <= rows.keys() and sum(rows.values()) == 0


async def test_refuses_when_copy_finds_rows_after_the_first_look(source: Source, postgres_dsn: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A bot that wrote to the target between the check and the copy: the copy (under its table locks) still
    refuses, and commits nothing."""
    real = copydb.check_target

    async def check_then_someone_writes(url: str) -> int:
        version = await real(url)
        store = await Store.open(url)
        await store.set_meta("late", "row")
        await store.close()
        return version

    monkeypatch.setattr(copydb, "check_target", check_then_someone_writes)
    with pytest.raises(CopyRefused, match="non-empty target"):
        await copy_database(source.path, postgres_dsn, out=lambda line: None)
    rows = await table_rows(postgres_dsn)
    assert rows["meta"] == 1 and sum(rows.values()) == 1


# ----- pieces ---------------------------------------------------------------------------------------------------

def test_values_become_what_the_postgresql_column_takes() -> None:
    assert convert_value(5.0, "bigint") == 5 and type(convert_value(5.0, "bigint")) is int
    assert convert_value(True, "bigint") == 1
    assert convert_value(3, "double precision") == 3.0 and type(convert_value(3, "double precision")) is float
    assert convert_value(7, "text") == "7" and convert_value(b"caf\xc3\xa9", "text") == "café"
    assert convert_value(None, "bigint") is None
    for value, pg_type in ((2.5, "bigint"), ("abc", "bigint"), ("1.5", "double precision"), ("a\x00b", "text")):
        with pytest.raises(ValueError):
            convert_value(value, pg_type)


def test_the_target_is_described_without_its_secrets() -> None:
    assert describe_target(f"postgresql://chorus:{SECRET}@db.internal:6543/chorus") == "db.internal:6543/chorus"
    assert describe_target("postgres://u@db/chorus?sslmode=require") == "db:5432/chorus"
    assert describe_target(f"postgresql://u:p%40ss@[::1]/x?password={SECRET}") == "[::1]:5432/x"
    assert describe_target("postgresql:///chorus?host=/run/postgresql") == "/run/postgresql:5432/chorus"
    url = f"postgresql://chorus:{SECRET}@db/chorus"
    assert redact(f"failed for {url} with {SECRET}", url) == "failed for *** with ***"
