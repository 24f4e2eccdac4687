"""/settings: a member's own defaults (model, instrumental, voice), shown and changed in one private panel.

/generate and /compose use them for every option the member leaves out. The panel's menus carry the member
and the setting in their custom ids, so they keep working after a restart."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.flows import Feature, model_label
from bot.models import MODELS
from bot.providers.base import Capabilities
from bot.replies import report_unexpected, send_ephemeral
from bot.store import MemberSettings

if TYPE_CHECKING:
    from bot.core import ChorusBot

DEFAULT = "default"
VOICES = {"m": "Male voice", "f": "Female voice"}


class SettingSelect(discord.ui.DynamicItem[discord.ui.Select[Any]],
                    template=r"chorus-settings:(?P<field>model|instrumental|voice):(?P<user>[0-9]+)"):
    """One menu of the /settings panel."""

    def __init__(self, field: str, user_id: int, options: list[discord.SelectOption], placeholder: str) -> None:
        super().__init__(discord.ui.Select(custom_id=f"chorus-settings:{field}:{user_id}", options=options,
                                           placeholder=placeholder, min_values=1, max_values=1))
        self.field = field
        self.user_id = user_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Select[Any],
                             match: re.Match[str]) -> SettingSelect:
        return cls(match["field"], int(match["user"]), list(item.options), item.placeholder or "")

    async def callback(self, interaction: discord.Interaction[ChorusBot]) -> None:
        try:
            if interaction.user.id != self.user_id:
                await send_ephemeral(interaction, "These are someone else's settings: use `/settings` for yours.")
                return
            store = interaction.client.store
            guild_id = interaction.guild_id or 0
            current = await store.member_settings(guild_id, self.user_id)
            updated = changed(current, self.field, self.item.values[0])
            await store.set_member_settings(guild_id, self.user_id, updated)
            capabilities = interaction.client.provider.capabilities
            await interaction.response.edit_message(embed=settings_embed(updated, capabilities),
                                                    view=settings_view(updated, capabilities, self.user_id))
        except Exception as error:
            await report_unexpected(interaction, error, "settings menu")


class Settings(Feature):
    """Your defaults."""

    dynamic_items = (SettingSelect,)

    @app_commands.command(name="settings", description="Your defaults for new songs: model, instrumental, voice")
    @app_commands.guild_only()
    async def settings(self, interaction: discord.Interaction[ChorusBot]) -> None:
        current = await self.bot.store.member_settings(interaction.guild_id or 0, interaction.user.id)
        capabilities = self.bot.provider.capabilities
        await send_ephemeral(interaction, embed=settings_embed(current, capabilities),
                             view=settings_view(current, capabilities, interaction.user.id))


def changed(settings: MemberSettings, field: str, value: str) -> MemberSettings:
    """``settings`` with one menu's choice applied."""
    if field == "model":
        return replace(settings, model=None if value == DEFAULT else value)
    if field == "instrumental":
        return replace(settings, instrumental=value == "on")
    return replace(settings, vocal_gender=value if value in VOICES else None)


def settings_embed(settings: MemberSettings, capabilities: Capabilities) -> discord.Embed:
    embed = discord.Embed(title="Your defaults", colour=discord.Colour.blurple())
    embed.description = ("Used by `/generate` and `/compose` for every option you leave out (an option you give "
                         "always wins). Change them with the menus below.")
    model = settings.model if settings.model in capabilities.models else None
    embed.add_field(name="Model", value=model_label(capabilities, model) if model
                    else f"the newest ({MODELS.get(capabilities.default_model, capabilities.default_model)})")
    embed.add_field(name="Songs", value="instrumental" if settings.instrumental else "with vocals")
    embed.add_field(name="Voice", value=VOICES.get(settings.vocal_gender or "", "any"))
    return embed


def settings_view(settings: MemberSettings, capabilities: Capabilities, user_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    models = [discord.SelectOption(label="The newest model", value=DEFAULT, default=settings.model is None)]
    models += [discord.SelectOption(label=model_label(capabilities, model), value=model,
                                    default=settings.model == model) for model in capabilities.models]
    view.add_item(SettingSelect("model", user_id, models, "Model"))
    view.add_item(SettingSelect("instrumental", user_id, [
        discord.SelectOption(label="Songs with vocals", value="off", default=not settings.instrumental),
        discord.SelectOption(label="Instrumentals", value="on", default=bool(settings.instrumental)),
    ], "Vocals"))
    view.add_item(SettingSelect("voice", user_id, [
        discord.SelectOption(label="Any voice", value=DEFAULT, default=settings.vocal_gender is None),
        *(discord.SelectOption(label=label, value=key, default=settings.vocal_gender == key)
          for key, label in VOICES.items()),
    ], "Voice"))
    return view


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Settings(bot))
