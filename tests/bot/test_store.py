"""The store: versioned schema in WAL mode, and stage transitions that happen exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import pytest

from bot.models import MusicRequest, TaskState, TaskUpdate, Track
from bot.store import MIGRATIONS, NewPersona, NewTask, Store

pytestmark = pytest.mark.both_databases


async def _task(store: Store, token: str = "t" * 32) -> int:
    task = await store.create_task(NewTask("kie", token, 1, 2, 3, MusicRequest(prompt="hi"), 10))
    await store.mark_submitted(task.id, "remote-1", next_poll_at=0)
    return task.id


async def test_migrations_apply_once_and_use_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "bot.db"
    store = await Store.open(path)
    assert await store.schema_version() == len(MIGRATIONS)
    await _task(store)
    await store.close()
    store = await Store.open(path)  # reopening keeps the data and runs nothing again
    assert await store.count_by_state() == {"queued": 1}
    await store.close()
    async with aiosqlite.connect(path) as db:
        async with db.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"


async def test_a_task_keeps_its_owner_and_request(database: str | Path) -> None:
    store = await Store.open(database)
    task_id = await _task(store)
    task = await store.get_task(task_id)
    assert (task.guild_id, task.channel_id, task.user_id) == (1, 2, 3)
    assert task.request == MusicRequest(prompt="hi")
    assert task.provider_task_id == "remote-1" and task.state is TaskState.QUEUED
    await store.close()


async def test_stages_only_move_forward(database: str | Path) -> None:
    store = await Store.open(database)
    task_id = await _task(store)
    track = Track(audio_id="a", audio_url="u")
    assert await store.apply_update(task_id, TaskUpdate("remote-1", TaskState.SUCCEEDED, (track,)))
    assert not await store.apply_update(task_id, TaskUpdate("remote-1", TaskState.FIRST, (Track("b"),)))
    assert not await store.apply_update(task_id, TaskUpdate("remote-1", TaskState.FAILED, error_code=501))
    task = await store.get_task(task_id)
    assert task.state is TaskState.SUCCEEDED and [t.audio_id for t in task.tracks] == ["a"]
    await store.close()


async def test_racing_updates_have_exactly_one_winner(database: str | Path) -> None:
    store = await Store.open(database)
    task_id = await _task(store)
    update = TaskUpdate("remote-1", TaskState.SUCCEEDED, (Track("a"), Track("b")))
    results = await asyncio.gather(*(store.apply_update(task_id, update) for _ in range(20)))
    assert results.count(True) == 1
    assert len((await store.get_task(task_id)).tracks) == 2
    await store.close()


async def test_a_callback_that_beats_the_submit_answer_is_not_undone(database: str | Path) -> None:
    """The provider may call back before the bot has stored the submit answer: marking the task submitted
    afterwards keeps the further state."""
    store = await Store.open(database)
    task = await store.create_task(NewTask("kie", "r" * 32, 1, 2, 3, MusicRequest(prompt="hi"), 10))
    assert await store.mark_submitted(task.id, "remote-9", next_poll_at=0)  # adopted from a confirmed callback
    assert await store.apply_update(task.id, TaskUpdate("remote-9", TaskState.SUCCEEDED, (Track("a"),)))
    assert await store.mark_submitted(task.id, "remote-9", next_poll_at=0)  # the submit's answer, late
    stored = await store.get_task(task.id)
    assert stored is not None and stored.state is TaskState.SUCCEEDED and stored.provider_task_id == "remote-9"
    other = await store.create_task(NewTask("kie", "s" * 32, 1, 2, 3, MusicRequest(prompt="hi"), 10))
    assert not await store.mark_submitted(other.id, "remote-9", next_poll_at=0)  # another task's id
    assert await store.apply_update(other.id, TaskUpdate("", TaskState.FAILED, reason="gave up"))
    assert not await store.mark_submitted(other.id, "remote-10", next_poll_at=0)  # a finished task adopts nothing
    await store.close()


async def test_every_read_sees_the_writes_before_it_even_when_many_interleave(database: str | Path) -> None:
    """Task updates are committed by the batch writer's own connection; a read that follows a write, while
    dozens of other reads and writes interleave, must still see it (a started song never looks unsent)."""
    store = await Store.open(database)
    try:
        ids = [(await store.create_task(NewTask("kie", f"{n:032d}", 1, 2, 3, MusicRequest(prompt="hi"), 10))).id
               for n in range(40)]

        async def submit_and_read(task_id: int) -> str | None:
            await store.mark_submitted(task_id, f"provider-{task_id}", 0.0)
            task = await store.get_task(task_id)
            assert task is not None
            return task.provider_task_id

        done = asyncio.Event()

        async def keep_reading() -> None:  # other members' commands, reading all along
            while not done.is_set():
                await store.pending_since(1e18)

        readers = [asyncio.create_task(keep_reading()) for _ in range(8)]
        seen = await asyncio.gather(*(submit_and_read(task_id) for task_id in ids))
        done.set()
        await asyncio.gather(*readers)
        assert seen == [f"provider-{task_id}" for task_id in ids]
    finally:
        await store.close()


async def test_a_decision_applies_only_from_the_state_it_was_made_for(database: str | Path) -> None:
    """The 15-minute refund of an unconfirmed submission, or a cancel in the queue, never fails a task a
    callback or the dispatcher moved on meanwhile."""
    store = await Store.open(database)
    task = await store.create_task(NewTask("kie", "u" * 32, 1, 2, 3, MusicRequest(prompt="hi"), 10))
    assert await store.mark_unsure(task.id, 900)
    assert await store.mark_submitted(task.id, "remote-1", next_poll_at=0)  # a callback adopted it
    gave_up = TaskUpdate("", TaskState.FAILED, reason="never confirmed")
    assert not await store.apply_update(task.id, gave_up, only_from=TaskState.UNSURE)
    assert not await store.cancel_waiting(task.id, "cancelled")
    stored = await store.get_task(task.id)
    assert stored is not None and stored.state is TaskState.QUEUED
    await store.close()


async def test_one_persona_per_track_even_when_two_are_stored_at_once(database: str | Path) -> None:
    """Suno makes one persona per track: of two stored together for the same track, one is kept, the other is
    told so (None), on both databases."""
    store = await Store.open(database)
    task_id = await _task(store)
    first, second = (NewPersona(1, user, "kie", f"persona-{user}", "Velvet", "warm", task_id, "a1", "V5")
                     for user in (3, 4))
    stored = await asyncio.gather(store.add_persona(first), store.add_persona(second))
    assert sorted(p is None for p in stored) == [False, True]
    assert len(await store.personas(1)) == 1
    await store.close()
