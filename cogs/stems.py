"""/stems and the Stems button: split a track into vocals + instrumental, or into every instrument.
A separation already made (or being made) for the same track and mode is reused, never paid for twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    SourceTrack,
    resolve_track,
    start_task,
    track_autocomplete,
)
from bot.models import MidiRequest, StemsRequest, Task, TaskKind
from bot.providers.errors import InputError
from bot.replies import send_ephemeral
from bot.views import ActionHandler, ResultButton

if TYPE_CHECKING:
    from bot.core import ChorusBot

MODE_CHOICES = [
    app_commands.Choice(name="Vocals + instrumental", value="vocals"),
    app_commands.Choice(name="All stems (up to 12 instruments)", value="all"),
]


class Stems(Feature):
    """Separate songs."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"stems": frozenset({TaskKind.STEMS})}

    def buttons(self) -> dict[str, ActionHandler]:
        return {"stems": ask_mode, "stemsmode": separate_from_button, "midi": midi_from_button}

    @app_commands.command(name="stems", description="Split one of your tracks into stems")
    @app_commands.describe(track="One of your tracks (start typing its title)", mode="What to separate")
    @app_commands.autocomplete(track=track_autocomplete)
    @app_commands.choices(mode=MODE_CHOICES)
    @app_commands.guild_only()
    async def stems(self, interaction: discord.Interaction[ChorusBot], track: str, mode: str = "vocals") -> None:
        await start_task(interaction, stems_request(await resolve_track(interaction, track), mode))


def stems_request(source: SourceTrack, mode: str) -> StemsRequest:
    if not source.task.provider_task_id:
        raise InputError("This track can't be separated: Suno's record of it is missing.")
    return StemsRequest(source_task_id=source.task.provider_task_id, audio_id=source.track.audio_id, mode=mode,
                        source_title=source.track.title, source_provider=source.task.provider,
                        source_expired=source.expired)


async def ask_mode(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None) -> None:
    """The Stems button: which separation?"""
    if position >= len(task.tracks):
        raise InputError("I no longer have this track in my records.")
    view = discord.ui.View(timeout=None)
    for mode in ("vocals", "all"):
        view.add_item(ResultButton("stemsmode", task.id, position, mode))
    await send_ephemeral(interaction, "Which stems?", view=view)


async def separate_from_button(
    interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None
) -> None:
    if position >= len(task.tracks) or arg not in ("vocals", "all"):
        raise InputError("I no longer have this track in my records.")
    await start_task(interaction, stems_request(SourceTrack.of(interaction.client, task, position), arg))


async def midi_from_button(
    interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None
) -> None:
    """The MIDI button under a 12-stem separation: its notes as a .mid file (asked for once; posted again after)."""
    if task.task_kind is not TaskKind.STEMS or not task.provider_task_id:
        raise InputError("I no longer have this separation in my records.")
    title = getattr(task.request, "source_title", "")
    await start_task(interaction, MidiRequest(source_task_id=task.provider_task_id, source_title=title,
                                              source_provider=task.provider))


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Stems(bot))
