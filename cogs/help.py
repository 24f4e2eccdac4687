"""/help: every command in one private embed, grouped, with what it costs on this server.

Built from the command tree as it is registered (so commands the provider does not offer are not listed, and
a new command shows up by itself), with each command's own description."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.credits import GuildPolicy
from bot.flows import Feature
from bot.permissions import is_staff
from bot.replies import send_ephemeral

if TYPE_CHECKING:
    from bot.core import ChorusBot

# Sections in order; a command not named here goes under "More".
SECTIONS: dict[str, tuple[str, ...]] = {
    "\U0001f3b5 Make music": ("generate", "compose", "extend", "cover", "lyrics", "vocals", "instrumental", "mashup",
                             "replace", "persona", "style", "sfx"),
    "\U0001f3a7 Your tracks": ("tracks", "track", "stems", "export", "art", "karaoke", "queue", "credits", "settings"),
    "\U0001f3c6 Community": ("challenge", "top"),
    "\U0001f6e0\ufe0f Moderators": ("mod",),
}
# What a command spends: the cost table's operations (bot/credits.py), labelled when there are several.
COSTS: dict[str, tuple[tuple[str, str], ...]] = {
    "generate": (("generate", ""),),
    "compose": (("compose", ""),),
    "extend": (("extend", ""),),
    "cover": (("cover", ""),),
    "lyrics": (("lyrics", ""),),
    "stems": (("stems_vocals", "vocals + instrumental"), ("stems_all", "all")),
    "export": (("wav", "WAV"), ("video", "video")),
    "vocals": (("add_vocals", ""),),
    "instrumental": (("add_instrumental", ""),),
    "mashup": (("mashup", ""),),
    "replace": (("replace_section", ""),),
    "karaoke": (("karaoke", ""),),
    "art": (("cover_image", ""),),
    "persona": (("persona", "create"),),
    "style": (("style_boost", "boost"),),
    "sfx": (("sounds", ""),),
}
FIELD_LIMIT = 1024


class Help(Feature):
    """What every command does and costs."""

    @app_commands.command(name="help", description="Every command, what it does and what it costs here")
    @app_commands.guild_only()
    async def help_command(self, interaction: discord.Interaction[ChorusBot]) -> None:
        policy = await self.bot.store.policy(interaction.guild_id or 0)
        staff = await is_staff(interaction, self.bot.store)
        free = self.bot.provider.capabilities.free_exports
        await send_ephemeral(interaction, embed=help_embed(self.bot.tree.get_commands(), policy, staff=staff,
                                                           free=free))


def help_embed(commands: list[Any], policy: GuildPolicy, *, staff: bool,
               free: Collection[str] = frozenset()) -> discord.Embed:
    """The commands, by section; the moderators' section only for moderators. ``free``: the operations the
    provider makes with every song at no cost (they are free for songs made here)."""
    by_name = {command.name: command for command in commands}
    embed = discord.Embed(title="Chorus: what you can do", colour=discord.Colour.blurple())
    embed.description = ("Start typing `/` and a command's name: Discord shows its options. Every finished track "
                         "has buttons for the next step. Failed requests give their credits back.")
    listed: set[str] = set()
    for section, names in {**SECTIONS, "More": tuple(sorted(by_name))}.items():
        if section.endswith("Moderators") and not staff:
            listed.update(names)
            continue
        lines = [_line(by_name[name], policy, free) for name in names if name in by_name and name not in listed]
        listed.update(names)
        if lines:
            embed.add_field(name=section, value=_fit(lines), inline=False)
    embed.set_footer(text="Costs are in credits on this server; /credits shows your balance.")
    return embed


def _line(command: Any, policy: GuildPolicy, free: Collection[str]) -> str:
    cost = _cost(command.name, policy, free)
    if isinstance(command, app_commands.Group):
        parts = ", ".join(f"`{sub.name}`" for sub in command.commands)
        return f"`/{command.name}` {parts} \u2014 {command.description}{cost}"
    return f"`/{command.name}` \u2014 {command.description}{cost}"


def _cost(name: str, policy: GuildPolicy, free: Collection[str]) -> str:
    costs = COSTS.get(name)
    if not costs:
        return ""

    def price(operation: str) -> str:
        return "**free** for songs made here" if operation in free else f"**{policy.cost(operation)}**"

    if len(costs) == 1:
        operation, label = costs[0]
        return f" ({label + ' ' if label else ''}{price(operation)})"
    return " (" + ", ".join(f"{label} {price(operation)}" for operation, label in costs) + ")"


def _fit(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "\u2026"


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Help(bot))
