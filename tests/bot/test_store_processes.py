"""Several processes on one database: two stores (each its own connections, as two bot processes have) race
for the same credits, caps, refills, challenge entries and votes. Run on SQLite and on a real PostgreSQL
server: neither may overspend or break a cap, whatever the interleaving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.credits import period_start
from bot.models import MusicRequest
from bot.store import Allowance, NewChallenge, NewTask, Store

pytestmark = pytest.mark.both_databases

GUILD, CHANNEL, ALICE, BOB = 1, 2, 3, 4


@pytest.fixture
async def stores(database: str | Path) -> AsyncIterator[tuple[Store, Store]]:
    first = await Store.open(database)
    second = await Store.open(database)  # migrating an up-to-date database changes nothing
    yield first, second
    await first.close()
    await second.close()


def _new(n: int, user: int = ALICE) -> NewTask:
    return NewTask("kie", f"token-{n:08d}-{'x' * 20}", GUILD, CHANNEL, user, MusicRequest(prompt=f"song {n}"), 10)


async def _admit(store: Store, n: int, *, allowance: Allowance, member_cap: int = 10_000) -> bool:
    admission = await store.admit(_new(n), cost=1, operation="generate", allowance=allowance,
                                  member_cap=member_cap, guild_cap=10_000)
    return admission.task is not None


async def test_two_processes_reserving_at_once_never_overspend(stores: tuple[Store, Store]) -> None:
    """400 requests split over two processes against an allowance of 100: exactly 100 get a song, the balance
    ends at 0, and the period's allowance was added once."""
    allowance = Allowance(100, period_start("weekly", time.time()))
    outcomes = await asyncio.gather(*(_admit(stores[n % 2], n, allowance=allowance) for n in range(400)))
    assert outcomes.count(True) == 100
    assert await stores[0].balance(GUILD, ALICE, allowance) == 0
    refills = [row for row in await stores[1].history(GUILD, ALICE, 1000) if row.kind == "allowance"]
    assert len(refills) == 1 and refills[0].amount == 100


async def test_two_processes_never_break_the_running_cap(stores: tuple[Store, Store]) -> None:
    allowance = Allowance(1000, period_start("weekly", time.time()))
    outcomes = await asyncio.gather(*(_admit(stores[n % 2], n, allowance=allowance, member_cap=2)
                                      for n in range(40)))
    assert outcomes.count(True) == 2


async def test_grants_and_revokes_from_two_processes_all_count(stores: tuple[Store, Store]) -> None:
    allowance = Allowance(0, period_start("weekly", time.time()))

    async def change(n: int) -> None:
        kind = "grant" if n % 2 == 0 else "revoke"
        await stores[n % 2].adjust(GUILD, BOB, allowance, kind=kind, actor_id=9, reason="test", amount=3)

    await asyncio.gather(*(change(n) for n in range(60)))
    balance = await stores[0].balance(GUILD, BOB, allowance)
    history = await stores[1].history(GUILD, BOB, 1000)
    assert balance == sum(row.amount for row in history) >= 0  # a revoke never takes more than there is


async def _challenge(store: Store, *, max_entries: int, votes: int) -> int:
    now = time.time()
    challenge = await store.create_challenge(NewChallenge(
        GUILD, CHANNEL, 9, "rain", "", "", max_entries, 0, False, False, votes, 0.0, now, now + 3600))
    return challenge.id


async def test_entries_and_votes_from_two_processes_keep_their_limits(stores: tuple[Store, Store]) -> None:
    first, second = stores
    challenge = await first.challenge(await _challenge(first, max_entries=1, votes=1))
    assert challenge is not None
    tasks = [await first.create_task(_new(n, user=ALICE)) for n in range(6)]
    added = await asyncio.gather(*(stores[n % 2].add_entry(challenge, ALICE, task.id, f"audio-{n}")
                                   for n, task in enumerate(tasks)))
    assert sum(entry is not None for entry in added) == 1  # one entry per member
    others = [await first.create_task(_new(100 + n, user=100 + n)) for n in range(4)]
    for n, task in enumerate(others):
        assert await first.add_entry(challenge, 100 + n, task.id, f"other-{n}") is not None
    entries = await second.entries(challenge.id)
    results = await asyncio.gather(*(stores[n % 2].toggle_vote(challenge, entry, BOB)
                                     for n, entry in enumerate(entries)))
    assert [result.outcome for result in results].count("voted") == 1  # one vote per member
    assert sum(entry.votes for entry in await first.entries(challenge.id)) == 1


async def test_a_challenge_closes_once_with_its_rewards(stores: tuple[Store, Store]) -> None:
    first, second = stores
    now = time.time()
    challenge = await first.create_challenge(NewChallenge(
        GUILD, CHANNEL, 9, "rain", "", "", 1, 25, False, False, 1, 0.0, now, now + 3600))
    task = await first.create_task(_new(1, user=ALICE))
    added = await first.add_entry(challenge, ALICE, task.id, "audio-1")
    assert added is not None
    await first.toggle_vote(challenge, added.entry, BOB)
    closes = await asyncio.gather(*(stores[n % 2].close_challenge(challenge.id, 3, lambda c, p: f"place {p}")
                                    for n in range(6)))
    assert sum(result is not None for result in closes) == 1
    grants = [row for row in await second.history(GUILD, ALICE, 100) if row.kind == "grant"]
    assert [row.amount for row in grants] == [25]
