"""Voice personas: /persona create (charged, refunded when Suno refuses), list, delete, and the persona option
on /compose, /cover and /extend, and as a /settings default."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.interactions import component, inject, modal_submit_for, settle

BOB = 4242


async def create(h: Harness, audio_id: str, name: str = "Velvet", **options: Any) -> dict[str, Any]:
    return await h.reply_to(h.command("persona", {"track": audio_id, "name": name,
                                                  "description": "warm, breathy alto", **options},
                                      subcommand="create"))


async def ledger(h: Harness, user_id: int = DEFAULT_USER_ID) -> list[tuple[str, int, str | None]]:
    rows = await h.bot.store.history(DEFAULT_GUILD_ID, user_id, 20)
    return [(row.kind, row.amount, row.operation) for row in reversed(rows) if row.operation == "persona"]


async def compose_with(h: Harness, **options: Any) -> dict[str, Any]:
    payload = h.command("compose", options)
    callback = await h.discord.wait_for_callback(int(payload["id"]))
    assert callback.json["type"] == 9, callback.json
    await settle()
    submit = modal_submit_for(callback.json["data"], {"Title": "Velvet Night", "Style": "jazz",
                                                      "Lyrics": "[Verse]\nsoft"})
    inject(h.bot, submit, fake=h.discord)
    assert "On it" in (await h.reply_to(submit))["content"]
    return h.kie.submissions_of("generate")[-1].body


async def test_a_persona_is_made_charged_listed_and_sung_with(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song("a ballad with a lovely voice")
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    short = await create(h, audio_id, vocal_start=5, vocal_end=9)
    assert "10 to 30 seconds" in short["content"] and await ledger(h) == []  # refused before anything

    made = await create(h, audio_id, vocal_start=5)
    assert "Made the persona **Velvet**" in made["content"] and made["flags"] & 64
    persona = h.kie.persona_for(audio_id)
    assert persona is not None and (persona.name, persona.vocal_start, persona.vocal_end) == ("Velvet", 5, 35)
    assert await ledger(h) == [("reserve", -1, "persona")]

    again = await create(h, audio_id, name="Velvet 2")  # Suno: one persona per track, so not even asked
    assert "already has a persona, **Velvet**" in again["content"] and "Nothing was spent" in again["content"]
    assert len(h.kie.submissions_of("persona")) == 1
    other = h.kie.task(source_id).tracks[1].audio_id
    h.kie.add_persona(other, name="Made elsewhere", description="by another bot")
    outside = await create(h, other, name="Mine")  # Suno answers 409: refunded
    assert "made outside this server" in outside["content"]
    assert await ledger(h) == [("reserve", -1, "persona"), ("reserve", -1, "persona"), ("refund", 1, "persona")]

    listing = (await h.reply_to(h.command("persona", subcommand="list")))["embeds"][0]["description"]
    assert f"**Velvet** by <@{DEFAULT_USER_ID}>" in listing
    stored = (await h.bot.store.personas(DEFAULT_GUILD_ID))[0]

    body = await compose_with(h, persona=str(stored.id))
    assert body["personaId"] == persona.persona_id and body["customMode"] is True
    await h.finished(h.command("cover", {"track": audio_id, "style": "bossa nova", "persona": str(stored.id)},
                               user_id=DEFAULT_USER_ID), "upload_cover")
    assert h.kie.submissions_of("upload_cover")[-1].body["personaId"] == persona.persona_id
    await h.finished(h.command("extend", {"track": audio_id, "lyrics": "[Verse 3]\nmore", "persona": str(stored.id)}),
                     "extend")
    extend = h.kie.submissions_of("extend")[-1].body
    assert extend["personaId"] == persona.persona_id and extend["defaultParamFlag"] is True

    bob = await h.reply_to(h.command("persona", {"persona": str(stored.id)}, subcommand="delete", user_id=BOB))
    assert "only they (or a moderator)" in bob["content"]
    gone = await h.reply_to(h.command("persona", {"persona": str(stored.id)}, subcommand="delete"))
    assert "Deleted the persona" in gone["content"] and await h.bot.store.personas(DEFAULT_GUILD_ID) == []
    await h.bot.store.block(DEFAULT_GUILD_ID, DEFAULT_USER_ID, "spam", BOB)
    blocked = await create(h, audio_id, name="Velvet again")  # free, but the server's rules still apply
    assert "spam" in blocked["content"] and await h.bot.store.personas(DEFAULT_GUILD_ID) == []
    await h.bot.store.unblock(DEFAULT_GUILD_ID, DEFAULT_USER_ID)
    back = await create(h, audio_id, name="Velvet again")  # Suno kept it: restored, free, not asked again
    assert "Made the persona **Velvet again**" in back["content"] and len(await ledger(h)) == 3
    assert len(h.kie.submissions_of("persona")) == 1  # Suno made only the first: none for the return
    restored = (await h.bot.store.personas(DEFAULT_GUILD_ID))[0]
    assert (await compose_with(h, persona=str(restored.id)))["personaId"] == persona.persona_id  # sings again


async def test_a_default_persona_from_settings_and_a_short_balance(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    audio_id = h.kie.task(source_id).tracks[1].audio_id
    await create(h, audio_id, name="Nova")
    stored = (await h.bot.store.personas(DEFAULT_GUILD_ID))[0]
    payload = h.command("settings")
    await h.discord.wait_for_callback(int(payload["id"]))
    panel = h.discord.original_response(int(payload["id"]))
    assert [row["components"][0]["custom_id"].split(":")[1] for row in panel["components"]][-1] == "persona"
    choose = component(f"chorus-settings:persona:{DEFAULT_USER_ID}", component_type=3, values=[str(stored.id)],
                       message=panel)
    inject(h.bot, choose, fake=h.discord)
    await h.discord.wait_for_callback(int(choose["id"]))
    body = await compose_with(h)
    assert body["personaId"] == h.kie.persona_for(audio_id).persona_id

    await h.bot.store.set_cost(DEFAULT_GUILD_ID, "persona", 10_000_000)
    other = h.kie.task(source_id).tracks[0].audio_id
    poor = await create(h, other, name="Too dear")
    assert "more than you have" in poor["content"] and h.kie.persona_for(other) is None
