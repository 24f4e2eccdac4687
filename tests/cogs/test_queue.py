"""/queue and the Cancel button: members see their place, cancel while waiting (full refund), moderators see
and trim the whole server's line."""

from __future__ import annotations

import copy

import pytest

from tests.bot.test_dispatcher import ALICE, BOB, ask, prompts
from tests.cogs.test_credits import balance
from tests.conftest import BotFactory, Clock, Harness
from tests.support.discord_fake import FakeDiscord
from tests.support.interactions import MODERATOR_PERMS
from tests.support.kie_fake import FakeKie

pytestmark = pytest.mark.both_databases


async def rush(make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock) -> Harness:
    """One request sent (the rate is 1 per 10 s), then Alice's second and Bob's first waiting."""
    h = Harness(await make_bot(submit_rate=(1, 10.0), generous=False), discord_fake, kie, clock)
    for prompt, user in (("alice sent", ALICE), ("alice waits", ALICE), ("bob waits", BOB)):
        reply = await ask(h, prompt, user)
        assert ("On it" if prompt == "alice sent" else "in line") in reply["content"], reply["content"]
    return h


async def test_the_owner_cancels_a_waiting_request_with_a_full_refund(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    h = await rush(make_bot, discord_fake, kie, clock)
    before = await balance(h, ALICE)
    status = next(m for m in h.messages() if "alice waits" in m["embeds"][0]["title"])
    status = copy.deepcopy(await discord_fake.wait_for_message(h.channel_id, lambda m: m["id"] == status["id"] and any(
        b.get("label") == "Cancel" for row in m.get("components") or [] for b in row["components"])))
    other = h.click(status, "Cancel", user_id=BOB)  # not Bob's to cancel
    assert "belongs to" in (await h.reply_to(other))["content"]
    reply = await h.reply_to(h.click(status, "Cancel"))
    assert reply["content"] == "Cancelled: your credits were refunded." and reply["flags"] & 64
    assert await balance(h, ALICE) == before + 10
    await h.bot.tracker.idle()
    shown = discord_fake.messages[int(status["id"])]
    assert "cancelled; your credits were refunded" in shown["embeds"][0]["description"]
    assert not shown["components"]
    h.clock.advance(10.5)
    h.bot.dispatcher.wake()
    await discord_fake.wait_for(lambda call: len(kie.submissions) >= 2)
    assert prompts(kie) == ["alice sent", "bob waits"]  # the cancelled one is never sent
    again = await h.reply_to(h.click(status, "Cancel"))  # a stale button
    assert "no longer in the line" in again["content"]
    bob = copy.deepcopy(next(m for m in h.messages() if "bob waits" in m["embeds"][0]["title"]))
    bob["components"] = [{"type": 1, "components": [{**status["components"][0]["components"][0],
                                                      "custom_id": "chorus:cancel:3:0"}]}]
    sent = await h.reply_to(h.click(bob, "Cancel", user_id=BOB))  # Bob's was sent meanwhile
    assert "already sent to Suno, so it can't be cancelled" in sent["content"]


async def test_queue_shows_places_and_moderators_remove_with_a_refund(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    h = await rush(make_bot, discord_fake, kie, clock)
    mine = (await h.reply_to(h.command("queue")))["content"]
    assert "Your requests: 1 waiting, 1 running." in mine
    assert "**#2** [alice waits]" in mine and "alice sent" in mine and "bob waits" not in mine
    everyone = (await h.reply_to(h.command("queue", user_id=5000, permissions=MODERATOR_PERMS)))["content"]
    assert "This server's requests: 2 waiting, 1 running." in everyone and "**#1** [bob waits]" in everyone
    bob_before = await balance(h, BOB)
    removed = await h.reply_to(h.command("queue", {"remove": 3, "reason": "duplicate"}, user_id=5000,
                                         permissions=MODERATOR_PERMS))
    assert removed["content"] == f"Removed task #3; <@{BOB}>'s credits were refunded."
    assert await balance(h, BOB) == bob_before + 10
    refused = await h.reply_to(h.command("queue", {"remove": 2}, user_id=BOB))
    assert "Only moderators" in refused["content"]


async def test_the_moderators_queue_shows_prompts_without_links_or_mentions(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    h = Harness(await make_bot(submit_rate=(1, 10.0)), discord_fake, kie, clock)
    await ask(h, "first", ALICE)
    await ask(h, "[click me](https://evil.example) <@123456789012345678>", BOB)
    everyone = (await h.reply_to(h.command("queue", user_id=5000, permissions=MODERATOR_PERMS)))["content"]
    line = next(line for line in everyone.splitlines() if "click me" in line)
    assert "[click me](https://evil.example)" not in line and "<@123456789012345678>" not in line
    assert f"by <@{BOB}>" in line  # the bot's own mention of the member stays
