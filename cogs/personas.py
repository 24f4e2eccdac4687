"""/persona: voice personas made from a server's tracks (create, list, delete), and the ``persona`` option the
other commands share (autocomplete over the server's personas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import Feature, charged, check_here, resolve_track, track_autocomplete
from bot.formatting import member_text, shorten
from bot.models import Persona, TaskKind
from bot.permissions import is_staff
from bot.providers.base import PersonaSource
from bot.providers.errors import Conflict, InputError
from bot.replies import send_ephemeral
from bot.rules import check_text
from bot.store import NewPersona
from bot.store import Persona as StoredPersona

if TYPE_CHECKING:
    from bot.core import ChorusBot

WINDOW = (10.0, 30.0)  # the vocal window's length in seconds (contract §2.5)
SHOWN = 20


class Personas(Feature):
    """Voice personas."""

    persona = app_commands.Group(name="persona", description="Voice personas made from this server's tracks",
                                 allowed_contexts=app_commands.AppCommandContext(guild=True))

    def unoffered(self, offers: frozenset[TaskKind]) -> list[str]:
        return [] if "persona" in self.bot.provider.capabilities.tools else ["persona"]

    @persona.command(name="create", description="Make a voice persona from a window of one of your tracks")
    @app_commands.describe(
        track="One of your finished tracks (start typing its title)",
        name="The persona's name, e.g. \u201cVelvet\u201d",
        description="What the voice is like, e.g. \u201cwarm, breathy alto with a jazz phrasing\u201d",
        vocal_start="Where the voice to copy starts, in seconds (default 0)",
        vocal_end="Where it ends (10 to 30 s after the start; default 30 s after it)",
    )
    @app_commands.autocomplete(track=track_autocomplete)
    async def create(
        self,
        interaction: discord.Interaction[ChorusBot],
        track: str,
        name: app_commands.Range[str, 1, 80],
        description: app_commands.Range[str, 1, 500],
        vocal_start: app_commands.Range[float, 0.0, 480.0] = 0.0,
        vocal_end: app_commands.Range[float, 0.0, 480.0] | None = None,
    ) -> None:
        source = await resolve_track(interaction, track)
        length = source.track.duration
        end = vocal_end if vocal_end is not None else vocal_start + WINDOW[1]
        if vocal_end is None and length is not None and end > length >= vocal_start + WINDOW[0]:
            end = length  # the default window, cut to the track
        check_window(vocal_start, end, length)
        if source.expired or not source.task.provider_task_id:
            raise InputError("Suno deleted this track's files after 14 days, so it can't make a persona from it.")
        await check_text(self.bot.store, interaction.guild_id or 0, f"{name}\n{description}")
        bot = self.bot
        made = await bot.store.persona_of_track(bot.provider.name, source.track.audio_id)
        if made is not None and not made[1]:
            raise InputError(f"That track already has a persona, **{member_text(made[0].name, 80)}**: Suno makes "
                             "one per track. Nothing was spent.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        if made is not None:  # deleted here, but Suno keeps it: bring it back at no cost (the server's rules apply)
            await check_here(interaction)
            stored = await bot.store.restore_persona(made[0].id, interaction.user.id, name.strip(), description.strip())
        else:
            persona_source = PersonaSource(source.task.provider_task_id, source.track.audio_id, name, description,
                                           vocal_start, end)
            async with charged(interaction, "persona", f"persona \u201c{name}\u201d"):
                try:
                    await bot.dispatcher.tool_turn()
                    persona_id = await bot.provider.create_persona(persona_source)
                except Conflict:
                    raise InputError("That track already has a persona at Suno, made outside this server: Suno "
                                     "makes one per track. Nothing was spent.") from None
                stored = await bot.store.add_persona(NewPersona(
                    guild_id=interaction.guild_id or 0, user_id=interaction.user.id, provider=bot.provider.name,
                    provider_persona_id=persona_id, name=name.strip(), description=description.strip(),
                    task_id=source.task.id, audio_id=source.track.audio_id, model=source.task.request.model))
                if stored is None:
                    raise InputError("That track already has a persona (made a moment ago). Nothing was spent.")
        await send_ephemeral(interaction, f"\U0001f3a4 Made the persona **{member_text(name, 80)}** from "
                             f"\u201c{member_text(source.track.title or 'your track', 80)}\u201d. Anyone here can "
                             "sing with it: pick it as `persona` in /compose, /cover or /extend.")

    @persona.command(name="list", description="This server's voice personas, and who made them")
    async def list_personas(self, interaction: discord.Interaction[ChorusBot]) -> None:
        personas = await self.bot.store.personas(interaction.guild_id or 0, limit=SHOWN)
        embed = discord.Embed(title="\U0001f3a4 Voice personas", colour=discord.Colour.blurple())
        embed.description = shorten("\n".join(
            f"**{member_text(p.name, 80)}** by <@{p.user_id}> \u2014 {member_text(p.description, 120)}"
            for p in personas), 4000) or "None yet. Make one from a track with `/persona create`."
        await send_ephemeral(interaction, embed=embed)

    @persona.command(name="delete", description="Delete a persona (yours; moderators: any)")
    @app_commands.describe(persona="The persona (start typing its name)")
    async def delete(self, interaction: discord.Interaction[ChorusBot], persona: str) -> None:
        found = await stored_persona(interaction, persona)
        if found.user_id != interaction.user.id and not await is_staff(interaction, self.bot.store):
            raise InputError(f"The persona \u201c{found.name}\u201d is <@{found.user_id}>'s: only they (or a moderator) "
                             "can delete it.")
        await self.bot.store.delete_persona(found.id)
        await send_ephemeral(interaction, f"Deleted the persona **{member_text(found.name, 80)}**. Songs made with it "
                             "stay as they are.")

    @delete.autocomplete("persona")
    async def _delete_autocomplete(self, interaction: discord.Interaction[ChorusBot], current: str
                                   ) -> list[app_commands.Choice[str]]:
        return await persona_autocomplete(interaction, current)


def check_window(start: float, end: float, duration: float | None) -> None:
    low, high = WINDOW
    if not low <= end - start <= high:
        raise InputError(f"The voice window must be {low:g} to {high:g} seconds long; yours is {end - start:g} s.")
    if duration is not None and end > duration:
        raise InputError(f"The track is {duration:.0f} s long: the window must end by then.")


async def persona_autocomplete(interaction: discord.Interaction[ChorusBot], current: str
                               ) -> list[app_commands.Choice[str]]:
    """The server's personas by name and maker; the value is the persona's number."""
    personas = await interaction.client.store.personas(interaction.guild_id or 0, query=current.strip())
    return [app_commands.Choice(name=f"{p.name} \u00b7 {p.description}"[:100], value=str(p.id)) for p in personas]


async def stored_persona(interaction: discord.Interaction[ChorusBot], value: str) -> StoredPersona:
    found = await interaction.client.store.persona(int(value)) if value.strip().isdigit() else None
    if found is None or found.guild_id != interaction.guild_id:
        raise InputError("I can't find that persona in this server. Pick one from the list as you type.")
    return found


async def chosen_persona(interaction: discord.Interaction[ChorusBot], value: str | None) -> Persona | None:
    """The ``persona`` option of /compose, /cover and /extend, as the request carries it."""
    if value is None:
        return None
    found = await stored_persona(interaction, value)
    return Persona(found.provider_persona_id, found.name, found.provider)


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Personas(bot))
