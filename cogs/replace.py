"""/replace and the Replace section button: one section of your track sung again with new lyrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    SourceTrack,
    refuse,
    resolve_track,
    start_task,
    track_autocomplete,
)
from bot.models import DEFAULT_MODEL, ReplaceRequest, Task, TaskKind
from bot.providers.base import TextLimits
from bot.providers.errors import InputError
from bot.replies import report_unexpected
from bot.views import ActionHandler
from cogs.generate import MODAL_TEXT_LIMIT

if TYPE_CHECKING:
    from bot.core import ChorusBot


class Replace(Feature):
    """Re-sing a section."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"replace": frozenset({TaskKind.REPLACE})}

    def buttons(self) -> dict[str, ActionHandler]:
        return {"replace": open_replace_modal}

    @app_commands.command(name="replace", description="Sing one section of your track again, with new lyrics")
    @app_commands.describe(
        track="One of your tracks (start typing its title)",
        start="Where the section starts, in seconds",
        end="Where it ends, in seconds (6 to 60 s after the start, at most half the track)",
        lyrics="The section's new lyrics",
        style="Style (default: the track's)",
        title="Title (default: the track's)",
    )
    @app_commands.autocomplete(track=track_autocomplete)
    @app_commands.guild_only()
    async def replace(
        self,
        interaction: discord.Interaction[ChorusBot],
        track: str,
        start: app_commands.Range[float, 0.0, 480.0],
        end: app_commands.Range[float, 0.0, 480.0],
        lyrics: str,
        style: str | None = None,
        title: str | None = None,
    ) -> None:
        source = await resolve_track(interaction, track)
        await start_task(interaction, replace_request(source, start, end, lyrics, style, title))


def replace_request(source: SourceTrack, start: float, end: float, lyrics: str, style: str | None = None,
                    title: str | None = None) -> ReplaceRequest:
    """Replace ``start``–``end`` of one of the member's tracks; style and title default to the track's."""
    if source.expired:
        raise InputError("Suno deleted this track's files after 14 days, so it can't sing a section of it again. "
                         "You can still cover or extend it.")
    if not source.task.provider_task_id:
        raise InputError("This track can't be edited: Suno's record of it is missing.")
    track = source.track
    return ReplaceRequest(
        source_task_id=source.task.provider_task_id, audio_id=track.audio_id, start=start, end=end,
        prompt=lyrics.strip(), style=(style or track.tags).strip(), title=(title or track.title).strip(),
        model=source.task.request.model or DEFAULT_MODEL, source_duration=track.duration,
        source_title=track.title, source_provider=source.task.provider,
    )


async def open_replace_modal(
    interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None
) -> None:
    """The Replace section button: a form prefilled with the track's style and title."""
    if position >= len(task.tracks):
        raise InputError("I no longer have this track in my records.")
    source = SourceTrack.of(interaction.client, task, position)
    draft = replace_request(source, 0.0, min(30.0, (source.track.duration or 60) / 2), "")
    await interaction.response.send_modal(ReplaceModal(source, draft, interaction.client.provider.capabilities.limits))


class ReplaceModal(discord.ui.Modal):
    def __init__(self, source: SourceTrack, draft: ReplaceRequest, limits: TextLimits) -> None:
        super().__init__(title="Replace a section")
        self.source = source
        self.limits = limits
        length = f" of {source.track.duration:.0f}" if source.track.duration else ""
        self.start = discord.ui.TextInput(label=f"From (seconds{length})", max_length=8, default=f"{draft.start:g}")
        self.end = discord.ui.TextInput(label="To (seconds; 6 to 60 s later)", max_length=8, default=f"{draft.end:g}")
        lyrics_limit = min(MODAL_TEXT_LIMIT, limits.lyrics_for(draft.model))
        self.lyrics = discord.ui.TextInput(label="New lyrics for the section", style=discord.TextStyle.paragraph,
                                           max_length=lyrics_limit, default=draft.prompt[:lyrics_limit] or None)
        self.style = discord.ui.TextInput(label="Style", style=discord.TextStyle.paragraph,
                                          max_length=limits.style_for(draft.model),
                                          default=draft.style[: limits.style_for(draft.model)] or None)
        self.song_title = discord.ui.TextInput(label="Title", max_length=limits.title,
                                               default=draft.title[: limits.title] or None)
        for item in (self.start, self.end, self.lyrics, self.style, self.song_title):
            self.add_item(item)

    def request(self) -> ReplaceRequest:
        try:
            start, end = (float(field.value.strip().rstrip("s")) for field in (self.start, self.end))
        except ValueError:
            raise InputError("Give the section's start and end in seconds, e.g. 30 and 45.") from None
        return replace_request(self.source, start, end, self.lyrics.value, self.style.value, self.song_title.value)

    async def on_submit(self, interaction: discord.Interaction[ChorusBot]) -> None:  # type: ignore[override]
        try:
            request = self.request()
        except InputError as error:
            await refuse(interaction, error.user_message)
            return
        await start_task(interaction, request, retry=lambda draft: ReplaceModal(self.source, draft, self.limits))

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: Exception) -> None:  # type: ignore[override]
        await report_unexpected(interaction, error, "replace form")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Replace(bot))
