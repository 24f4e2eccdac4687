"""Self-test of the end-to-end harness: a tiny real ``commands.Bot`` against :class:`FakeDiscord`."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.support.discord_fake import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    FakeDiscord,
    MiB,
    followup_for,
    route,
)
from tests.support.interactions import (
    component,
    discord_api,
    inject,
    modal_submit,
    modal_submit_for,
    settle,
    slash_command,
)

PING_BYTES = bytes(range(256)) * 64  # 16 KiB, every byte value
OTHER_CHANNEL_ID = DEFAULT_CHANNEL_ID + 1


# ---------------------------------------------------------------------------------------------
# The bot under test
# ---------------------------------------------------------------------------------------------


class CounterButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"counter:(?P<count>\d+)"):
    """A persistent button whose state lives in its custom_id."""

    def __init__(self, count: int) -> None:
        super().__init__(discord.ui.Button(label=f"Count {count}", custom_id=f"counter:{count}"))
        self.count = count

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CounterButton:
        return cls(int(match["count"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None).add_item(CounterButton(self.count + 1))
        await interaction.response.edit_message(content=f"count {self.count + 1}", view=view)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    song: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(label="Song", custom_id="song")
    mood: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(label="Mood", style=discord.TextStyle.long)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"{self.song.value}|{self.mood.value}", ephemeral=True)


class HarnessBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=discord.Intents.none())
        self.errors: asyncio.Queue[BaseException] = asyncio.Queue()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CounterButton)
        self.tree.error(self.on_tree_error)
        for command in (ping, upload, feedback, post, announce):
            self.tree.add_command(command)

    async def on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        self.errors.put_nowait(getattr(error, "original", error))


@app_commands.command(description="Defer, then answer with a file")
async def ping(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await interaction.followup.send("pong", file=discord.File(io.BytesIO(PING_BYTES), "pong.bin"), ephemeral=True)


@app_commands.command(description="Upload a file of the given size")
async def upload(interaction: discord.Interaction, size: int) -> None:
    await interaction.response.defer()
    await interaction.followup.send(file=discord.File(io.BytesIO(b"\0" * size), "big.wav"))


@app_commands.command(description="Open the feedback form")
async def feedback(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(FeedbackModal())


@app_commands.command(description="Post a progress message, then edit it")
async def post(interaction: discord.Interaction) -> None:
    assert isinstance(interaction.channel, discord.TextChannel)
    view = discord.ui.View(timeout=None).add_item(CounterButton(0))
    message = await interaction.channel.send("working", view=view)
    await interaction.response.send_message("posted", ephemeral=True)
    await message.edit(content="done")


@app_commands.command(description="Announce in another channel")
async def announce(interaction: discord.Interaction, channel_id: str, text: str) -> None:
    await interaction.response.defer(ephemeral=True)
    await interaction.client.get_partial_messageable(int(channel_id)).send(text)
    await interaction.followup.send("announced", ephemeral=True)


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[HarnessBot]:
    with discord_api(fake.api_base):
        client = HarnessBot()
        await client.login("fake-token")
        try:
            yield client
        finally:
            await client.close()


def send(bot: HarnessBot, fake: FakeDiscord, payload: dict[str, Any]) -> int:
    inject(bot, payload, fake=fake)
    return int(payload["id"])


async def next_error(bot: HarnessBot) -> BaseException:
    async with asyncio.timeout(5):
        return await bot.errors.get()


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


async def test_login_uses_fake(bot: HarnessBot, fake: FakeDiscord) -> None:
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert bot.application_id == fake.app_id
    assert [str(c) for c in fake.calls] == ["GET /users/@me -> 200", "GET /oauth2/applications/@me -> 200"]
    assert fake.calls[0].headers["Authorization"] == "Bot fake-token"


async def test_defer_then_followup_with_file(bot: HarnessBot, fake: FakeDiscord) -> None:
    payload = slash_command("ping")
    interaction_id = send(bot, fake, payload)

    callback = await fake.wait_for_callback(interaction_id)
    assert callback.json == {"type": 5, "data": {"flags": 64}}
    assert callback.status == 200

    followup = await fake.wait_for(followup_for(payload["token"]))
    assert followup.status == 200
    assert followup.json["content"] == "pong"
    [upload_part] = followup.files
    assert (upload_part.field, upload_part.filename, upload_part.data) == ("files[0]", "pong.bin", PING_BYTES)

    # The first follow-up after a deferral fills in the "thinking..." message, which stays ephemeral.
    [message] = fake.interaction_messages(interaction_id)
    assert message["content"] == "pong" and message["flags"] & 64
    assert message["attachments"][0]["size"] == len(PING_BYTES)
    assert not fake.unknown_calls


async def test_modal_roundtrip(bot: HarnessBot, fake: FakeDiscord) -> None:
    opened = await fake.wait_for_callback(send(bot, fake, slash_command("feedback")))
    assert opened.json["type"] == 9
    modal = opened.json["data"]
    assert modal["title"] == "Feedback"
    assert [row["type"] for row in modal["components"]] == [1, 1]  # TextInputs are wrapped in action rows
    await settle()  # discord.py registers the modal only after the callback request returned

    mood_id = modal["components"][1]["components"][0]["custom_id"]
    submit = modal_submit(modal["custom_id"], {"song": "Blue Skies", mood_id: "sunny"})
    answer = await fake.wait_for_callback(send(bot, fake, submit))
    assert answer.json["type"] == 4
    assert answer.json["data"]["content"] == "Blue Skies|sunny"


async def test_modal_submit_for_by_label(bot: HarnessBot, fake: FakeDiscord) -> None:
    opened = await fake.wait_for_callback(send(bot, fake, slash_command("feedback")))
    await settle()
    submit = modal_submit_for(opened.json["data"], {"Song": "Night Drive", "Mood": "calm"})
    answer = await fake.wait_for_callback(send(bot, fake, submit))
    assert answer.json["data"]["content"] == "Night Drive|calm"


async def test_dynamic_button_dispatches(bot: HarnessBot, fake: FakeDiscord) -> None:
    callback = await fake.wait_for_callback(send(bot, fake, component("counter:41")))
    assert callback.json["type"] == 7
    assert callback.json["data"]["content"] == "count 42"
    assert callback.json["data"]["components"][0]["components"][0]["custom_id"] == "counter:42"


async def test_channel_message_create_edit_and_click(bot: HarnessBot, fake: FakeDiscord) -> None:
    interaction_id = send(bot, fake, slash_command("post"))
    created = await fake.wait_for(route("POST", rf"/channels/{DEFAULT_CHANNEL_ID}/messages"))
    assert created.json["content"] == "working"
    message_id = int(created.response["id"])

    edited = await fake.wait_for(route("PATCH", rf"/channels/{DEFAULT_CHANNEL_ID}/messages/{message_id}"))
    assert edited.json["content"] == "done"
    assert fake.messages[message_id]["content"] == "done"
    assert [e["content"] for e in fake.edits[message_id]] == ["done"]
    assert (await fake.wait_for_callback(interaction_id)).json["data"]["flags"] == 64

    # Click the persistent button on the message the bot posted.
    click = component("counter:0", message=fake.messages[message_id])
    await fake.wait_for_callback(send(bot, fake, click))
    assert fake.messages[message_id]["content"] == "count 1"


async def test_partial_messageable_and_forbidden_channel(bot: HarnessBot, fake: FakeDiscord) -> None:
    send(bot, fake, slash_command("announce", {"channel_id": str(OTHER_CHANNEL_ID), "text": "hello"}))
    message = await fake.wait_for_message(OTHER_CHANNEL_ID, lambda m: m["content"] == "hello")
    assert message["author"]["id"] == str(fake.bot_user_id)

    fake.forbidden_channels.add(OTHER_CHANNEL_ID)
    send(bot, fake, slash_command("announce", {"channel_id": str(OTHER_CHANNEL_ID), "text": "again"}))
    error = await next_error(bot)
    assert isinstance(error, discord.Forbidden) and error.code == 50013
    assert len(fake.channel_messages(OTHER_CHANNEL_ID)) == 1


async def test_too_large_file_is_rejected(bot: HarnessBot, fake: FakeDiscord) -> None:
    payload = slash_command("upload", {"size": 10 * MiB + 1})
    send(bot, fake, payload)
    rejected = await fake.wait_for(followup_for(payload["token"]))
    assert rejected.status == 413 and rejected.files[0].size == 10 * MiB + 1

    error = await next_error(bot)
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (413, 40005)
    assert fake.original_response(int(payload["id"]))["flags"] & 128  # still "thinking...": nothing stored


async def test_late_interaction_is_unknown(bot: HarnessBot, fake: FakeDiscord) -> None:
    interaction_id = send(bot, fake, slash_command("ping", at=time.time() - 5))
    callback = await fake.wait_for_callback(interaction_id)
    assert callback.status == 404

    error = await next_error(bot)
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert not fake.interaction_messages(interaction_id)


async def test_followup_after_token_expiry(bot: HarnessBot, fake: FakeDiscord) -> None:
    payload = slash_command("feedback")
    await fake.wait_for_callback(send(bot, fake, payload))
    fake.advance(16 * 60)
    webhook = discord.Webhook.partial(fake.app_id, payload["token"], client=bot)
    with pytest.raises(discord.HTTPException) as raised:
        await webhook.send("too late")
    assert (raised.value.status, raised.value.code) == (401, 50027)


async def test_second_response_is_rejected(bot: HarnessBot, fake: FakeDiscord) -> None:
    interaction_id = send(bot, fake, slash_command("feedback"))
    callback = await fake.wait_for_callback(interaction_id)
    # Replay the same callback, as a second bot process answering the same interaction would.
    async with aiohttp.ClientSession() as session:
        async with session.post(fake.api_base + callback.path, json=callback.json) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 40060


async def test_tree_sync_body_is_recorded(bot: HarnessBot, fake: FakeDiscord) -> None:
    synced = await bot.tree.sync()
    put = await fake.wait_for(route("PUT", rf"/applications/{fake.app_id}/commands"))
    assert sorted(c["name"] for c in put.json) == ["announce", "feedback", "ping", "post", "upload"]
    size_option = next(c for c in put.json if c["name"] == "upload")["options"][0]
    assert (size_option["name"], size_option["type"], size_option["required"]) == ("size", 4, True)
    assert all(command.id for command in synced)

    guild = discord.Object(DEFAULT_GUILD_ID)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    assert len(fake.commands[DEFAULT_GUILD_ID]) == 5


async def test_rate_limit_is_retried(bot: HarnessBot, fake: FakeDiscord) -> None:
    fake.rate_limit_next(route("POST", r"/channels/\d+/messages"), retry_after=0.01)
    send(bot, fake, slash_command("announce", {"channel_id": str(OTHER_CHANNEL_ID), "text": "hi"}))
    await fake.wait_for_message(OTHER_CHANNEL_ID)
    statuses = [c.status for c in fake.calls if c.path == f"/channels/{OTHER_CHANNEL_ID}/messages"]
    assert statuses == [429, 200]


async def test_wait_for_timeout_lists_calls(fake: FakeDiscord) -> None:
    with pytest.raises(AssertionError, match="recorded calls"):
        await fake.wait_for(route("GET", "/never"), timeout=0.05)
