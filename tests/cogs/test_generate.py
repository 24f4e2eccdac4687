"""/generate and /compose through the real bot: Discord's interaction → provider → callbacks → channel."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.support.discord_fake import followup_for, route
from tests.support.interactions import component, inject, modal_submit_for, settle


async def test_generate_posts_two_playable_tracks_in_the_channel(harness: Harness) -> None:
    h = harness
    payload, task_id = await h.generate("a cheerful song about rain")

    callback = h.discord.interaction_responses(int(payload["id"]))[0]
    assert callback.json["type"] == 5 and callback.json["data"]["flags"] & 64  # private "thinking…"
    assert h.kie.submissions[-1].body["prompt"] == "a cheerful song about rain"
    await h.discord.wait_for_message(h.channel_id, lambda m: "\u2705 Queued" in _description(m))

    await h.kie.advance(task_id, "text")
    await h.discord.wait_for_message(h.channel_id, lambda m: "\u2705 Lyrics written" in _description(m))
    await h.kie.advance(task_id, "first")
    first = await h.discord.wait_for_message(h.channel_id, lambda m: "\u2705 First track ready" in _description(m))
    assert "[listen](" not in _description(first)  # a callback's links are not shown: only the provider's record's
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()

    assert len(tracks) == 2
    uploads = [call for call in h.discord.calls if route("POST", rf"/channels/{h.channel_id}/messages")(call)
               and call.files]
    for n, call in enumerate(uploads):
        audio = [f for f in call.files if f.filename.endswith(".mp3")]
        assert audio and audio[0].data == h.kie.audio_bytes(task_id, n)  # bytes as the provider served them
        cover = [f for f in call.files if f.filename.startswith("cover")]
        assert cover and cover[0].data == h.kie.image_bytes(task_id, n)
        embed = call.json["embeds"][0]
        assert embed["title"] == h.kie.task(task_id).tracks[n].title
        assert embed["thumbnail"]["url"] == f"attachment://{cover[0].filename}"
        assert {f["name"] for f in embed["fields"]} >= {"Duration", "Model"}
    first = uploads[0].json
    user_id = payload["member"]["user"]["id"]
    assert f"<@{user_id}>" in first["content"]
    assert [str(u) for u in first["allowed_mentions"]["users"]] == [user_id]
    assert "everyone" not in first["allowed_mentions"].get("parse", [])
    status = h.messages()[0]
    assert "\u2705 Done" in _description(status)
    assert "took" in str(status["embeds"][0]["fields"])


def _description(message: dict) -> str:
    return "".join(e.get("description") or "" for e in message.get("embeds") or [])


# ----- bad input and refusals: a private answer that says what to change, nothing sent ----------------------


async def test_a_too_long_prompt_is_refused_privately_before_any_request(harness: Harness) -> None:
    h = harness
    payload = h.command("generate", {"prompt": "la " * 199 + "end"})
    reply = await h.reply_to(payload)
    assert reply["flags"] & 64
    assert "600 characters; Suno takes at most 500" in reply["content"]
    assert "Shorten it by 100" in reply["content"]
    assert "la la la" in reply["content"]  # their prompt comes back to copy
    assert h.kie.api_calls == [] and h.messages() == []


async def test_a_blank_prompt_is_refused(harness: Harness) -> None:
    reply = await harness.reply_to(harness.command("generate", {"prompt": "   "}))
    assert "Describe the song" in reply["content"]
    assert harness.kie.api_calls == []


@pytest.mark.parametrize(
    ("code", "msg", "needle"),
    [
        (402, "Insufficient credits", "out of credits"),
        (400, "The description contains artist name", "artist"),
        (400, "Song Description flagged for moderation", "content filter"),
        (455, "System maintenance", "maintenance"),
        (401, "You do not have access permissions", "SUNO_API_KEY"),
    ],
)
async def test_provider_refusals_are_explained_privately(harness: Harness, code: int, msg: str, needle: str) -> None:
    h = harness
    for _ in range(3):  # more than the client's retries, for the retryable ones
        h.kie.fail_next_submit(code, msg)
    payload = h.command("generate", {"prompt": "a song like the greatest band"})
    reply = await h.reply_to(payload)
    assert needle in reply["content"]
    assert reply["flags"] & 64
    assert "a song like the greatest band" in reply["content"]
    await h.bot.tracker.idle()
    assert h.messages() == []  # the status message was removed
    assert h.kie.submissions == []
    rows = await h.bot.store.count_by_state()
    assert rows == {"failed": 1}


async def test_the_bot_needs_to_be_able_to_post_in_the_channel(harness: Harness) -> None:
    from tests.support.interactions import VIEW_CHANNEL

    payload = harness.command("generate", {"prompt": "a song"}, app_permissions=VIEW_CHANNEL)
    reply = await harness.reply_to(payload)
    assert "Send Messages" in reply["content"] and "Attach Files" in reply["content"]
    assert harness.kie.api_calls == []


async def test_a_channel_that_refuses_the_bot_is_explained(harness: Harness) -> None:
    harness.discord.forbidden_channels.add(harness.channel_id)
    reply = await harness.reply_to(harness.command("generate", {"prompt": "a song"}))
    assert "can't post in this channel" in reply["content"]
    assert harness.kie.submissions == []


async def test_generate_is_only_for_servers(harness: Harness) -> None:
    reply = await harness.reply_to(harness.command("generate", {"prompt": "a song"}, guild_id=None))
    assert "server" in reply["content"]
    assert harness.kie.api_calls == []


async def test_options_reach_the_provider(harness: Harness) -> None:
    await harness.generate("rainy night piano", instrumental=True, model="V4_5PLUS")
    body = harness.kie.submissions[-1].body
    assert (body["instrumental"], body["model"], body["customMode"]) == (True, "V4_5PLUS", False)


# ----- /compose --------------------------------------------------------------------------------------------


async def _open_compose(h: Harness, **options: object) -> tuple[dict, dict]:
    payload = h.command("compose", dict(options))
    callback = await h.discord.wait_for_callback(int(payload["id"]))
    assert callback.json["type"] == 9
    await settle()
    return payload, callback.json["data"]


def _inputs(modal: dict) -> dict[str, dict]:
    found = {}
    for row in modal["components"]:
        for item in row.get("components") or [row.get("component")]:
            found[item["label"]] = item
    return found


async def test_compose_opens_a_modal_sized_for_the_model(harness: Harness) -> None:
    _, modal = await _open_compose(harness, model="V4")
    inputs = _inputs(modal)
    assert list(inputs) == ["Title", "Style", "Lyrics", "Negative tags (optional)"]
    assert inputs["Title"]["max_length"] == 80
    assert inputs["Style"]["max_length"] == 200
    assert inputs["Lyrics"]["max_length"] == 3000
    _, modal = await _open_compose(harness, model="V5", instrumental=True)
    inputs = _inputs(modal)
    assert "Lyrics" not in inputs and inputs["Style"]["max_length"] == 1000


async def test_compose_submits_custom_mode_and_posts_tracks(harness: Harness) -> None:
    h = harness
    _, modal = await _open_compose(h, vocal_gender="f")
    lyrics = "[Verse]\nStreetlights hum\n[Chorus]\nNeon rain"
    submit = modal_submit_for(modal, {"Title": "Neon Rain", "Style": "synth-pop", "Lyrics": lyrics, "Negative tags (optional)": ""})
    inject(h.bot, submit, fake=h.discord)
    reply = await h.reply_to(submit)
    assert "On it" in reply["content"]
    body = h.kie.submissions[-1].body
    assert body == {"customMode": True, "instrumental": False, "model": "V5", "callBackUrl": body["callBackUrl"],
                    "style": "synth-pop", "title": "Neon Rain", "prompt": lyrics, "vocalGender": "f"}
    await h.kie.advance(h.kie.last_task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2


async def test_a_refused_compose_keeps_everything_the_member_wrote(harness: Harness) -> None:
    h = harness
    _, modal = await _open_compose(h)
    lyrics = "[Verse]\nsing it like a famous artist"
    h.kie.fail_next_submit(400, "The description contains artist name")
    submit = modal_submit_for(modal, {"Title": "Copycat", "Style": "pop", "Lyrics": lyrics, "Negative tags (optional)": ""})
    inject(h.bot, submit, fake=h.discord)
    reply_call = await h.discord.wait_for(followup_for(submit["token"]))
    assert "artist" in reply_call.json["content"]
    assert reply_call.files[0].data.decode() == lyrics  # the lyrics come back as a file
    button = reply_call.json["components"][0]["components"][0]
    assert button["label"] == "Edit and try again"
    await settle()
    click = component(button["custom_id"], message=reply_call.response)
    inject(h.bot, click, fake=h.discord)
    reopened = await h.discord.wait_for_callback(int(click["id"]))
    assert reopened.json["type"] == 9
    values = {c["label"]: c.get("value") for c in _inputs(reopened.json["data"]).values()}
    assert values["Title"] == "Copycat" and values["Lyrics"] == lyrics and values["Style"] == "pop"


# ----- the Info button --------------------------------------------------------------------------------------


async def test_info_shows_the_lyrics_privately_even_after_a_restart(harness: Harness, make_bot) -> None:
    h = harness
    _, task_id = await h.generate("a lullaby for a cat")
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    await h.bot.close()
    h.bot = await make_bot()  # a new process: nothing in memory
    button = next(b for row in tracks[1]["components"] for b in row["components"] if b["label"] == "Info")
    click = component(button["custom_id"], message=tracks[1])
    inject(h.bot, click, fake=h.discord)
    callback = await h.discord.wait_for_callback(int(click["id"]))
    data = callback.json["data"]
    assert data["flags"] & 64
    embed = data["embeds"][0]
    assert embed["description"] == h.kie.task(task_id).tracks[1].prompt
    assert "a lullaby for a cat" in str(embed["fields"])
