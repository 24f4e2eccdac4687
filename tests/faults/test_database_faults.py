"""The database is briefly locked by someone else (a backup, a `sqlite3` shell, a second instance started by
mistake): another connection holds the write lock (BEGIN IMMEDIATE plus a write) for 0.5 s.

What the member must see: a callback that arrives meanwhile is still applied, once (the song is posted and
paid for exactly once), and a /generate admitted meanwhile still starts, with the credits reserved exactly
once. Nothing is lost, nothing is answered with an error, nothing crashes. The bot can wait because its
connection sets ``PRAGMA busy_timeout`` (5 s); without it SQLite raises "database is locked" at once and these
tests fail with a 500 to the provider and a "something went wrong" to the member.
"""

from __future__ import annotations

import asyncio
import time

from bot.models import TaskState
from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.faults import balance, hold_write_lock, ledger

HOLD = 0.5  # seconds the other connection keeps the write lock
COST = 10
ALLOWANCE = 100


def _ready_notices(h: Harness) -> list[dict]:
    return [m for m in h.messages() if "your song is ready" in (m["content"] or "")]


async def test_a_callback_that_arrives_while_the_database_is_locked_is_applied_once_released(strict: Harness) -> None:
    h = strict
    db = h.bot.settings.database_path
    _, task_id = await h.generate()
    await h.bot.tracker.idle()

    async with hold_write_lock(db, HOLD) as lock:
        delivery = await h.kie.advance(task_id, "first")
        answered_at = time.monotonic()
    # A stage is written before it is answered: the bot waited for the lock, then took it.
    assert delivery is not None and delivery.status == 200, delivery
    assert answered_at >= lock.released_at
    async with hold_write_lock(db, HOLD):
        # The finished result is answered at once (a wake-up: the bot reads the provider's record) and applied
        # once the lock is released.
        delivery = await h.kie.advance(task_id, "complete")
        assert delivery is not None and delivery.status == 200, delivery

    tracks = await h.wait_for_tracks(2)
    assert len(tracks) == 2 and len(_ready_notices(h)) == 1
    assert [kind for kind, *_ in ledger(db, DEFAULT_USER_ID)] == ["allowance", "reserve", "commit"]
    assert balance(db, DEFAULT_USER_ID) == ALLOWANCE - COST
    # The provider repeating the callback (as it does after a slow answer) changes nothing.
    assert (await h.kie.resend(task_id, "complete")).status == 200
    await h.bot.tracker.idle()
    assert len(h.track_messages()) == 2 and len(_ready_notices(h)) == 1


async def test_a_generate_and_a_callback_during_the_lock_both_complete_once_released(strict: Harness) -> None:
    h = strict
    db = h.bot.settings.database_path
    _, first_id = await h.generate("the first song")
    await h.bot.tracker.idle()

    async with hold_write_lock(db, HOLD) as lock:
        payload = h.command("generate", {"prompt": "the second song"})
        callback = asyncio.create_task(h.kie.advance(first_id, "complete"))
        reply = await h.reply_to(payload)
        replied_at = time.monotonic()
        delivery = await callback
    # The member was told "On it" once the lock was released (the admission had to wait for it).
    assert "On it" in reply["content"], reply
    assert replied_at >= lock.released_at
    assert delivery is not None and delivery.status == 200, delivery

    # The first song is posted once and paid for once; the second was sent to Suno once and reserved once.
    tracks = await h.wait_for_tracks(2)
    assert len(tracks) == 2 and len(_ready_notices(h)) == 1
    assert [s.body["prompt"] for s in h.kie.submissions] == ["the first song", "the second song"]
    rows = ledger(db, DEFAULT_USER_ID)
    assert sorted(kind for kind, *_ in rows) == ["allowance", "commit", "reserve", "reserve"]  # either order
    assert balance(db, DEFAULT_USER_ID) == ALLOWANCE - 2 * COST
    tasks = await h.bot.store.recent_tasks(DEFAULT_GUILD_ID, DEFAULT_USER_ID, limit=10)
    assert sorted(t.state.value for t in tasks) == ["queued", "succeeded"]
    second = next(t for t in tasks if t.state is TaskState.QUEUED)
    assert second.status_message_id is not None

    # And the second song completes normally afterwards.
    await h.kie.advance(h.kie.last_task_id, "complete")
    assert len(await h.wait_for_tracks(4)) == 4
    assert sorted(kind for kind, *_ in ledger(db, DEFAULT_USER_ID)) == ["allowance", "commit", "commit", "reserve",
                                                                       "reserve"]
    assert balance(db, DEFAULT_USER_ID) == ALLOWANCE - 2 * COST
