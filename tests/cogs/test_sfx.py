"""/sfx through the real bot and the kie.ai fake: a sound effect or loop is checked before anything is sent,
charged at its own price, posted as playable audio with the buttons that make sense for a sound, and
refunded when Suno fails it. (sunoapi.org and CQTAI: tests/bot/providers/test_end_to_end.py.)"""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.interactions import button_labels


def field(message: dict[str, Any], name: str) -> str | None:
    return next((f["value"] for f in message["embeds"][0].get("fields", []) if f["name"] == name), None)


async def reserved(h: Harness, operation: str) -> list[int]:
    rows = await h.bot.store.history(DEFAULT_GUILD_ID, DEFAULT_USER_ID, 20)
    return [row.amount for row in rows if row.kind == "reserve" and row.operation == operation]


async def test_a_loop_with_tempo_and_key_is_sent_charged_and_posted_as_a_sound(harness: Harness) -> None:
    h = harness
    task_id = await h.finished(h.command("sfx", {"prompt": "a punchy 808 drum loop", "loop": True, "bpm": 120,
                                                 "key": "D#m"}), "sounds")
    body = h.kie.submissions_of("sounds")[-1].body
    assert body == {"prompt": "a punchy 808 drum loop", "model": "V5", "soundLoop": True, "soundTempo": 120,
                    "soundKey": "D#m", "grabLyrics": False, "callBackUrl": body["callBackUrl"]}
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert "your sound is ready" in tracks[0]["content"]
    assert all(any(a["filename"].endswith(".mp3") for a in m["attachments"]) for m in tracks)
    assert field(tracks[0], "Sound") == "Loop \u00b7 120 BPM \u00b7 D# minor"
    # A sound can be covered into a song, rolled again and exported; it has no lyrics, stems or video.
    assert button_labels(tracks[0]) == ["Cover", "Re-roll", "WAV", "Like", "Info", "Delete"]
    assert await reserved(h, "sounds") == [-3]  # the default price: a third of a song's


async def test_a_one_shot_leaves_tempo_to_suno_and_a_re_roll_asks_again(harness: Harness) -> None:
    h = harness
    await h.bot.store.set_cost(DEFAULT_GUILD_ID, "sounds", 2)
    task_id = await h.finished(h.command("sfx", {"prompt": "a door creaking open"}), "sounds")
    body = h.kie.submissions_of("sounds")[-1].body
    assert "soundTempo" not in body and (body["soundLoop"], body["soundKey"]) == (False, "Any")
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert field(tracks[0], "Sound") == "One-shot"
    again = await h.finished(h.click(tracks[0], "Re-roll"), "sounds")
    assert {k: v for k, v in h.kie.task(again).body.items() if k != "callBackUrl"} == \
        {k: v for k, v in body.items() if k != "callBackUrl"}
    assert await reserved(h, "sounds") == [-2, -2]


async def test_what_suno_would_refuse_is_answered_privately_and_costs_nothing(harness: Harness) -> None:
    h = harness
    for options, answer in (
        ({"prompt": "   "}, "Describe the sound"),
        ({"prompt": "thunder", "bpm": 301}, "The tempo goes from 1 to 300 BPM (you gave 301)"),
        ({"prompt": "thunder", "bpm": 0}, "The tempo goes from 1 to 300 BPM (you gave 0)"),
        ({"prompt": "x" * 501}, "The sound's description is 501 characters; Suno takes at most 500"),
    ):
        reply = await h.reply_to(h.command("sfx", options))
        assert answer in reply["content"] and reply["flags"] & 64, (options, reply)
    assert h.kie.submissions_of("sounds") == [] and await reserved(h, "sounds") == []


async def test_a_sound_suno_fails_is_refunded(strict: Harness) -> None:
    h = strict
    task_id = await h.finished(h.command("sfx", {"prompt": "glass shattering"}), "sounds")
    await h.kie.fail(task_id, code=531, msg="generation failed")
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    assert "\u201cglass shattering\u201d could not be made" in notice["content"]
    await h.bot.tracker.idle()
    credits = (await h.reply_to(h.command("credits")))["embeds"][0]["description"]
    assert credits.startswith("**100** credits available")  # the 3 it cost came back


async def test_a_sound_is_offered_where_it_fits_and_refused_where_a_song_is_needed(harness: Harness) -> None:
    """A sound can be covered into a song, exported as WAV and shown again; extending it, splitting it,
    a persona, a replaced section or a music video need a song, and say so before anything is spent."""
    h = harness
    task_id = await h.finished(h.command("sfx", {"prompt": "a warm synth pad loop", "loop": True}), "sounds")
    await h.kie.advance(task_id, "complete")
    await h.wait_for_tracks()
    sound = h.kie.task(task_id).tracks[0].audio_id
    assert sound in await offered(h, "cover") and sound in await offered(h, "export")
    assert sound not in await offered(h, "extend") and sound not in await offered(h, "stems")
    for name, options in (("extend", {}), ("stems", {"mode": "vocals"}), ("replace", {"start": 1, "end": 8, "lyrics": "la"}),
                          ("persona", {"name": "Pad", "description": "soft"})):
        reply = await h.reply_to(h.command(name, {"track": sound, **options},
                                           subcommand="create" if name == "persona" else None))
        assert "That's a sound effect: this works on songs" in reply["content"], (name, reply)
    video = await h.reply_to(h.command("export", {"track": sound, "format": "video"}))
    assert "Music videos are made of songs" in video["content"]
    await h.finished(h.command("export", {"track": sound, "format": "wav"}), "wav")
    await h.finished(h.command("cover", {"track": sound, "style": "dreamy synth-pop"}), "upload_cover")
    body = h.kie.submissions_of("upload_cover")[-1].body
    assert body["uploadUrl"] and body["instrumental"] is True  # nothing to sing: the sound has no lyrics
    assert await reserved(h, "stems_vocals") == [] and await reserved(h, "persona") == []


async def offered(h: Harness, command: str) -> list[str]:
    """The audio ids /<command>'s track option suggests."""
    return await h.suggestions(command, {"track": ""}, "track")
