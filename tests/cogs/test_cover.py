"""/cover and the Cover button."""

from __future__ import annotations

from tests.conftest import Harness
from tests.support.interactions import inject, modal_submit_for, settle


async def test_cover_a_track_uses_its_audio_lyrics_and_title(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    source = h.kie.task(source_id).tracks[0]
    task_id = await h.finished(h.command("cover", {"track": source.audio_id, "style": "bossa nova"}), "upload_cover")
    body = h.kie.submissions_of("upload_cover")[-1].body
    assert body["uploadUrl"] == h.kie.audio_url(source_id, 0)
    assert (body["customMode"], body["style"], body["title"], body["prompt"]) == (
        True, "bossa nova", source.title, source.prompt)
    await h.kie.advance(task_id, "complete")
    assert len(await h.wait_for_tracks(4)) == 4


async def test_an_instrumental_cover_sends_no_lyrics(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    source = h.kie.task(source_id).tracks[0]
    await h.finished(h.command("cover", {"track": source.audio_id, "style": "string quartet",
                                         "instrumental": True, "title": "Strings"}), "upload_cover")
    body = h.kie.submissions_of("upload_cover")[-1].body
    assert body["instrumental"] is True and "prompt" not in body and body["title"] == "Strings"


async def test_cover_an_upload_by_description(harness: Harness) -> None:
    h = harness
    audio = h.discord.host_file("hum.wav", b"RIFF" + b"\0" * 4000, content_type="audio/wav")
    await h.finished(h.command("cover", {"audio": {**audio, "content_type": "audio/wav"},
                                         "style": "80s synthwave with a big chorus"}), "upload_cover")
    body = h.kie.submissions_of("upload_cover")[-1].body
    assert body["customMode"] is False and body["prompt"] == "80s synthwave with a big chorus"
    assert body["uploadUrl"] == audio["url"]


async def test_a_re_roll_of_an_upload_whose_discord_link_expired_says_to_upload_again(harness: Harness) -> None:
    """Discord serves an attachment only until its link's ``ex`` time: a Re-roll after that is refused before
    anything is sent or spent, rather than failing at Suno."""
    h = harness
    audio = h.discord.host_file("hum.wav", b"RIFF" + b"\0" * 4000, content_type="audio/wav")
    expires = int(h.clock()) + 86400
    signed = {**audio, "url": f"{audio['url']}?ex={expires:x}&is={expires - 86400:x}&hm=abc123",
              "content_type": "audio/wav"}
    task_id = await h.finished(h.command("cover", {"audio": signed, "style": "80s synthwave"}), "upload_cover")
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    again = await h.finished(h.click(tracks[0], "Re-roll"), "upload_cover")  # the same day: the link still works
    assert h.kie.task(again).body["uploadUrl"] == signed["url"]
    h.clock.advance(2 * 86400)
    refused = await h.reply_to(h.click(tracks[0], "Re-roll"))
    assert "Discord no longer serves it" in refused["content"] and refused["flags"] & 64
    assert len(h.kie.submissions_of("upload_cover")) == 2


async def test_cover_an_upload_with_lyrics(harness: Harness) -> None:
    h = harness
    audio = h.discord.host_file("hum.wav", b"RIFF" + b"\0" * 4000, content_type="audio/wav")
    await h.finished(h.command("cover", {"audio": {**audio, "content_type": "audio/wav"}, "style": "folk",
                                         "lyrics": "[Verse]\nmy words"}), "upload_cover")
    body = h.kie.submissions_of("upload_cover")[-1].body
    assert (body["customMode"], body["title"], body["prompt"]) == (True, "hum", "[Verse]\nmy words")


async def test_an_upload_the_provider_cannot_fetch_is_explained(harness: Harness) -> None:
    h = harness
    audio = h.discord.host_file("gone.mp3", b"ID3", content_type="audio/mpeg")
    audio = {**audio, "url": f"{h.discord.origin}/attachments/1/2/gone.mp3", "content_type": "audio/mpeg"}
    reply = await h.reply_to(h.command("cover", {"audio": audio, "style": "jazz"}))
    assert "could not download" in reply["content"] and reply["flags"] & 64
    await h.bot.tracker.idle()
    assert h.messages() == []  # the status message was removed


async def test_the_cover_button_opens_a_form_with_the_lyrics(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song()
    source = h.kie.task(source_id).tracks[1]
    click = h.click(tracks[1], "Cover")
    modal = (await h.discord.wait_for_callback(int(click["id"]))).json
    assert modal["type"] == 9
    await settle()
    values = {c["label"]: c.get("value") for row in modal["data"]["components"] for c in row["components"]}
    assert values["Title"] == source.title and values["Lyrics (empty for an instrumental cover)"] == source.prompt
    submit = modal_submit_for(modal["data"], {"New style": "gospel choir"})
    inject(h.bot, submit, fake=h.discord)
    await h.finished(submit, "upload_cover")
    body = h.kie.submissions_of("upload_cover")[-1].body
    assert body["style"] == "gospel choir" and body["uploadUrl"] == h.kie.audio_url(source_id, 1)
