"""/style boost: Suno's style booster turns a few words into a fuller style description; a button opens the
/compose form with it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.flows import Feature, charged, member_defaults
from bot.formatting import member_text, quote_block
from bot.models import MusicRequest
from bot.replies import report_unexpected, send_ephemeral
from cogs.generate import ComposeModal

if TYPE_CHECKING:
    from bot.core import ChorusBot


class ComposeWithStyle(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"chorus-boosted:(?P<user>[0-9]+)"):
    """"Compose with this style": the /compose form with the boosted style filled in (read from the message,
    so it works after a restart)."""

    def __init__(self, user_id: int) -> None:
        super().__init__(discord.ui.Button(label="Compose with this style", emoji="\U0001f3bc",
                                           style=discord.ButtonStyle.primary, custom_id=f"chorus-boosted:{user_id}"))
        self.user_id = user_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any],
                             match: re.Match[str]) -> ComposeWithStyle:
        return cls(int(match["user"]))

    async def callback(self, interaction: discord.Interaction[ChorusBot]) -> None:
        try:
            style = boosted_style(interaction.message)
            defaults = await member_defaults(interaction)
            capabilities = interaction.client.provider.capabilities
            draft = MusicRequest(custom_mode=True, model=defaults.model_or(None), style=style,
                                 instrumental=defaults.instrumental_or(None), vocal_gender=defaults.vocal_gender)
            await interaction.response.send_modal(ComposeModal(draft, capabilities.limits))
        except Exception as error:
            await report_unexpected(interaction, error, "compose with a boosted style")


class Boost(Feature):
    """Boost a style."""

    dynamic_items = (ComposeWithStyle,)
    style = app_commands.Group(name="style", description="Style tools",
                               allowed_contexts=app_commands.AppCommandContext(guild=True))

    def unoffered(self, offers: frozenset) -> list[str]:  # type: ignore[type-arg]
        return [] if "boost" in self.bot.provider.capabilities.tools else ["style"]

    @style.command(name="boost", description="Turn a few words into a fuller style description for a song")
    @app_commands.describe(text="A short style, e.g. \u201cpop, mysterious\u201d")
    async def boost(self, interaction: discord.Interaction[ChorusBot], text: app_commands.Range[str, 1, 200]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with charged(interaction, "style_boost", "style boost"):
            await self.bot.dispatcher.tool_turn()
            result = await self.bot.provider.boost_style(text)
        view = discord.ui.View(timeout=None)
        view.add_item(ComposeWithStyle(interaction.user.id))
        await send_ephemeral(interaction, f"\u2728 \u201c{member_text(text, 200)}\u201d, boosted:\n"
                             f"{quote_block(result, 1000)}", view=view)


def boosted_style(message: discord.Message | None) -> str:
    """The boosted style quoted in the answer the button sits on."""
    content = message.content if message is not None else ""
    match = re.search(r"```(?:\w*\n)?(.*?)```", content, re.DOTALL)
    return match.group(1).strip() if match else ""


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Boost(bot))
