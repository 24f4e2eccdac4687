"""Likes: ⭐ under every track (one per member, not on your own), the count on the track, and /top."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.support.interactions import component, guild_create, inject, text_channel

BOB, CAROL = 4242, 4343


def like_button(message: dict[str, Any]) -> dict[str, Any]:
    return next(b for row in message["components"] for b in row["components"] if b["custom_id"].startswith("chorus:like:"))


async def press(h: Harness, message: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Click ⭐ on a track message as ``user_id``; the interaction's answer."""
    payload = component(like_button(message)["custom_id"], message=message, user_id=user_id)
    inject(h.bot, payload, fake=h.discord)
    return (await h.discord.wait_for_callback(int(payload["id"]))).json


def likes_field(message: dict[str, Any]) -> str | None:
    return next((f["value"] for f in message["embeds"][0].get("fields", []) if "Likes" in f["name"]), None)




async def test_a_like_counts_on_the_track_and_can_be_taken_back(harness: Harness) -> None:
    h = harness
    _, tracks = await h.song("a song to like")
    own = await h.reply_to(h.click(tracks[0], "Like"))
    assert "your own track" in own["content"] and own["flags"] & 64  # not on your own
    answer = await press(h, tracks[0], BOB)
    assert answer["type"] == 7  # the track message itself is updated
    message = tracks[0]  # as the fake holds it now
    assert like_button(message)["label"] == "1" and likes_field(message) == "1"
    assert message["attachments"] and message["embeds"][0]["title"] == "A Song To Like"  # the rest is kept
    await press(h, message, CAROL)
    assert like_button(message)["label"] == "2" and likes_field(message) == "2"
    await press(h, message, BOB)  # Bob takes his back
    assert like_button(message)["label"] == "1" and likes_field(message) == "1"
    assert await h.bot.store.like_count(1, 0) == 1


async def test_top_lists_the_servers_most_liked_tracks_of_the_period(harness: Harness) -> None:
    h = harness
    _, old = await h.song("an old favourite")
    for voter in (BOB, CAROL, 4444):
        await press(h, old[0], voter)
    h.clock.advance(8 * 86400)
    _, new = await h.song("this week's hit")
    for voter in (BOB, CAROL):
        await press(h, new[1], voter)
    week = (await h.reply_to(h.command("top")))["embeds"][0]["description"]
    assert week.startswith("\U0001f947 **This Week") and "\u2b50 2" in week and "Old Favourite" not in week
    assert f"/{new[1]['id']})" in week  # a link to the track's message
    ever = (await h.reply_to(h.command("top", {"period": "all"})))["embeds"][0]["description"].splitlines()
    assert "Old Favourite" in ever[0] and "\u2b50 3" in ever[0] and "This Week" in ever[1]


async def test_top_leaves_out_tracks_from_channels_the_member_cannot_read(harness: Harness) -> None:
    h = harness
    mods_room = 7070
    guild_create(h.bot, channels=[text_channel(h.channel_id, "music"), text_channel(mods_room, "mods", hidden=True)])
    task_id = await h.finished(h.command("generate", {"prompt": "a secret demo"}, channel_id=mods_room), "generate")
    await h.kie.advance(task_id, "complete")
    posted = await h.discord.wait_for_message(mods_room, lambda m: "your song is ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    await press(h, posted, CAROL)
    assert "Secret Demo" not in (await h.reply_to(h.command("top", user_id=BOB)))["embeds"][0]["description"]
    assert "Secret Demo" in (await h.reply_to(h.command("top")))["embeds"][0]["description"]  # its owner's
