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
