"""/lyrics: variants as embeds, long text as a file, and "Make a song" into the compose form."""

from __future__ import annotations

from tests.conftest import Harness
from tests.support.interactions import inject, modal_submit_for, settle


async def test_lyrics_variants_each_come_with_make_a_song(harness: Harness) -> None:
    h = harness
    task_id = await h.finished(h.command("lyrics", {"prompt": "a lighthouse keeper's last night"}), "lyrics")
    assert h.kie.submissions_of("lyrics")[-1].body["prompt"] == "a lighthouse keeper's last night"
    await h.kie.advance(task_id, "complete")
    await h.discord.wait_for_message(h.channel_id, lambda m: "lyrics 2 of 2" in str(m["embeds"]))
    await h.bot.tracker.idle()
    variants = [m for m in h.messages() if "lyrics" in str(m["embeds"]) and "of 2" in str(m["embeds"])]
    assert len(variants) == 2
    expected = h.kie.task(task_id).lyrics
    for message, variant in zip(variants, expected, strict=True):
        embed = message["embeds"][0]
        assert embed["title"] == variant.title and embed["description"] == variant.text
        assert message["components"][0]["components"][0]["label"] == "Make a song"
    assert "your lyrics are ready" in variants[0]["content"]

    click = h.click(variants[1], "Make a song")
    modal = (await h.discord.wait_for_callback(int(click["id"]))).json
    assert modal["type"] == 9
    await settle()
    values = {c["label"]: c.get("value") for row in modal["data"]["components"] for c in row["components"]}
    assert values["Lyrics"] == expected[1].text and values["Title"] == expected[1].title[:80]
    submit = modal_submit_for(modal["data"], {"Style": "sea shanty"})
    inject(h.bot, submit, fake=h.discord)
    await h.finished(submit, "generate")
    body = h.kie.submissions_of("generate")[-1].body
    assert body["customMode"] is True and body["prompt"] == expected[1].text and body["style"] == "sea shanty"


async def test_long_lyrics_come_as_a_text_file_not_cut(harness: Harness) -> None:
    h = harness
    task_id = await h.finished(h.command("lyrics", {"prompt": "an epic"}), "lyrics")
    long_text = "[Verse]\n" + "a line that goes on and on\n" * 200
    h.kie.task(task_id).lyrics[0].text = long_text
    await h.kie.advance(task_id, "complete")
    message = await h.discord.wait_for_message(h.channel_id, lambda m: "lyrics 1 of" in str(m["embeds"]))
    assert "attached as a text file" in message["embeds"][0]["description"]
    txt = next(a for a in message["attachments"] if a["filename"].endswith(".txt"))
    assert h.discord.attachment_data[int(txt["id"])].decode() == long_text


async def test_a_lyrics_prompt_over_200_characters_is_refused(harness: Harness) -> None:
    h = harness
    reply = await h.reply_to(h.command("lyrics", {"prompt": "x" * 201}))
    assert "at most 200" in reply["content"]
    assert h.kie.submissions_of("lyrics") == []


async def test_moderated_lyrics_fail_with_the_reason(harness: Harness) -> None:
    h = harness
    task_id = await h.finished(h.command("lyrics", {"prompt": "something"}), "lyrics")
    await h.kie.fail(task_id)
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    assert "content filter" in notice["content"]


async def test_make_a_song_belongs_to_whoever_asked_for_the_lyrics(harness: Harness) -> None:
    h = harness
    task_id = await h.finished(h.command("lyrics", {"prompt": "a kettle"}), "lyrics")
    await h.kie.advance(task_id, "complete")
    message = await h.discord.wait_for_message(h.channel_id, lambda m: "lyrics 1 of" in str(m["embeds"]))
    reply = await h.reply_to(h.click(message, "Make a song", user_id=31337))
    assert "These lyrics belong to" in reply["content"]
