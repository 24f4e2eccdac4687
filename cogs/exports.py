"""/export and the WAV and Video buttons: a track as a WAV file or as a music video (MP4).
An export already made (or being made) for the same track is reused, never paid for twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    SourceTrack,
    any_track_autocomplete,
    resolve_track,
    start_task,
)
from bot.models import ExportRequest, Task, TaskKind
from bot.providers.errors import InputError
from bot.views import ActionHandler

if TYPE_CHECKING:
    from bot.core import ChorusBot

FORMAT_CHOICES = [
    app_commands.Choice(name="WAV (lossless audio)", value="wav"),
    app_commands.Choice(name="Music video (MP4)", value="video"),
]


class Exports(Feature):
    """Export songs."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"export": frozenset({TaskKind.WAV, TaskKind.VIDEO})}

    def buttons(self) -> dict[str, ActionHandler]:
        return {"wav": export_button("wav"), "video": export_button("video")}

    @app_commands.command(name="export", description="Get one of your tracks as a WAV file or a music video")
    @app_commands.describe(track="One of your tracks (start typing its title)", format="WAV or music video")
    @app_commands.autocomplete(track=any_track_autocomplete)
    @app_commands.choices(format=FORMAT_CHOICES)
    @app_commands.guild_only()
    async def export(self, interaction: discord.Interaction[ChorusBot], track: str, format: str) -> None:  # noqa: A002
        source = await resolve_track(interaction, track, sounds=True)
        await start_task(interaction, export_request(interaction, source, format))


def export_request(interaction: discord.Interaction[ChorusBot], source: SourceTrack, fmt: str) -> ExportRequest:
    if not source.task.provider_task_id:
        raise InputError("This track can't be exported: Suno's record of it is missing.")
    if fmt == "video" and source.task.task_kind is TaskKind.SOUND:
        raise InputError("Music videos are made of songs: a sound effect can be exported as a WAV.")
    author_limit = interaction.client.provider.capabilities.limits.video_author
    return ExportRequest(source_task_id=source.task.provider_task_id, audio_id=source.track.audio_id, format=fmt,
                         source_title=source.track.title, source_provider=source.task.provider,
                         source_expired=source.expired,
                         author=interaction.user.display_name[:author_limit] if fmt == "video" else "")


def export_button(fmt: str) -> ActionHandler:
    """The WAV or Video button under a track."""

    async def export(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None) -> None:
        if position >= len(task.tracks):
            raise InputError("I no longer have this track in my records.")
        await start_task(interaction, export_request(interaction, SourceTrack.of(interaction.client, task, position), fmt))

    return export


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Exports(bot))
