"""Karaoke (/karaoke and the button: a synced .lrc, made once per track) and /style boost."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.interactions import settle

BOB = 4242
LYRICS = "[Verse]\nNeon rain on the window\nCity lights below\n[Chorus]\nHold on, hold on"


async def answer(h: Harness, payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The private answer and its .lrc file's text."""
    call = await h.discord.wait_for_callback(int(payload["id"]))
    if call.json["type"] == 4:  # answered at once
        return call.json["data"], next((f.data.decode() for f in call.files if f.filename.endswith(".lrc")), None)
    call = await h.discord.wait_for(lambda c: c.path.startswith("/webhooks/") and payload["token"] in c.path)
    lrc = next((f.data.decode() for f in call.files if f.filename.endswith(".lrc")), None)
    return call.json, lrc


async def spent(h: Harness, user_id: int, operation: str) -> int:
    rows = await h.bot.store.history(DEFAULT_GUILD_ID, user_id, 50)
    return -sum(row.amount for row in rows if row.operation == operation)


async def test_karaoke_gives_a_synced_lrc_once_per_track(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate("a rainy city song")
    for track in h.kie.task(task_id).tracks:
        track.prompt = LYRICS
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    audio_id = h.kie.task(task_id).tracks[0].audio_id
    words = h.kie.timestamped_lyrics(audio_id)["alignedWords"]
    reply, lrc = await answer(h, h.command("karaoke", {"track": audio_id}))
    assert reply["flags"] & 64 and lrc is not None
    lines = lrc.splitlines()
    assert lines[0].startswith("[ti:") and lines[2:] == [
        f"[{int(words[0]['startS']) // 60:02d}:{words[0]['startS'] % 60:05.2f}]Neon rain on the window",
        f"[{int(words[5]['startS']) // 60:02d}:{words[5]['startS'] % 60:05.2f}]City lights below",
        f"[{int(words[8]['startS']) // 60:02d}:{words[8]['startS'] % 60:05.2f}]Hold on, hold on",
    ]
    assert "Neon rain on the window" in reply["embeds"][0]["description"]
    assert await spent(h, DEFAULT_USER_ID, "karaoke") == 1
    calls = len(h.kie.submissions_of("timestamped_lyrics"))

    labels = [b["label"] for row in tracks[0]["components"] for b in row["components"]]
    assert "Karaoke" in labels
    _, again = await answer(h, h.click(tracks[0], "Karaoke", user_id=BOB))  # anyone may ask
    assert again == lrc and len(h.kie.submissions_of("timestamped_lyrics")) == calls  # kept: not asked again
    assert await spent(h, BOB, "karaoke") == 0  # and nothing to pay


async def test_an_instrumental_has_no_karaoke_and_costs_nothing(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song("a quiet piano piece", instrumental=True)
    labels = [b["label"] for row in tracks[0]["components"] for b in row["components"]]
    assert "Karaoke" not in labels
    reply = await h.reply_to(h.command("karaoke", {"track": h.kie.task(source_id).tracks[0].audio_id}))
    assert "is instrumental" in reply["content"] and await spent(h, DEFAULT_USER_ID, "karaoke") == 0


async def test_style_boost_and_compose_with_it(harness: Harness) -> None:
    h = harness
    payload = h.command("style", {"text": "pop, mysterious"}, subcommand="boost")
    await h.discord.wait_for_callback(int(payload["id"]))
    call = await h.discord.wait_for(lambda c: c.path.startswith("/webhooks/") and payload["token"] in c.path)
    boosted = h.kie.style_result("pop, mysterious").result
    assert boosted in call.json["content"] and await spent(h, DEFAULT_USER_ID, "style_boost") == 1
    message = h.discord.interaction_messages(int(payload["id"]))[-1]  # the answer, with its button
    click = h.click(message, "Compose with this style")
    modal = (await h.discord.wait_for_callback(int(click["id"]))).json
    assert modal["type"] == 9
    style = next(item["value"] for row in modal["data"]["components"] for item in
                 [row.get("component") or row["components"][0]] if item.get("label") == "Style")
    assert style == boosted
    await settle()
