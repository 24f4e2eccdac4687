"""Credits through the real bot: reserve at submit, commit on success, refund on every failure, never
overspend, the allowance refill, role allowances, and the order of the checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.credits import period_start
from bot.store import Allowance
from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID, followup_for
from tests.support.interactions import (
    BOT_CHANNEL_PERMS,
    SEND_MESSAGES_IN_THREADS,
    guild_create,
    inject,
    slash_command,
)

pytestmark = pytest.mark.both_databases


async def balance(h: Harness, user_id: int = DEFAULT_USER_ID, roles: frozenset[int] = frozenset()) -> int:
    policy = await h.bot.store.policy(DEFAULT_GUILD_ID)
    allowance = Allowance(policy.allowance_for(roles), period_start(policy.period, h.clock()))
    return await h.bot.store.balance(DEFAULT_GUILD_ID, user_id, allowance)


async def ledger(h: Harness, user_id: int = DEFAULT_USER_ID) -> list[tuple[str, int]]:
    rows = await h.bot.store.history(DEFAULT_GUILD_ID, user_id, 50)
    return [(row.kind, row.amount) for row in reversed(rows)]


async def test_a_song_reserves_then_commits_its_cost(strict: Harness) -> None:
    h = strict
    _, task_id = await h.generate()
    assert await balance(h) == 90  # the 100 allowance, minus 10 reserved at submit
    await h.kie.advance(task_id, "complete")
    await h.wait_for_tracks()
    assert await ledger(h) == [("allowance", 100), ("reserve", -10), ("commit", 0)]
    assert await balance(h) == 90


async def test_fifty_simultaneous_requests_against_30_credits_accept_exactly_three(strict: Harness) -> None:
    h = strict
    await h.bot.store.set_policy(DEFAULT_GUILD_ID, allowance=30, member_running=100, guild_running=100)
    payloads = [h.command("generate", {"prompt": f"song {n}"}) for n in range(50)]
    replies = await asyncio.gather(*(h.reply_to(p) for p in payloads))
    accepted = [r for r in replies if "On it" in r["content"]]
    refused = [r for r in replies if "That costs 10 credits and you have 0" in r["content"]]
    assert (len(accepted), len(refused)) == (3, 47)
    # The three are sent as the queue's loop takes them (each sent one refreshes its status message).
    await h.discord.wait_for(lambda call: len(h.kie.submissions) >= 3)
    await h.bot.tracker.idle()
    assert len(h.kie.submissions) == 3  # refused requests made no provider call
    assert await balance(h) == 0


async def test_a_refused_request_spends_nothing_and_calls_nobody(strict: Harness) -> None:
    h = strict
    await h.bot.store.set_policy(DEFAULT_GUILD_ID, allowance=5)
    reply = await h.reply_to(h.command("generate", {"prompt": "too expensive"}))
    assert "That costs 10 credits and you have 5" in reply["content"] and "<t:" in reply["content"]
    assert h.kie.api_calls == [] and h.messages() == []
    assert await ledger(h) == [("allowance", 5)]


async def test_a_submit_the_provider_refuses_is_refunded(strict: Harness) -> None:
    h = strict
    h.kie.fail_next_submit(402, "Insufficient credits")
    reply = await h.reply_to(h.command("generate", {"prompt": "a song"}))
    assert "out of credits" in reply["content"]
    assert await balance(h) == 100
    kinds = await ledger(h)
    assert kinds == [("allowance", 100), ("reserve", -10), ("refund", 10)]
    refund = (await h.bot.store.history(DEFAULT_GUILD_ID, DEFAULT_USER_ID, 1))[0]
    assert "out of credits" in refund.reason  # the provider's reason, in member words


async def test_an_error_callback_is_refunded_with_its_reason(strict: Harness) -> None:
    h = strict
    _, task_id = await h.generate()
    await h.kie.fail(task_id, code=400, msg="Lyrics contained copyrighted material")
    await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    await h.bot.tracker.idle()
    assert await balance(h) == 100
    refund = (await h.bot.store.history(DEFAULT_GUILD_ID, DEFAULT_USER_ID, 1))[0]
    assert refund.kind == "refund" and "copyrighted" in refund.reason
    assert "(Lyrics contained copyrighted material, code 400)" in refund.reason


async def test_a_failure_seen_by_polling_is_refunded(make_bot, discord_fake, kie, clock) -> None:
    h = Harness(await make_bot(generous=False, poll_interval=0.5), discord_fake, kie, clock)
    _, task_id = await h.generate()
    await h.kie.fail(task_id, deliver=False)
    await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    await h.bot.tracker.idle()
    assert await balance(h) == 100


async def test_a_timeout_is_refunded(strict: Harness) -> None:
    h = strict
    await h.generate()
    h.clock.advance(31 * 60)
    h.bot.tracker.wake()
    await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    await h.bot.tracker.idle()
    assert (await ledger(h))[-1] == ("refund", 10)
    # the refund happened in the old period; the new one refilled to the allowance, not beyond it
    assert await balance(h) == 100


async def test_a_refund_happens_once_even_if_the_failure_is_reported_twice(strict: Harness) -> None:
    h = strict
    _, task_id = await h.generate()
    await h.kie.fail(task_id)
    await h.kie.resend(task_id, "error")
    await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    await h.bot.tracker.idle()
    assert [k for k, _ in await ledger(h)].count("refund") == 1


async def test_the_allowance_refills_at_the_start_of_each_period(strict: Harness) -> None:
    h = strict
    await h.song()
    assert await balance(h) == 90
    h.clock.advance(7 * 86400)  # next week
    assert await balance(h) == 100  # topped up, not 190
    await h.bot.store.adjust(DEFAULT_GUILD_ID, DEFAULT_USER_ID, Allowance(100, period_start("weekly", h.clock())),
                             kind="grant", actor_id=1, reason="prize", amount=50)
    h.clock.advance(7 * 86400)
    assert await balance(h) == 150  # granted credits above the allowance are kept


async def test_daily_and_monthly_periods(strict: Harness) -> None:
    h = strict
    await h.bot.store.set_policy(DEFAULT_GUILD_ID, period="daily", allowance=20)
    await h.song()
    assert await balance(h) == 10
    h.clock.advance(86400)
    assert await balance(h) == 20
    await h.bot.store.set_policy(DEFAULT_GUILD_ID, period="monthly")
    await h.song()
    assert await balance(h) == 10
    h.clock.advance(32 * 86400)
    assert await balance(h) == 20


async def test_role_allowances_override_the_default_and_the_highest_wins(strict: Harness) -> None:
    h = strict
    vip, fan = 111, 222
    guild_create(h.bot, roles={vip: "VIP", fan: "Fan"})
    await h.bot.store.set_role_allowance(DEFAULT_GUILD_ID, vip, 300)
    await h.bot.store.set_role_allowance(DEFAULT_GUILD_ID, fan, 50)
    reply = await h.reply_to(h.command("credits", roles=[str(fan), str(vip)]))
    assert "**300** credits available" in reply["embeds"][0]["description"]
    plain = await h.reply_to(h.command("credits", user_id=9))
    assert "**100** credits available" in plain["embeds"][0]["description"]
    fan_only = await h.reply_to(h.command("credits", user_id=10, roles=[str(fan)]))
    assert "**50** credits available" in fan_only["embeds"][0]["description"]


async def test_credits_shows_balance_refill_costs_and_history(strict: Harness) -> None:
    h = strict
    await h.song()
    embed = (await h.reply_to(h.command("credits")))["embeds"][0]
    assert "**90** credits available" in embed["description"]
    assert "per week, refilled <t:" in embed["description"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert "Generate (/generate): **10**" in fields["Costs"] and "Stems: all: **50**" in fields["Costs"]
    history = fields["Last 10 changes"].splitlines()
    assert history[0].endswith("done \u00b7 Generate (/generate) (task #1)") and "**-10** spent" in history[1]


async def test_the_member_running_cap_lists_the_running_tasks(strict: Harness) -> None:
    h = strict
    await h.generate("first")
    await h.generate("second")
    reply = await h.reply_to(h.command("generate", {"prompt": "third"}))
    assert "You already have 2 requests running (the limit is 2)" in reply["content"]
    assert "\u201cfirst\u201d" in reply["content"] and "\u201csecond\u201d" in reply["content"]
    assert len(h.kie.submissions) == 2 and await balance(h) == 80


async def test_the_server_running_cap_lists_only_your_own_requests(strict: Harness) -> None:
    """The refusal says how many run server-wide, but other members' prompts stay theirs."""
    h = strict
    await h.bot.store.set_policy(DEFAULT_GUILD_ID, guild_running=2)
    await h.generate("my secret birthday song for Sam")
    other = h.command("generate", {"prompt": "their private song"}, user_id=5)
    assert "On it" in (await h.discord.wait_for(followup_for(other["token"]))).json["content"]
    reply = await h.reply_to(h.command("generate", {"prompt": "third"}, user_id=6))
    assert "This server already has 2 requests running (the limit is 2)" in reply["content"]
    assert "birthday" not in reply["content"] and "their private" not in reply["content"]
    mine = await h.reply_to(h.command("generate", {"prompt": "fourth"}))
    assert "This server already has 2 requests running" in mine["content"]
    assert "my secret birthday song" in mine["content"] and "their private" not in mine["content"]


