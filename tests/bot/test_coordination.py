"""Two bots in one test process on one real PostgreSQL (each with its own connections, web server and
state, as two processes have): one leads and sends to the provider, the other queues and wakes it; when the
leader stops, the other takes over, within the shared rate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.coordination import LEADER_RETRY
from bot.models import TaskState
from tests.bot.test_dispatcher import ALICE, BOB, EDIT, ask, place_in, prompts
from tests.conftest import BotFactory, Clock, Harness
from tests.support.discord_fake import FakeDiscord
from tests.support.kie_fake import FakeKie


@pytest.fixture
def database(postgres_dsn: str) -> str | Path:
    return postgres_dsn


async def _leader_of(*bots: Harness) -> Harness:
    """The bot that leads, once one does (a follower tries for the lock every LEADER_RETRY seconds)."""
    async with asyncio.timeout(10 * LEADER_RETRY):
        while not any(h.bot.leadership.is_leader for h in bots):
            await asyncio.sleep(LEADER_RETRY / 10)
    return next(h for h in bots if h.bot.leadership.is_leader)


async def _pair(make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock,
                **settings: object) -> tuple[Harness, Harness]:
    first = Harness(await make_bot(**settings), discord_fake, kie, clock)
    second = Harness(await make_bot(**settings), discord_fake, kie, clock)
    leader = await _leader_of(first, second)
    assert leader is first and not second.bot.leadership.is_leader  # the first to start leads, alone
    return first, second


async def test_one_process_sends_and_a_request_to_the_other_still_starts_at_once(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    leader, follower = await _pair(make_bot, discord_fake, kie, clock)
    reply = await ask(follower, "asked of the process that does not send")
    assert "On it" in reply["content"]  # the leader sent it within a moment
    await discord_fake.wait_for(lambda call: len(kie.submissions) >= 1)  # the leader sends it (in the background)
    await leader.bot.tracker.idle()  # and stores the provider's answer
    assert prompts(kie) == ["asked of the process that does not send"]
    task = await follower.bot.store.get_task(1)
    assert task is not None and task.state is TaskState.QUEUED


async def test_places_agree_and_the_rate_holds_across_processes(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    leader, follower = await _pair(make_bot, discord_fake, kie, clock, submit_rate=(1, 10.0))
    first_sent = clock()
    assert "On it" in (await ask(leader, "alice 1"))["content"]
    # The window is full: a request to either process waits, and both show the same line.
    assert place_in((await ask(follower, "bob 1", BOB))["content"])[0] == 1
    assert place_in((await ask(leader, "alice 2", ALICE))["content"])[0] == 2
    seen = [{task: (place.position, round(place.starts_at)) for task, place in (await h.bot.dispatcher.places()).items()}
            for h in (leader, follower)]
    assert seen[0] == seen[1] and sorted(seen[0]) == [2, 3]
    assert seen[0][2][0] == 1 and first_sent + 9 <= seen[0][2][1] <= clock() + 11  # when the window has room
    assert seen[0][3][0] == 2 and seen[0][3][1] - seen[0][2][1] == 10
    assert prompts(kie) == ["alice 1"]


async def test_when_the_leader_stops_the_other_takes_over_within_the_rate(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    leader, follower = await _pair(make_bot, discord_fake, kie, clock, submit_rate=(1, 10.0))
    assert "On it" in (await ask(leader, "sent by the first leader"))["content"]
    assert place_in((await ask(follower, "waiting", BOB))["content"])[0] == 1
    await leader.bot.close()
    start = len(discord_fake.calls)
    await _leader_of(follower)  # within a second or so
    # The new leader's first round tries to send, then shows the line (the waiting member's status message):
    # once that edit is made, the round is over, and nothing was sent before the shared window allows it.
    await discord_fake.wait_for(lambda call: EDIT(call) and "in line" in str(call.json), start=start)
    await follower.bot.tracker.idle()
    assert prompts(kie) == ["sent by the first leader"]
    clock.advance(10.5)
    follower.bot.dispatcher.wake()
    await discord_fake.wait_for(lambda call: len(kie.submissions) >= 2)
    assert prompts(kie) == ["sent by the first leader", "waiting"]
