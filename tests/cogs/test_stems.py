"""/stems and the Stems button: files named after the stems, at most 10 per message, links when too large,
and never the same separation twice."""

from __future__ import annotations

import re

import aiohttp

from tests.conftest import Harness
from tests.support.discord_fake import MiB, route


def _uploads(h: Harness, since: int) -> list:
    return [c for c in h.discord.calls[since:] if route("POST", rf"/channels/{h.channel_id}/messages")(c)]


async def test_vocals_and_instrumental_arrive_as_named_files(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song("rain on a tin roof")
    source = h.kie.task(source_id).tracks[0]
    task_id = await h.finished(h.command("stems", {"track": source.audio_id}), "separation")
    body = h.kie.separations[-1].body
    assert (body["taskId"], body["audioId"], body["type"]) == (source_id, source.audio_id, "separate_vocal")
    mark = len(h.discord.calls)
    await h.kie.advance(task_id, "complete")
    message = await h.discord.wait_for_message(h.channel_id, lambda m: "stems are ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    names = sorted(a["filename"] for a in message["attachments"])
    stem = source.title.replace(" ", "_")
    assert names == [f"{stem}-Instrumental.mp3", f"{stem}-Vocals.mp3"]
    call = next(c for c in _uploads(h, mark) if c.files)
    by_name = {f.filename: f.data for f in call.files}
    assert by_name[f"{stem}-Vocals.mp3"] == h.kie.file_bytes(h.kie.stem_url(task_id, "vocal"))
    status = next(m for m in h.messages() if "Vocals + instrumental of" in str(m["embeds"]))
    assert "\u2705 Done \u2014 posted below" in status["embeds"][0]["description"]


async def test_all_stems_are_spread_over_messages_of_at_most_ten(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    source = h.kie.task(source_id).tracks[0]
    task_id = await h.finished(h.command("stems", {"track": source.audio_id, "mode": "all"}), "separation")
    assert h.kie.separations[-1].body["type"] == "split_stem"
    mark = len(h.discord.calls)
    await h.kie.advance(task_id, "complete")
    await h.discord.wait_for_message(h.channel_id, lambda m: "stems are ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    uploads = [c for c in _uploads(h, mark) if c.files]
    assert [len(c.files) for c in uploads] == [10, 2]
    assert len({f.filename for c in uploads for f in c.files}) == 12


async def test_a_stem_over_the_upload_limit_is_a_link(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    task_id = await h.finished(h.command("stems", {"track": h.kie.task(source_id).tracks[0].audio_id}), "separation")
    h.kie.set_file_size(h.kie.stem_url(task_id, "instrumental"), 11 * MiB)
    await h.kie.advance(task_id, "complete")
    message = await h.discord.wait_for_message(h.channel_id, lambda m: "stems are ready" in (m["content"] or ""))
    assert [a["filename"].rsplit("-", 1)[1] for a in message["attachments"]] == ["Vocals.mp3"]
    listing = message["embeds"][0]["description"]
    assert "too large to upload here" in listing and h.kie.base_url not in listing
    link = re.search(r"\]\((\S+?)\)", listing)
    assert link and link.group(1).startswith(f"{h.bot.settings.public_base_url}/media/")  # our kept copy
    async with aiohttp.ClientSession() as http, http.get(link.group(1)) as response:
        assert await response.read() == h.kie.file_bytes(h.kie.stem_url(task_id, "instrumental"))
    assert not any(call.status == 413 for call in h.discord.calls)


async def test_the_same_separation_is_never_submitted_twice(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    pending = await h.finished(h.command("stems", {"track": audio_id}), "separation")
    again = await h.reply_to(h.command("stems", {"track": audio_id}))
    assert "already being made" in again["content"]
    await h.kie.advance(pending, "complete")
    await h.discord.wait_for_message(h.channel_id, lambda m: "stems are ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    reused = await h.reply_to(h.command("stems", {"track": audio_id}))
    assert "no new request to Suno" in reused["content"]
    posts = [m for m in h.messages() if "stems are ready" in (m["content"] or "")]
    assert len(posts) == 2 and len(posts[1]["attachments"]) == 2  # posted again, from the stored result
    assert h.kie.separation_count(audio_id) == 1
    other_mode = await h.finished(h.command("stems", {"track": audio_id, "mode": "all"}), "separation")
    assert other_mode and h.kie.separation_count(audio_id) == 2


async def test_the_stems_button_asks_which_stems(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song()
    click = h.click(tracks[0], "Stems")
    await h.discord.wait_for_callback(int(click["id"]))
    question = h.discord.original_response(int(click["id"]))
    assert question["flags"] & 64 and "Which stems" in question["content"]
    labels = [b["label"] for b in question["components"][0]["components"]]
    assert labels == ["Vocals + instrumental", "All stems (up to 12)"]
    choose = h.click(question, "All stems (up to 12)")
    await h.finished(choose, "separation")
    assert h.kie.separations[-1].body == {"taskId": source_id, "audioId": h.kie.task(source_id).tracks[0].audio_id,
                                          "type": "split_stem", "callBackUrl": h.kie.separations[-1].body["callBackUrl"]}


async def test_a_failed_separation_is_explained_and_can_be_retried(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    task_id = await h.finished(h.command("stems", {"track": audio_id}), "separation")
    await h.kie.fail(task_id)
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    assert "Try again" in notice["content"]
    await h.bot.tracker.idle()
    await h.finished(h.command("stems", {"track": audio_id}), "separation")
    assert h.kie.separation_count(audio_id) == 2


async def test_the_midi_button_on_all_stems_posts_a_midi_file(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    separation = await h.finished(h.command("stems", {"track": audio_id, "mode": "all"}), "separation")
    await h.kie.advance(separation, "complete")
    last = await h.discord.wait_for_message(h.channel_id, lambda m: bool(m.get("embeds")) and any(
        b["label"] == "MIDI" for row in m.get("components") or [] for b in row["components"]))
    midi = await h.finished(h.click(last, "MIDI"), "midi")
    assert h.kie.submissions_of("midi")[-1].body["taskId"] == separation
    await h.kie.advance(midi, "complete")
    posted = await h.discord.wait_for_message(h.channel_id, lambda m: "MIDI is ready" in (m["content"] or ""))
    upload = next(c for c in reversed(h.discord.calls) if c.files and c.files[0].filename.endswith(".mid"))
    data = upload.files[0].data
    assert data[:4] == b"MThd" and data.count(b"MTrk") == 1 + len(h.kie.midi_instruments(midi))
    assert "instruments:" in posted["embeds"][0]["description"]
    again = await h.reply_to(h.click(last, "MIDI"))
    assert "made before" in again["content"] and len(h.kie.submissions_of("midi")) == 1
