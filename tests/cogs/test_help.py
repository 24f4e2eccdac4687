"""/help: every command, grouped, with what it costs on this server."""

from __future__ import annotations

from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID
from tests.support.interactions import MODERATOR_PERMS


async def test_help_lists_every_command_with_this_servers_costs(harness: Harness) -> None:
    h = harness
    await h.bot.store.set_cost(DEFAULT_GUILD_ID, "generate", 7)
    reply = await h.reply_to(h.command("help"))
    assert reply["flags"] & 64
    embed = reply["embeds"][0]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    text = str(fields)
    for command in ("/generate", "/compose", "/extend", "/cover", "/lyrics", "/stems", "/export", "/tracks",
                    "/track", "/credits", "/queue", "/challenge", "/help"):
        assert f"`{command}`" in text, command
    assert "`/generate` \u2014 Make a song from an idea" in text and "(**7**)" in text  # this server's cost
    assert "vocals + instrumental **10**, all **50**" in text
    assert "`/mod`" not in text  # members don't see the moderators' tools
    staff = (await h.reply_to(h.command("help", permissions=MODERATOR_PERMS)))["embeds"][0]
    assert "`/mod` `credits`, `costs`" in str(staff["fields"])
