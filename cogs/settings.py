"""/settings: a member's own defaults (model, instrumental, voice, persona, and results by DM instead of in the
channel), shown and changed in one private panel.

/generate and /compose use them for every option the member leaves out (the persona: /compose). The panel's menus carry the member
and the setting in their custom ids, so they keep working after a restart."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.flows import Feature, model_label
from bot.formatting import member_text
from bot.models import MODELS
from bot.providers.base import Capabilities
from bot.replies import report_unexpected, send_ephemeral
from bot.store import MemberSettings, Persona

if TYPE_CHECKING:
    from bot.core import ChorusBot

DEFAULT = "default"
PERSONAS = 24  # a menu holds 25 choices: "No persona" and the newest 24
VOICES = {"m": "Male voice", "f": "Female voice"}


class SettingSelect(discord.ui.DynamicItem[discord.ui.Select[Any]],
                    template=r"chorus-settings:(?P<field>model|instrumental|voice|persona|results):(?P<user>[0-9]+)"):
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
            await interaction.response.edit_message(**await panel(interaction, updated))
        except Exception as error:
            await report_unexpected(interaction, error, "settings menu")


class Settings(Feature):
    """Your defaults."""

    dynamic_items = (SettingSelect,)

    @app_commands.command(name="settings", description="Your defaults: model, instrumental, voice, persona, private results")
    @app_commands.guild_only()
    async def settings(self, interaction: discord.Interaction[ChorusBot]) -> None:
        current = await self.bot.store.member_settings(interaction.guild_id or 0, interaction.user.id)
        await send_ephemeral(interaction, **await panel(interaction, current))


async def panel(interaction: discord.Interaction[ChorusBot], settings: MemberSettings) -> dict[str, Any]:
    """The panel's embed and menus for ``settings``."""
    capabilities = interaction.client.provider.capabilities
    personas = []
    if "persona" in capabilities.tools:
        personas = [p for p in await interaction.client.store.personas(interaction.guild_id or 0, limit=PERSONAS)
                    if p.provider == capabilities.name]
    return {"embed": settings_embed(settings, capabilities, personas),
            "view": settings_view(settings, capabilities, interaction.user.id, personas)}


def changed(settings: MemberSettings, field: str, value: str) -> MemberSettings:
    """``settings`` with one menu's choice applied."""
    if field == "model":
        return replace(settings, model=None if value == DEFAULT else value)
    if field == "instrumental":
        return replace(settings, instrumental=value == "on")
    if field == "persona":
        return replace(settings, persona=int(value) if value.isdigit() else None)
    if field == "results":
        return replace(settings, private_results=value == "dm")
    return replace(settings, vocal_gender=value if value in VOICES else None)


def settings_embed(settings: MemberSettings, capabilities: Capabilities,
                   personas: Sequence[Persona] = ()) -> discord.Embed:
    embed = discord.Embed(title="Your defaults", colour=discord.Colour.blurple())
    embed.description = ("Model, vocals and voice: `/generate` and `/compose` use them for every option you leave "
                         "out (an option you give always wins; the model: `/mashup` too); the persona: `/compose`; "
                         "results by DM: everything you ask for. Change them with the menus below.")
    model = settings.model if settings.model in capabilities.models else None
    embed.add_field(name="Model", value=model_label(capabilities, model) if model
                    else f"the newest ({MODELS.get(capabilities.default_model, capabilities.default_model)})")
    embed.add_field(name="Songs", value="instrumental" if settings.instrumental else "with vocals")
    embed.add_field(name="Voice", value=VOICES.get(settings.vocal_gender or "", "any"))
    embed.add_field(name="Results", value="by DM to you" if settings.private_results else "in the channel")
    if personas:
        name = next((p.name for p in personas if p.id == settings.persona), None)
        embed.add_field(name="Persona (/compose)", value=member_text(name, 80) if name else "none")
    return embed


def settings_view(settings: MemberSettings, capabilities: Capabilities, user_id: int,
                  personas: Sequence[Persona] = ()) -> discord.ui.View:
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
    view.add_item(SettingSelect("results", user_id, [
        discord.SelectOption(label="Results in the channel where I ask", value="channel",
                             default=not settings.private_results),
        discord.SelectOption(label="Results by DM to me (private)", value="dm", default=settings.private_results),
    ], "Results"))
    if personas:
        view.add_item(SettingSelect("persona", user_id, [
            discord.SelectOption(label="No persona", value=DEFAULT, default=settings.persona is None),
            *(discord.SelectOption(label=p.name[:100], value=str(p.id), default=settings.persona == p.id)
              for p in personas),
        ], "Persona"))
    return view


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Settings(bot))
