"""Buttons on every track (ownership, restarts), /tracks and /track show."""

from __future__ import annotations

from typing import Any

from bot.store import MemberSettings
from tests.conftest import BotFactory, Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.interactions import (
    MODERATOR_PERMS,
    guild_create,
    inject,
    slash_command,
    text_channel,
)


async def test_every_track_has_its_buttons(harness: Harness) -> None:
    _, tracks = await harness.song()
    for message in tracks:
        labels = [[b["label"] for b in row["components"]] for row in message["components"]]
        assert labels == [["Extend", "Cover", "Replace section", "Re-roll"], ["Stems", "WAV", "Video", "Karaoke"],
                          ["Like", "Info", "Delete"]]


async def test_spending_buttons_belong_to_the_owner(harness: Harness) -> None:
    h = harness
    _, tracks = await h.song()
    for label in ("Extend", "Cover", "Stems", "WAV", "Video", "Re-roll", "Delete"):
        reply = await h.reply_to(h.click(tracks[0], label, user_id=777))
        assert "This track belongs to <@" in reply["content"] and reply["flags"] & 64, label
    info = await h.reply_to(h.click(tracks[0], "Info", user_id=777))  # reading is for everyone
    assert info["embeds"][0]["title"]
    assert h.kie.submissions_of("wav") == [] and h.kie.submissions_of("mp4") == []


async def test_a_moderator_may_act_on_any_track(harness: Harness) -> None:
    h = harness
    _, tracks = await h.song()
    task_id = await h.finished(h.click(tracks[0], "WAV", user_id=778, permissions=MODERATOR_PERMS), "wav")
    assert task_id


async def test_buttons_work_after_a_restart(harness: Harness, make_bot: BotFactory) -> None:
    h = harness
    _, tracks = await h.song()
    await h.bot.close()
    h.bot = await make_bot()
    click = h.click(tracks[1], "Extend")
    assert (await h.discord.wait_for_callback(int(click["id"]))).json["type"] == 9
    await h.finished(h.click(tracks[1], "Video"), "mp4")


