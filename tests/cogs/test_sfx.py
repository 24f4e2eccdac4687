"""/sfx through the real bot and the kie.ai fake: a sound effect or loop is checked before anything is sent,
charged at its own price, posted as playable audio with the buttons that make sense for a sound, and
refunded when Suno fails it. (sunoapi.org and CQTAI: tests/bot/providers/test_end_to_end.py.)"""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID


def buttons(message: dict[str, Any]) -> list[str]:
    return [b["label"] for row in message.get("components") or [] for b in row["components"]]


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
    assert buttons(tracks[0]) == ["Cover", "Re-roll", "WAV", "Like", "Info", "Delete"]
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
    assert await h.bot.store.refund_of(1) is not None