async def test_checks_answer_in_order_blocked_channel_words_cap_balance(strict: Harness) -> None:
    h = strict
    store = h.bot.store
    await h.generate("already running")  # fills the cap of 1 below
    await store.set_policy(DEFAULT_GUILD_ID, allowance=0, member_running=1)
    await store.adjust(DEFAULT_GUILD_ID, DEFAULT_USER_ID, Allowance(0, period_start("weekly", h.clock())),
                       kind="set", target=0, actor_id=1, reason="test")
    await store.block(DEFAULT_GUILD_ID, DEFAULT_USER_ID, "spamming", actor_id=1)
    await store.allow_channel(DEFAULT_GUILD_ID, 4242)
    await store.add_word(DEFAULT_GUILD_ID, "banana")

    async def answer() -> str:
        return (await h.reply_to(h.command("generate", {"prompt": "a Banana song"})))["content"]

    assert "blocked you from making music here: spamming" in await answer()
    await store.unblock(DEFAULT_GUILD_ID, DEFAULT_USER_ID)
    assert "can't be made in this channel. Use <#4242>" in await answer()
    await store.deny_channel(DEFAULT_GUILD_ID, 4242)
    assert "\u201cbanana\u201d, which this server doesn't allow" in await answer()
    await store.remove_word(DEFAULT_GUILD_ID, "banana")
    assert "You already have 1 requests running" in await answer()
    await store.set_policy(DEFAULT_GUILD_ID, member_running=2)
    assert "That costs 10 credits and you have 0" in await answer()
    assert len(h.kie.submissions) == 1