async def test_info_shows_details_privately(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song("a lullaby for a cat")
    data = await h.reply_to(h.click(tracks[1], "Info"))
    assert data["flags"] & 64
    embed = data["embeds"][0]
    assert embed["description"] == h.kie.task(source_id).tracks[1].prompt
    assert "a lullaby for a cat" in str(embed["fields"])


async def test_tracks_lists_my_requests_with_their_state_paginated(harness: Harness) -> None:
    h = harness
    for n in range(11):
        await h.generate(f"song number {n}")
    finished_id, _ = await h.song("the finished one")
    payload = h.command("tracks")
    page = await h.reply_to(payload)
    assert page["flags"] & 64
    lines = page["embeds"][0]["description"].splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("\u2705") and "the finished one" in lines[0] and "[open](" in lines[0]
    assert lines[1].startswith("\u23f3") and "song number 10" in lines[1]
    assert page["embeds"][0]["footer"]["text"] == "Page 1 of 2 \u00b7 12 requests"
    message = h.discord.original_response(int(payload["id"]))
    older = h.click(message, "Older \u25b6")
    edited = (await h.discord.wait_for_callback(int(older["id"]))).json
    assert edited["type"] == 7
    assert "Page 2 of 2" in edited["data"]["embeds"][0]["footer"]["text"]
    assert "song number 1" in edited["data"]["embeds"][0]["description"]
    other = await h.reply_to(h.command("tracks", user_id=555))
    assert "Nothing yet" in other["embeds"][0]["description"]


async def test_track_show_reposts_with_buttons(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    reply = await h.reply_to(h.command("track", {"id": audio_id}, subcommand="show"))
    assert "Posted:" in reply["content"]
    shown = h.messages()[-1]
    assert f"Shared by <@{DEFAULT_USER_ID}>" in shown["content"]
    assert shown["embeds"][0]["title"] == h.kie.task(source_id).tracks[0].title
    assert any(a["filename"].endswith(".mp3") for a in shown["attachments"])
    assert len(shown["components"]) == 3


async def test_track_show_keeps_the_rules_of_every_other_command(harness: Harness) -> None:
    """Your own tracks only (moderators: any), never for a blocked member, only where music is allowed."""
    h = harness
    source_id, _ = await h.song()
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    posted = len(h.messages())

    async def show(**context: object) -> str:
        return str((await h.reply_to(h.command("track", {"id": audio_id}, subcommand="show", **context)))["content"])

    assert f"belongs to <@{DEFAULT_USER_ID}>: only they (or a moderator" in await show(user_id=4242)
    await h.bot.store.block(DEFAULT_GUILD_ID, DEFAULT_USER_ID, "spamming", actor_id=1)
    assert "blocked you from making music here: spamming" in await show()
    await h.bot.store.unblock(DEFAULT_GUILD_ID, DEFAULT_USER_ID)
    await h.bot.store.allow_channel(DEFAULT_GUILD_ID, 4444)
    assert "can't be made in this channel. Use <#4444>" in await show()
    assert "can't be made in this channel" in await show(user_id=5000, permissions=MODERATOR_PERMS)
    assert len(h.messages()) == posted  # nothing was re-posted
    assert "Posted:" in await show(user_id=5000, permissions=MODERATOR_PERMS, channel_id=4444)
    assert "Shared by <@5000>" in h.discord.channel_messages(4444)[-1]["content"]
    await h.bot.store.deny_channel(DEFAULT_GUILD_ID, 4444)  # deny wins, for moderators too
    assert "can't be made in this channel" in await show(user_id=5000, permissions=MODERATOR_PERMS, channel_id=4444)


async def test_track_show_of_an_unknown_track(harness: Harness) -> None:
    payload = slash_command("track", {"id": "nope"}, subcommand="show")
    inject(harness.bot, payload, fake=harness.discord)
    assert "can't find that track" in (await harness.reply_to(payload))["content"]


async def test_re_roll_makes_the_same_request_again_and_costs_the_same(harness: Harness) -> None:
    h = harness
    await h.bot.store.set_cost(DEFAULT_GUILD_ID, "generate", 7)
    source_id, tracks = await h.song("a waltz for a rainy tuesday", model="V4_5")
    again = await h.finished(h.click(tracks[1], "Re-roll"), "generate")
    first, second = h.kie.task(source_id).body, h.kie.task(again).body
    assert {k: v for k, v in first.items() if k != "callBackUrl"} == {k: v for k, v in second.items()
                                                                       if k != "callBackUrl"}
    spent = [row.amount for row in await h.bot.store.history(DEFAULT_GUILD_ID, DEFAULT_USER_ID, 10)
             if row.kind == "reserve"]
    assert spent == [-7, -7]


async def test_delete_asks_first_then_removes_the_songs_messages_and_copies(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song("a song to forget")
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    ask = await question(h, h.click(tracks[0], "Delete"))
    assert "go for good" in ask["content"] and ask["flags"] & 64
    done = await h.reply_to(h.click(ask, "Delete for good"))
    assert "Deleted" in done["content"]
    deleted = {m["id"] for m in h.discord.channel_messages(h.channel_id, include_deleted=True) if m.get("deleted")}
    status = h.discord.channel_messages(h.channel_id, include_deleted=True)[0]
    assert {m["id"] for m in tracks} | {status["id"]} == deleted and h.messages() == []
    assert not any(h.bot.media.root.rglob("*.mp3"))  # the kept copies went too
    show = await h.reply_to(h.command("track", {"id": audio_id}, subcommand="show"))
    assert "can't find that track" in show["content"]  # gone from /track show and autocomplete
    again = await h.reply_to(h.click(tracks[1], "Extend"))
    assert "was deleted" in again["content"]


async def test_only_the_owner_or_a_moderator_deletes(harness: Harness) -> None:
    h = harness
    _, tracks = await h.song()
    other = await h.reply_to(h.click(tracks[0], "Delete", user_id=4242))
    assert "belongs to" in other["content"]
    ask = await question(h, h.click(tracks[0], "Delete", user_id=5000, permissions=MODERATOR_PERMS))
    done = await h.reply_to(h.click(ask, "Delete for good", user_id=5000, permissions=MODERATOR_PERMS))
    assert "Deleted" in done["content"]


async def test_the_servers_moderator_role_acts_on_members_songs_as_manage_server_does(harness: Harness) -> None:
    """/mod moderator-role makes moderators without Manage Server: they too may export a member's song and
    delete it (its messages go)."""
    h = harness
    helper_role = 9090
    guild_create(h.bot, roles={helper_role: "Helpers"})  # what Member.roles reads
    _, tracks = await h.song()
    refused = await h.reply_to(h.click(tracks[0], "Delete", user_id=5000, roles=[str(helper_role)]))
    assert "only they (or a moderator) can do that" in refused["content"]
    await h.bot.store.set_policy(DEFAULT_GUILD_ID, moderator_role_id=helper_role)
    await h.finished(h.click(tracks[0], "WAV", user_id=5000, roles=[str(helper_role)]), "wav")
    ask = await question(h, h.click(tracks[1], "Delete", user_id=5000, roles=[str(helper_role)]))
    done = await h.reply_to(h.click(ask, "Delete for good", user_id=5000, roles=[str(helper_role)]))
    assert "Deleted" in done["content"]
    gone = {m["id"] for m in h.discord.channel_messages(h.channel_id, include_deleted=True) if m.get("deleted")}
    assert {tracks[0]["id"], tracks[1]["id"]} <= gone


async def question(h: Harness, click: dict[str, Any]) -> dict[str, Any]:
    """The private message (with its buttons) a click was answered with."""
    await h.discord.wait_for_callback(int(click["id"]))
    return h.discord.original_response(int(click["id"]))


async def test_moderators_do_not_repost_a_private_result_or_a_track_from_a_room_they_cannot_read(
    harness: Harness,
) -> None:
    """Moderators may act on any member's track, but /track show does not let them post one the member
    asked to keep private (results by DM), nor one from a channel they cannot read themselves."""
    h = harness
    mods_room, bob = 7070, 4242
    guild_create(h.bot, channels=[text_channel(h.channel_id, "music"), text_channel(mods_room, "mods", hidden=True)])
    hidden_id = await h.finished(h.command("generate", {"prompt": "a demo for the mods"}, user_id=bob,
                                           channel_id=mods_room), "generate")
    await h.kie.advance(hidden_id, "complete")
    await h.discord.wait_for_message(mods_room, lambda m: "your song is ready" in (m["content"] or ""))
    await h.bot.store.set_member_settings(DEFAULT_GUILD_ID, bob, MemberSettings(private_results=True))
    private_id = await h.finished(h.command("generate", {"prompt": "a song for my sister"}, user_id=bob), "generate")
    await h.kie.advance(private_id, "complete")
    await h.bot.tracker.idle()
    for task_id in (hidden_id, private_id):
        audio_id = h.kie.task(task_id).tracks[0].audio_id
        shown = await h.reply_to(h.command("track", {"id": audio_id}, subcommand="show", user_id=5000,
                                           permissions=MODERATOR_PERMS))
        assert "can't find that track" in shown["content"], task_id
        mine = await h.reply_to(h.command("track", {"id": audio_id}, subcommand="show", user_id=bob))
        assert mine["content"].startswith("Posted:"), mine  # its owner still may
