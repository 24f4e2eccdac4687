"""/export and the WAV and Video buttons: an attachment when it fits, a link when it does not, never twice."""

from __future__ import annotations

from tests.conftest import Harness
from tests.support.discord_fake import MiB


async def test_wav_export_is_attached(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song("night drive")
    source = h.kie.task(source_id).tracks[1]
    task_id = await h.finished(h.command("export", {"track": source.audio_id, "format": "wav"}), "wav")
    assert h.kie.submissions_of("wav")[-1].body["audioId"] == source.audio_id
    await h.kie.advance(task_id, "complete")
    message = await h.discord.wait_for_message(h.channel_id, lambda m: "WAV is ready" in (m["content"] or ""))
    wav = message["attachments"][0]
    assert wav["filename"] == f"{source.title.replace(' ', '_')}.wav"
    assert h.discord.attachment_data[int(wav["id"])] == h.kie.file_bytes(h.kie.wav_url(task_id))


async def test_a_large_wav_is_a_link(harness: Harness) -> None:
    h = harness
    h.kie.wav_size = 30 * MiB
    source_id, _ = await h.song()
    task_id = await h.finished(h.command("export", {"track": h.kie.task(source_id).tracks[0].audio_id,
                                                    "format": "wav"}), "wav")
    await h.kie.advance(task_id, "complete")
    message = await h.discord.wait_for_message(h.channel_id, lambda m: "WAV is ready" in (m["content"] or ""))
    assert message["attachments"] == []
    listing = message["embeds"][0]["description"]
    assert "30.0 MiB" in listing and f"({h.bot.settings.public_base_url}/media/" in listing  # our kept copy


async def test_video_from_the_button_carries_the_author(harness: Harness) -> None:
    h = harness
    _, tracks = await h.song()
    click = h.click(tracks[0], "Video")
    task_id = await h.finished(click, "mp4")
    body = h.kie.submissions_of("mp4")[-1].body
    user = click["member"]["user"]
    assert body["author"] == (user["global_name"] or user["username"])  # the requester's display name
    await h.kie.advance(task_id, "complete")
    message = await h.discord.wait_for_message(h.channel_id, lambda m: "music video is ready" in (m["content"] or ""))
    assert message["attachments"][0]["filename"].endswith(".mp4")


async def test_a_second_wav_of_the_same_track_reuses_the_first(harness: Harness) -> None:
    h = harness
    _, tracks = await h.song()
    task_id = await h.finished(h.click(tracks[0], "WAV"), "wav")
    await h.kie.advance(task_id, "complete")
    await h.discord.wait_for_message(h.channel_id, lambda m: "WAV is ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    reply = await h.reply_to(h.click(tracks[0], "WAV"))
    assert "no new request to Suno" in reply["content"]
    assert len(h.kie.submissions_of("wav")) == 1
    assert len([m for m in h.messages() if "WAV is ready" in (m["content"] or "")]) == 2
