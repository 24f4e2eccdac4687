"""/settings: a member's defaults, changed in one private panel, used by /generate and /compose."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.interactions import component, inject


async def choose(h: Harness, panel: dict[str, Any], field: str, value: str, user_id: int = DEFAULT_USER_ID
                 ) -> dict[str, Any]:
    """Pick ``value`` in the panel's ``field`` menu; the interaction's answer."""
    payload = component(f"chorus-settings:{field}:{DEFAULT_USER_ID}", component_type=3, values=[value],
                        message=panel, user_id=user_id)
    inject(h.bot, payload, fake=h.discord)
    return (await h.discord.wait_for_callback(int(payload["id"]))).json


async def panel(h: Harness) -> dict[str, Any]:
    payload = h.command("settings")
    await h.discord.wait_for_callback(int(payload["id"]))
    return h.discord.original_response(int(payload["id"]))


def fields(message: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in message["embeds"][0]["fields"]}


async def test_defaults_are_changed_in_the_panel_and_used_for_new_songs(harness: Harness) -> None:
    h = harness
    shown = await panel(h)
    assert shown["flags"] & 64 and fields(shown) == {"Model": "the newest (V5)", "Songs": "with vocals",
                                                     "Voice": "any", "Results": "in the channel"}
    assert [row["components"][0]["custom_id"].split(":")[1] for row in shown["components"]] == [
        "model", "instrumental", "voice", "results"]
    answer = await choose(h, shown, "model", "V4_5")
    assert answer["type"] == 7 and fields(answer["data"])["Model"] == "V4.5"  # the panel updates itself
    await choose(h, shown, "voice", "f")
    settings = await h.bot.store.member_settings(DEFAULT_GUILD_ID, DEFAULT_USER_ID)
    assert (settings.model, settings.vocal_gender, settings.instrumental) == ("V4_5", "f", None)

    await h.generate("a lullaby for a lighthouse keeper")
    body = h.kie.submissions_of("generate")[-1].body
    assert body["model"] == "V4_5" and body["vocalGender"] == "f" and body["instrumental"] is False
    assert body["prompt"] == "a lullaby for a lighthouse keeper, female vocals"  # simple mode ignores vocalGender

    await choose(h, shown, "instrumental", "on")
    await h.generate("a march for tin soldiers", model="V5", vocal_gender="m")  # given options win
    body = h.kie.submissions_of("generate")[-1].body
    assert body["model"] == "V5" and body["instrumental"] is True and body["prompt"] == "a march for tin soldiers"

    other = await choose(h, shown, "model", "V4", user_id=4242)
    assert "someone else's settings" in other["data"]["content"]


async def test_the_tuning_options_reach_the_provider(harness: Harness) -> None:
    h = harness
    await h.generate("glitchy lo-fi about a robot", style_weight=0.654, weirdness=0.9, audio_weight=0)
    body = h.kie.submissions_of("generate")[-1].body
    assert (body["styleWeight"], body["weirdnessConstraint"], body["audioWeight"]) == (0.65, 0.9, 0)
    await h.generate("no knobs at all")
    assert "styleWeight" not in h.kie.submissions_of("generate")[-1].body


async def test_private_results_come_by_dm_and_the_channel_stays_quiet(harness: Harness) -> None:
    h = harness
    shown = await panel(h)
    answer = await choose(h, shown, "results", "dm")
    assert fields(answer["data"])["Results"] == "by DM to you"
    payload, task_id = await h.generate("a secret song for my sister")
    reply = (await h.discord.wait_for(lambda c: "On it" in str(c.json) and payload["token"] in c.path)).json
    assert "in your DMs" in reply["content"] and "/channels/@me/" in reply["content"]
    await h.kie.advance(task_id, "complete")
    await h.bot.tracker.idle()
    dms = await h.discord.wait_for(lambda c: c.method == "POST" and c.files
                                   and c.path != f"/channels/{h.channel_id}/messages")
    assert dms.json["content"].startswith(f"<@{DEFAULT_USER_ID}> your song is ready")
    assert h.discord.dm_messages(DEFAULT_USER_ID) and h.messages() == []  # nothing in the channel
    task = await h.bot.store.get_task(1)
    assert task is not None and task.private and task.channel_id != h.channel_id
    in_dm = h.discord.dm_messages(DEFAULT_USER_ID)
    track = next(m for m in in_dm if m.get("components"))
    assert [b["label"] for row in track["components"] for b in row["components"]] == ["Info", "Delete"]
    info = await h.reply_to(h.click(track, "Info", guild_id=None, channel_id=task.channel_id))
    assert info["embeds"][0]["title"]  # the buttons answer in the DM
    audio_id = task.tracks[0].audio_id
    assert audio_id not in await h.suggestions("karaoke", {"track": ""}, "track", user_id=4242)  # nor offered
    other = await h.reply_to(h.command("karaoke", {"track": audio_id}, user_id=4242))
    assert "can't find that track" in other["content"]
