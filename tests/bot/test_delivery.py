"""Delivery: size-aware uploads (a link instead of an upload that would fail), and robust fallbacks."""

from __future__ import annotations

from tests.conftest import Harness
from tests.support.discord_fake import MiB


async def test_a_track_over_the_upload_limit_is_posted_as_a_link(harness: Harness) -> None:
    h = harness
    h.kie.audio_size = 11 * MiB
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    for n, message in enumerate(tracks):
        assert not any(a["filename"].endswith(".mp3") for a in message["attachments"])
        audio_field = next(f for f in message["embeds"][0]["fields"] if f["name"] == "Audio")
        assert h.kie.audio_url(task_id, n) in audio_field["value"]
        assert "11.0 MiB" in audio_field["value"] and "limit 10 MiB" in audio_field["value"]
        assert any(a["filename"].startswith("cover") for a in message["attachments"])  # the cover still uploads
    assert not any(call.status == 413 for call in h.discord.calls)  # never an upload that fails


async def test_a_boosted_server_limit_from_the_interaction_is_used(harness: Harness) -> None:
    h = harness
    h.kie.audio_size = 11 * MiB
    h.discord.upload_limit = 50 * MiB
    payload = h.command("generate", {"prompt": "big song"}, attachment_size_limit=50 * MiB)
    await h.reply_to(payload)
    await h.kie.advance(h.kie.last_task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert all(any(a["filename"].endswith(".mp3") and a["size"] == 11 * MiB for a in m["attachments"]) for m in tracks)


async def test_an_upload_refused_as_too_large_falls_back_to_a_link(harness: Harness) -> None:
    h = harness
    h.kie.audio_size = 9 * MiB
    h.discord.upload_limit = 8 * MiB  # the server's real limit is lower than the interaction said
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2
    assert all(any(f["name"] == "Audio" for f in m["embeds"][0]["fields"]) for m in tracks)


async def test_an_expired_file_is_linked_not_lost(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate()
    body = h.kie.callback_body(task_id, "complete")
    body["data"]["data"][0]["audio_url"] = h.kie.base_url + "/files/gone/0.mp3"
    from tests.bot.test_web import _post

    assert await _post(h.kie.submissions[-1].body["callBackUrl"], body) == 200
    tracks = await h.wait_for_tracks()
    assert any(f["name"] == "Audio" for f in tracks[0]["embeds"][0]["fields"])
    assert any(a["filename"].endswith(".mp3") for a in tracks[1]["attachments"])