async def test_blocked_words_match_whole_words_in_every_field(strict: Harness) -> None:
    h = strict
    await h.bot.store.add_word(DEFAULT_GUILD_ID, "red wine")
    await h.bot.store.add_word(DEFAULT_GUILD_ID, "ass")
    fine = await h.reply_to(h.command("generate", {"prompt": "a bass-heavy song about passing clouds"}))
    assert "On it" in fine["content"]
    caught = await h.reply_to(h.command("lyrics", {"prompt": "drinking RED   wine" .replace("   ", " ")}))
    assert "\u201cred wine\u201d" in caught["content"]


async def test_a_thread_counts_as_its_channel(strict: Harness) -> None:
    h = strict
    await h.bot.store.allow_channel(DEFAULT_GUILD_ID, h.channel_id)
    elsewhere = await h.reply_to(h.command("generate", {"prompt": "somewhere else"}, channel_id=777))
    assert "can't be made in this channel" in elsewhere["content"]
    payload = in_thread(slash_command("generate", {"prompt": "in a thread"}, channel_id=888,
                                      app_permissions=BOT_CHANNEL_PERMS | SEND_MESSAGES_IN_THREADS), h.channel_id)
    inject(h.bot, payload, fake=h.discord)
    assert "On it" in (await h.reply_to(payload))["content"]


def in_thread(payload: dict[str, Any], parent_id: int) -> dict[str, Any]:
    """Make an interaction come from a thread of channel ``parent_id``."""
    payload["channel"].update(type=11, parent_id=str(parent_id), owner_id="1", member_count=1, message_count=0,
                              rate_limit_per_user=0, thread_metadata={"archived": False, "locked": False,
                              "auto_archive_duration": 1440, "archive_timestamp": "2026-01-01T00:00:00+00:00"})
    return payload


async def test_reused_results_cost_nothing(strict: Harness) -> None:
    h = strict
    _, tracks = await h.song()
    wav = await h.finished(h.click(tracks[0], "WAV"), "wav")
    await h.kie.advance(wav, "complete")
    await h.discord.wait_for_message(h.channel_id, lambda m: "WAV is ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    assert await balance(h) == 89
    await h.reply_to(h.click(tracks[0], "WAV"))
    assert await balance(h) == 89
