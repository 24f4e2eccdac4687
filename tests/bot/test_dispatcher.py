"""The submission queue: every request is taken at once, sent as fast as the provider allows and no faster, in
a fair order, and a provider's "not now" costs the member nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.dispatcher import fair_order
from bot.models import TaskState
from bot.store import Waiting
from tests.conftest import BotFactory, Clock, Harness
from tests.support.discord_fake import DEFAULT_USER_ID, FakeDiscord, route
from tests.support.kie_fake import FakeKie

pytestmark = pytest.mark.both_databases

ALICE, BOB = DEFAULT_USER_ID, DEFAULT_USER_ID + 1
EDIT = route("PATCH", r"/channels/\d+/messages/\d+")


async def ask(h: Harness, prompt: str, user_id: int = ALICE) -> dict[str, Any]:
    return await h.reply_to(h.command("generate", {"prompt": prompt}, user_id=user_id))


def prompts(kie: FakeKie) -> list[str]:
    return [s.body["prompt"] for s in kie.submissions]


def place_in(text: str) -> tuple[int, int]:
    """(#position, start time) from an answer or a status line."""
    match = re.search(r"\*\*#(\d+)\*\* in line.*?<t:(\d+):R>", text)
    assert match, text
    return int(match.group(1)), int(match.group(2))


async def sent_again(h: Harness, count: int) -> None:
    h.clock.advance(10.5)  # the next window of the provider's rate
    h.bot.dispatcher.wake()
    await h.discord.wait_for(lambda call: len(h.kie.submissions) >= count)


def test_round_robin_across_servers_then_members_then_first_come() -> None:
    waiting = [Waiting(1, 1, ALICE), Waiting(2, 1, ALICE), Waiting(3, 1, ALICE), Waiting(4, 1, BOB),
               Waiting(5, 2, 7), Waiting(6, 2, 7)]
    order = fair_order(waiting, guilds_served={1: 100.0}, members_served={(1, ALICE): 100.0})
    # server 2 was never served, so it goes first; in server 1, Bob (never served) before Alice
    assert [w.id for w in order] == [5, 4, 6, 1, 2, 3]


async def test_a_rush_is_queued_in_fair_order_with_places_and_start_times(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    h = Harness(await make_bot(submit_rate=(2, 10.0)), discord_fake, kie, clock)
    first_sent = clock()
    for n in (1, 2):
        assert "On it" in (await ask(h, f"alice {n}"))["content"]  # the window has room: sent at once
    third = await ask(h, "alice 3")
    position, starts = place_in(third["content"])
    # when the window has room again: 10 s after the first was sent (a slow machine may take a while to get here)
    assert position == 1 and first_sent + 9 <= starts <= clock() + 11
    assert third["flags"] & 64
    bob = await ask(h, "bob 1", BOB)
    assert place_in(bob["content"])[0] == 1  # Alice was just served: Bob goes first
    assert prompts(kie) == ["alice 1", "alice 2"]  # never more than the rate
    # Alice's status message follows her place as the line changes.
    status = await discord_fake.wait_for(lambda c: EDIT(c) and "**#2** in line" in str(c.json))
    assert "alice 3" in status.json["embeds"][0]["title"]
    await sent_again(h, 4)
    assert prompts(kie) == ["alice 1", "alice 2", "bob 1", "alice 3"]
    await h.bot.tracker.idle()  # the sends (background work) have stored the provider's answers
    tasks = [await h.bot.store.get_task(n) for n in range(1, 5)]
    assert all(task is not None and task.state is TaskState.QUEUED for task in tasks)


async def test_a_provider_rate_limit_puts_the_request_back_in_line_at_no_cost(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    h = Harness(await make_bot(), discord_fake, kie, clock)
    kie.fail_next_submit(429, "Request limit exceeded")
    reply = await ask(h, "a song on a busy day")
    assert place_in(reply["content"])[0] == 1 and "On it" not in reply["content"]
    task = await h.bot.store.get_task(1)
    assert task is not None and task.state is TaskState.WAITING and await h.bot.store.refund_of(1) is None
    assert not any("could not be made" in (m["content"] or "") for m in h.messages())
    await sent_again(h, 1)
    assert prompts(kie) == ["a song on a busy day"]
    await h.kie.advance(kie.last_task_id, "complete")
    assert len(await h.wait_for_tracks()) == 2


async def test_the_queue_survives_a_restart(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    first = Harness(await make_bot(submit_rate=(1, 10.0)), discord_fake, kie, clock)
    await ask(first, "sent")
    assert place_in((await ask(first, "waiting"))["content"])[0] == 1
    await first.bot.close()
    if first.bot.settings.shared_database:  # the rate window is shared: the first send still counts
        clock.advance(10)
    again = Harness(await make_bot(submit_rate=(1, 10.0)), discord_fake, kie, clock)
    await discord_fake.wait_for(lambda call: len(kie.submissions) >= 2)
    assert prompts(kie) == ["sent", "waiting"]
    task = await again.bot.store.get_task(2)
    assert task is not None and task.provider_task_id == kie.last_task_id
