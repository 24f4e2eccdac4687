"""Challenges through the real bot: the lifecycle with several members, provenance, fair votes, closing on
time (and after a restart), rewards in the ledger, moderator-only commands."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.cogs.test_credits import balance
from tests.conftest import BotFactory, Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID, followup_for
from tests.support.interactions import (
    BOT_CHANNEL_PERMS,
    MODERATOR_PERMS,
    SEND_MESSAGES_IN_THREADS,
    autocomplete,
    component,
    inject,
    slash_command,
)

pytestmark = pytest.mark.both_databases

MOD = 8000
ALICE, BOB, CAROL = DEFAULT_USER_ID, 8101, 8102
CHALLENGE_PERMS = BOT_CHANNEL_PERMS | SEND_MESSAGES_IN_THREADS | (1 << 35)  # + Create Public Threads


async def run(h: Harness, subcommand: str, options: dict[str, Any] | None = None, *, user_id: int = MOD,
              permissions: int | None = None, **context: Any) -> dict[str, Any]:
    perms = MODERATOR_PERMS if user_id == MOD else BOT_CHANNEL_PERMS
    payload = slash_command("challenge", options or {}, subcommand=subcommand, user_id=user_id,
                            permissions=perms if permissions is None else permissions,
                            app_permissions=CHALLENGE_PERMS, **context)
    inject(h.bot, payload, fake=h.discord)
    return await h.reply_to(payload)


async def create(h: Harness, **options: Any) -> tuple[int, dict[str, Any]]:
    reply = await run(h, "create", {"theme": "a synthwave song about rain", "duration_hours": 24, **options})
    assert "is live" in reply["content"], reply
    challenge_id = int(reply["content"].split("#")[1].split()[0])
    announcement = next(m for m in h.messages() if "Challenge:" in str(m["embeds"]))
    return challenge_id, announcement


async def song_by(h: Harness, user_id: int, prompt: str = "rain on neon streets") -> str:
    """A finished song for a member; returns the audio id of its first track."""
    payload = h.command("generate", {"prompt": prompt}, user_id=user_id)
    reply = await h.discord.wait_for(followup_for(payload["token"]))
    assert "On it" in reply.json["content"], reply.json
    task_id = h.kie.last_task_id
    await h.kie.advance(task_id, "complete")
    await h.discord.wait_for_message(h.channel_id, lambda m: h.kie.task(task_id).tracks[1].title in str(m["embeds"]))
    await h.bot.tracker.idle()
    return h.kie.task(task_id).tracks[0].audio_id


def thread_messages(h: Harness, announcement: dict[str, Any]) -> list[dict[str, Any]]:
    return h.discord.channel_messages(int(announcement["id"]))


def entry_message(h: Harness, announcement: dict[str, Any], number: int) -> dict[str, Any]:
    return next(m for m in thread_messages(h, announcement) if f"Entry #{number}:" in str(m["embeds"]))


async def vote(h: Harness, message: dict[str, Any], user_id: int, **context: Any) -> str:
    reply = await h.reply_to(h.click(message, "Vote", user_id=user_id, **context))
    return reply["content"]


async def test_a_whole_challenge(harness: Harness) -> None:
    h = harness
    challenge_id, announcement = await create(h, reward_credits=25, description="Neon, rain, 80s synths.")
    embed = announcement["embeds"][0]
    assert "a synthwave song about rain" in embed["title"] and "<t:" in str(embed["fields"])
    thread = h.discord.channels[int(announcement["id"])]
    assert thread["type"] == 11 and thread["parent_id"] == str(h.channel_id)

    songs = {user: await song_by(h, user, f"song by {user}") for user in (ALICE, BOB, CAROL)}
    for user, audio_id in songs.items():
        reply = await run(h, "submit", {"track": audio_id}, user_id=user)
        assert "You're in: entry #" in reply["content"]
    first = entry_message(h, announcement, 1)
    assert first["attachments"] and first["components"][0]["components"][0]["label"] == "Vote"
    assert "By" not in str(first["embeds"][0]["fields"])  # anonymous until the end

    a, b, c = (entry_message(h, announcement, n) for n in (1, 2, 3))
    assert "Voted for entry #1" in await vote(h, a, BOB)
    assert "Voted for entry #1" in await vote(h, a, CAROL)
    assert "Voted for entry #2" in await vote(h, b, CAROL)
    assert "Voted for entry #2" in await vote(h, b, ALICE)
    assert "can't vote for your own entry" in await vote(h, a, ALICE)
    leaderboard = await run(h, "leaderboard", {"challenge": challenge_id}, user_id=BOB)
    assert "votes stay hidden" in leaderboard["embeds"][0]["description"]

    stale = copy.deepcopy(c)  # as a client that has not refreshed still shows it
    h.clock.advance(24 * 3600 + 1)
    h.bot.challenges.wake()
    results = await h.discord.wait_for_message(h.channel_id, lambda m: "is over" in (m["content"] or ""))
    assert results["content"].startswith("\U0001f3c6") and f"\U0001f947 <@{ALICE}>" in results["content"]
    assert f"\U0001f948 <@{BOB}>" in results["content"] and "Each gets **25** credits" in results["content"]
    board = results["embeds"][0]["description"].splitlines()
    assert board[0].startswith("\U0001f947 Entry #1") and "**2** votes" in board[0] and "[listen](" in board[0]
    assert len(results["embeds"]) == 3  # the leaderboard and the two winners, with their covers
    assert results["embeds"][1]["image"]["url"].startswith("attachment://winner-1")
    assert any(att["filename"].startswith("winner-1") for att in results["attachments"])
    await h.discord.wait_for_message(int(announcement["id"]), lambda m: "Voting is closed" in (m["content"] or ""))
    revealed = entry_message(h, announcement, 1)
    assert f"<@{ALICE}>" in str(revealed["embeds"][0]["fields"]) and revealed["components"] == []
    rewards = [row for row in await h.bot.store.history(DEFAULT_GUILD_ID, ALICE, 3) if row.kind == "grant"]
    assert rewards[0].amount == 25 and "1st place" in rewards[0].reason
    assert "2nd place" in (await h.bot.store.history(DEFAULT_GUILD_ID, BOB, 1))[0].reason
    assert all(row.kind != "grant" for row in await h.bot.store.history(DEFAULT_GUILD_ID, CAROL, 5))
    assert "Voting is closed" in await vote(h, stale, BOB)


async def test_provenance(harness: Harness) -> None:
    h = harness
    before = await song_by(h, ALICE, "an old song")
    h.clock.advance(60)
    await create(h, required_style="")
    bobs = await song_by(h, BOB)
    assert "made before the challenge opened" in (await run(h, "submit", {"track": before}, user_id=ALICE))["content"]
    assert "isn't yours" in (await run(h, "submit", {"track": bobs}, user_id=ALICE))["content"]
    assert "can't find that track" in (await run(h, "submit", {"track": "nope"}, user_id=ALICE))["content"]
    sound = await h.finished(h.command("sfx", {"prompt": "rain on a tin roof"}, user_id=ALICE), "sounds")
    await h.kie.advance(sound, "complete")
    await h.wait_for_tracks(4)
    sound_entry = await run(h, "submit", {"track": h.kie.task(sound).tracks[0].audio_id}, user_id=ALICE)
    assert "That's a sound effect: enter a song" in sound_entry["content"]
    mine = await song_by(h, ALICE)
    assert "You're in" in (await run(h, "submit", {"track": mine}, user_id=ALICE))["content"]
    again = await song_by(h, ALICE, "another one")
    assert "limit is 1 per member" in (await run(h, "submit", {"track": again}, user_id=ALICE))["content"]


async def test_submit_autocomplete_offers_only_songs_made_for_the_challenge(harness: Harness) -> None:
    h = harness
    await song_by(h, ALICE, "an old song")
    h.clock.advance(60)
    await create(h)
    new = await song_by(h, ALICE, "a new song")
    payload = autocomplete("challenge", {"track": ""}, "track", subcommand="submit")
    inject(h.bot, payload, fake=h.discord)
    choices = (await h.discord.wait_for_callback(int(payload["id"]))).json["data"]["choices"]
    assert new in [c["value"] for c in choices] and len(choices) == 2  # the new song's two tracks only


async def test_required_style(harness: Harness) -> None:
    h = harness
    await create(h, required_style="Synthwave")
    audio_id = await song_by(h, ALICE)
    reply = await run(h, "submit", {"track": audio_id}, user_id=ALICE)
    assert "must be in the style \u201cSynthwave\u201d" in reply["content"]


async def test_vote_rules(harness: Harness) -> None:
    h = harness
    await create(h, votes=2)
    for user in (ALICE, BOB, CAROL):
        await run(h, "submit", {"track": await song_by(h, user)}, user_id=user)
    announcement = next(m for m in h.messages() if "Challenge:" in str(m["embeds"]))
    a, b, c = (entry_message(h, announcement, n) for n in (1, 2, 3))
    voter = 8200
    assert "You have 1 vote left" in await vote(h, a, voter)
    assert "You have 0 votes left" in await vote(h, b, voter)
    assert "used all 2 of your votes" in await vote(h, c, voter)
    assert "taken back. You have 1 vote left" in await vote(h, a, voter)  # clicking again retracts
    assert "Voted for entry #3" in await vote(h, c, voter)
    newcomer = component(a["components"][0]["components"][0]["custom_id"], message=a, user_id=8300)
    newcomer["member"]["joined_at"] = datetime.now(timezone.utc).isoformat()  # joined just now
    inject(h.bot, newcomer, fake=h.discord)
    assert "been in the server for a day" in (await h.reply_to(newcomer))["content"]
    entries = await h.bot.store.entries(1)
    assert {e.number: e.votes for e in entries} == {1: 0, 2: 1, 3: 1}


async def test_a_deadline_that_passed_during_a_restart_closes_at_startup(
    make_bot: BotFactory, discord_fake, kie, clock
) -> None:
    h = Harness(await make_bot(), discord_fake, kie, clock)
    await create(h)
    await run(h, "submit", {"track": await song_by(h, ALICE)}, user_id=ALICE)
    await h.bot.close()
    clock.advance(2 * 24 * 3600)
    again = Harness(await make_bot(), discord_fake, kie, clock)
    results = await again.discord.wait_for_message(again.channel_id, lambda m: "is over" in (m["content"] or ""))
    assert "no entry got a vote" in results["content"]


async def test_end_early_cancel_and_disqualify(harness: Harness) -> None:
    h = harness
    first, announcement = await create(h)
    await run(h, "submit", {"track": await song_by(h, ALICE)}, user_id=ALICE)
    entry = (await h.bot.store.entries(first))[0]
    assert "disqualified" in (await run(h, "disqualify", {"entry": entry.id, "reason": "not original"}))["content"]
    marked = h.discord.messages[entry.message_id]
    assert "disqualified" in marked["embeds"][0]["title"] and marked["components"] == []
    assert "Voting is closed" not in str(thread_messages(h, announcement))
    assert "results are posted" in (await run(h, "end", {"challenge": first}))["content"]
    assert "nobody entered" in (await h.discord.wait_for_message(h.channel_id, lambda m: "is over" in (m["content"] or "")))["content"]
    assert "already ended" in (await run(h, "end", {"challenge": first}))["content"]
    second, _ = await create(h, theme="lo-fi study beats")
    assert "is cancelled" in (await run(h, "cancel", {"challenge": second, "reason": "wrong week"}))["content"]
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "was cancelled" in (m["content"] or ""))
    assert "wrong week" in notice["content"]
    listing = (await run(h, "list", user_id=ALICE))["embeds"][0]["description"]
    assert f"#{first}" in listing and f"#{second}" in listing and "\u26d4" in listing


async def test_moderator_commands_are_refused_to_members(harness: Harness) -> None:
    h = harness
    refused = await run(h, "create", {"theme": "sneaky", "duration_hours": 1}, user_id=ALICE)
    assert "Only moderators" in refused["content"]
    challenge_id, _ = await create(h)
    for sub, options in (("end", {"challenge": challenge_id}), ("cancel", {"challenge": challenge_id}),
                         ("disqualify", {"entry": 1, "reason": "x"})):
        assert "Only moderators" in (await run(h, sub, options, user_id=ALICE))["content"], sub
    assert (await h.bot.store.challenge(challenge_id)).is_open


async def test_show_explains_the_rules(harness: Harness) -> None:
    h = harness
    challenge_id, _ = await create(h, max_entries=2, free_entries=True, votes=4)
    embed = (await run(h, "show", {"challenge": challenge_id}, user_id=BOB))["embeds"][0]
    rules = str(embed["fields"])
    assert "Up to 2 entries per member" in rules and "4 votes" in rules and "refunds the song's credits" in rules
    assert "open, ends <t:" in rules and "0 entries" in rules


async def test_free_entries_refund_the_songs_credits(strict: Harness) -> None:
    h = strict
    await create(h, free_entries=True)
    audio_id = await song_by(h, ALICE)
    assert await balance(h) == 90
    reply = await run(h, "submit", {"track": audio_id}, user_id=ALICE)
    assert "Its 10 credits came back (free entries)" in reply["content"]
    assert await balance(h) == 100
    assert (await h.bot.store.history(DEFAULT_GUILD_ID, ALICE, 1))[0].kind == "entry_refund"


async def test_a_songs_cost_comes_back_once_whatever_the_entries(strict: Harness) -> None:
    """Both takes of one song, in two open free-entry challenges, some at the same moment: 10 credits back in
    all, never 20 or 40 (a 10-credit song once took a balance from 90 to 110)."""
    h = strict
    first, _ = await create(h, free_entries=True, max_entries=2)
    second, _ = await create(h, free_entries=True, max_entries=2)
    take_one = await song_by(h, ALICE)
    task, _ = await h.bot.store.track_by_audio_id(take_one)
    take_two = task.tracks[1].audio_id
    assert await balance(h) == 90
    assert "came back" in (await run(h, "submit", {"track": take_one, "challenge": first}, user_id=ALICE))["content"]
    again = await run(h, "submit", {"track": take_two, "challenge": first}, user_id=ALICE)
    assert "You're in" in again["content"] and "this song's cost was already returned" in again["content"]
    payloads = [slash_command("challenge", {"track": take, "challenge": second}, subcommand="submit", user_id=ALICE,
                              app_permissions=CHALLENGE_PERMS) for take in (take_one, take_two)]
    for payload in payloads:  # both at once, in the other challenge
        inject(h.bot, payload, fake=h.discord)
    answers = [(await h.reply_to(payload))["content"] for payload in payloads]
    assert all("You're in" in answer and "already returned" in answer for answer in answers), answers
    assert await balance(h) == 100
    returns = [row for row in await h.bot.store.history(DEFAULT_GUILD_ID, ALICE, 20) if row.task_id == task.id]
    assert sum(row.amount for row in returns) == 0  # reserved 10, returned 10, once


async def test_a_free_entry_returns_nothing_for_a_song_that_was_free(strict: Harness) -> None:
    h = strict
    await create(h, free_entries=True)
    await h.bot.store.set_cost(DEFAULT_GUILD_ID, "generate", 0)
    audio_id = await song_by(h, ALICE)
    reply = await run(h, "submit", {"track": audio_id}, user_id=ALICE)
    assert "already returned (or it cost nothing)" in reply["content"] and await balance(h) == 100


async def test_entries_escape_what_members_wrote_and_refuse_blocked_members(harness: Harness) -> None:
    """A title cannot carry a masked link or a mention into the thread, and a blocked member cannot enter."""
    h = harness
    _, announcement = await create(h, anonymous=False)
    bobs = await song_by(h, BOB)
    payload = h.command("generate", {"prompt": "rain"}, user_id=ALICE)
    assert "On it" in (await h.reply_to(payload))["content"]
    task_id = h.kie.last_task_id
    h.kie.task(task_id).tracks[0].title = "[free nitro](https://evil.example) <@&123456789012345678>"
    await h.kie.advance(task_id, "complete")
    await h.wait_for_tracks(4)
    audio_id = h.kie.task(task_id).tracks[0].audio_id
    await h.bot.store.block(DEFAULT_GUILD_ID, BOB, "spam", actor_id=MOD)
    assert "blocked you" in (await run(h, "submit", {"track": bobs}, user_id=BOB))["content"]
    assert "You're in" in (await run(h, "submit", {"track": audio_id}, user_id=ALICE))["content"]
    title = entry_message(h, announcement, 1)["embeds"][0]["title"]
    assert "](https://evil.example)" not in title.replace("\\]", "") and "<@&123" not in title
    assert "free nitro" in title
