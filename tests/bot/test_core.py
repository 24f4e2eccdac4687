"""The bot's lifecycle: setup_hook opens everything, commands sync only when they change, close() and
signals shut everything down."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.settings import SettingsError
from tests.conftest import BotFactory, terminate
from tests.support.discord_fake import FakeDiscord, route

COMMANDS = route("PUT", r"/applications/\d+/commands")
GUILD_COMMANDS = route("PUT", r"/applications/\d+/guilds/\d+/commands")
ALL_COMMANDS = {"generate", "compose", "extend", "cover", "lyrics", "stems", "export", "tracks", "track", "credits",
                "mod", "challenge", "queue", "help", "top", "settings", "vocals", "instrumental", "mashup", "replace",
                "persona", "karaoke", "style", "art", "sfx"}


async def test_the_registered_commands_carry_their_limits(make_bot: BotFactory, discord_fake: FakeDiscord) -> None:
    await make_bot()
    sync = await discord_fake.wait_for(COMMANDS)
    commands = {command["name"]: command for command in sync.json}
    assert set(commands) == ALL_COMMANDS
    generate = {option["name"]: option for option in commands["generate"]["options"]}
    assert generate["prompt"]["required"] and generate["prompt"]["max_length"] == 500
    assert all(commands[name]["options"] for name in ("generate", "compose", "extend", "cover"))
    for name in ("generate", "compose", "extend", "cover"):  # the provider's models, suggested as members type
        model = next(option for option in commands[name]["options"] if option["name"] == "model")
        assert model["autocomplete"] and not model["required"]
    assert generate["instrumental"]["type"] == 5
    assert all(option["description"] for command in commands.values() for option in command.get("options", []))
    assert all(command.get("contexts") == [0] for command in commands.values())  # servers only
    compose = {option["name"]: option for option in commands["compose"]["options"]}
    assert [c["value"] for c in compose["vocal_gender"]["choices"]] == ["m", "f"]
    extend = {option["name"]: option for option in commands["extend"]["options"]}
    assert extend["track"]["autocomplete"] and extend["audio"]["type"] == 11  # an attachment
    assert not extend["track"]["required"] and not extend["audio"]["required"]
    assert commands["lyrics"]["options"][0]["max_length"] == 200
    stems = {option["name"]: option for option in commands["stems"]["options"]}
    assert [c["value"] for c in stems["mode"]["choices"]] == ["vocals", "all"]
    cover = {option["name"]: option for option in commands["cover"]["options"]}
    assert cover["style"]["required"]
    show = commands["track"]["options"][0]
    assert show["name"] == "show" and show["options"][0]["autocomplete"]
    mod = commands["mod"]
    assert int(mod["default_member_permissions"]) == 1 << 5  # Manage Server: hidden from other members
    assert {option["name"] for option in mod["options"]} == {
        "credits", "costs", "channels", "words", "limits", "block", "unblock", "report", "storage", "log-channel",
        "provider-balance", "moderator-role"}
    credits = {option["name"] for option in next(o for o in mod["options"] if o["name"] == "credits")["options"]}
    assert credits == {"grant", "revoke", "set", "reset", "allowance", "role"}
    challenge = {option["name"]: option for option in commands["challenge"]["options"]}
    assert set(challenge) == {"create", "submit", "end", "cancel", "disqualify", "list", "show", "leaderboard"}
    create = {option["name"]: option for option in challenge["create"]["options"]}
    assert (create["duration_hours"]["min_value"], create["duration_hours"]["max_value"]) == (1, 720)
    assert create["theme"]["required"] and not create["max_entries"]["required"]


async def test_commands_are_synced_only_when_they_change(make_bot: BotFactory, discord_fake: FakeDiscord) -> None:
    bot = await make_bot()
    await bot.close()
    await make_bot()
    assert len([call for call in discord_fake.calls if COMMANDS(call)]) == 1


async def test_dev_guild_gets_the_commands_at_once(make_bot: BotFactory, discord_fake: FakeDiscord) -> None:
    await make_bot(dev_guild_id=discord_fake.guild_id)
    sync = await discord_fake.wait_for(GUILD_COMMANDS)
    assert {command["name"] for command in sync.json} == ALL_COMMANDS
    assert not any(COMMANDS(call) for call in discord_fake.calls)


async def test_close_stops_the_web_server_and_the_database(make_bot: BotFactory) -> None:
    bot = await make_bot()
    url = f"{bot.web.local_url}/healthz"
    store = bot.store
    await bot.close()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url)
    with pytest.raises(ValueError):
        await store.count_by_state()  # the connection is closed
    assert bot.is_closed()


async def test_sigterm_closes_the_bot_gracefully(make_bot: BotFactory) -> None:
    bot = await make_bot()
    await terminate(bot)
    assert bot.is_closed() and bot.web is None and bot.store is None


async def test_only_the_process_running_shard_0_syncs_the_commands(make_bot: BotFactory,
                                                                   discord_fake: FakeDiscord) -> None:
    await make_bot(shard_count=2, shard_ids=(1,))
    assert not [call for call in discord_fake.calls if COMMANDS(call)]
    await make_bot(shard_count=2, shard_ids=(0,))
    await discord_fake.wait_for(COMMANDS)


async def test_an_unreachable_postgresql_is_one_line_without_the_password(make_bot: BotFactory) -> None:
    with pytest.raises(SettingsError) as caught:
        await make_bot(database_url="postgresql://chorus:top-secret@127.0.0.1:1/chorus")
    assert caught.value.variable == "DATABASE_URL"
    assert "cannot use PostgreSQL" in str(caught.value) and "top-secret" not in str(caught.value)


async def test_a_media_dir_that_cannot_be_used_is_one_line(make_bot: BotFactory, tmp_path: Path) -> None:
    (tmp_path / "songs").write_text("a file, not a folder")
    with pytest.raises(SettingsError) as caught:
        await make_bot(media_dir=tmp_path / "songs")
    assert caught.value.variable == "MEDIA_DIR" and "cannot keep files in" in str(caught.value)


async def test_turning_dev_guild_id_on_or_off_leaves_each_command_in_one_place(
    make_bot: BotFactory, discord_fake: FakeDiscord
) -> None:
    """Commands synced to the other scope earlier would show twice: the sync clears that scope."""
    bot = await make_bot()  # globally
    await bot.close()
    bot = await make_bot(dev_guild_id=discord_fake.guild_id)  # to the server, and no longer globally
    guild_sync = await discord_fake.wait_for(GUILD_COMMANDS)
    assert {command["name"] for command in guild_sync.json} == ALL_COMMANDS
    cleared = [call for call in discord_fake.calls if COMMANDS(call)][-1]
    assert cleared.json == []
    await bot.close()
    start = len(discord_fake.calls)
    await make_bot()  # globally again, and no longer in the server
    await discord_fake.wait_for(lambda call: GUILD_COMMANDS(call) and call.json == [], start=start)
    synced = [call for call in discord_fake.calls[start:] if COMMANDS(call)]
    assert len(synced) == 1 and {command["name"] for command in synced[0].json} == ALL_COMMANDS
