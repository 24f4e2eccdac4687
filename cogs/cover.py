"""/cover and the Cover button: re-perform one of your tracks, or an uploaded file, in a new style."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    Model,
    SourceTrack,
    any_track_autocomplete,
    audio_upload,
    one_source,
    refuse,
    resolve_track,
    start_task,
)
from bot.models import DEFAULT_MODEL, CoverRequest, Task, TaskKind
from bot.providers.base import TextLimits
from bot.providers.errors import InputError
from bot.replies import report_unexpected
from bot.views import ActionHandler
from cogs.extend import INSTRUMENTAL_MARK
from cogs.generate import MODAL_TEXT_LIMIT
from cogs.personas import chosen_persona, persona_autocomplete

if TYPE_CHECKING:
    from bot.core import ChorusBot


TITLE_CUT = 80  # a default title taken from the source is cut to every provider's limit


class Cover(Feature):
    """Re-style songs."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"cover": frozenset({TaskKind.COVER})}

    def buttons(self) -> dict[str, ActionHandler]:
        return {"cover": open_cover_modal}

    @app_commands.command(name="cover", description="Re-perform one of your tracks, or an uploaded file, in a new style")
    @app_commands.describe(
        style="The new style, e.g. \u201cacoustic bossa nova, soft male vocals\u201d",
        track="One of your tracks (start typing its title)",
        audio="Or upload an audio file (up to 8 minutes)",
        title="Title (default: the track's or the file's)",
        lyrics="Lyrics to sing (default: the track's own)",
        instrumental="No vocals (default: off)",
        model="Suno model (default: the newest)",
        persona="A voice persona of this server to sing with",
    )
    @app_commands.autocomplete(track=any_track_autocomplete, persona=persona_autocomplete)
    @app_commands.guild_only()
    async def cover(
        self,
        interaction: discord.Interaction[ChorusBot],
        style: app_commands.Range[str, 1, 1000],
        track: str | None = None,
        audio: discord.Attachment | None = None,
        title: str | None = None,
        lyrics: str | None = None,
        instrumental: bool = False,
        model: Model | None = None,
        persona: str | None = None,
    ) -> None:
        one_source(track, audio)
        model = model or self.bot.provider.capabilities.default_model
        if track is not None:
            source = await resolve_track(interaction, track, sounds=True)  # a song can be made from a sound
            request = cover_track(source, style=style, title=title, lyrics=lyrics, instrumental=instrumental,
                                  model=model)
        else:
            assert audio is not None
            request = cover_upload(audio, style=style, title=title, lyrics=lyrics, instrumental=instrumental,
                                   model=model)
        await start_task(interaction, replace(request, persona=await chosen_persona(interaction, persona)))


def cover_track(
    source: SourceTrack,
    *,
    style: str,
    title: str | None = None,
    lyrics: str | None = None,
    instrumental: bool = False,
    model: str = DEFAULT_MODEL,
) -> CoverRequest:
    """A cover of a generated track: its audio URL is the source (our kept copy once the provider deleted
    it), its lyrics and title the defaults."""
    track = source.track
    if not track.audio_url and not source.expired:
        raise InputError("Suno no longer has this track's audio (files are kept for 14 days).")
    upload_url = source.audio_url()
    sung = (lyrics if lyrics is not None else track.lyrics).strip()
    if sung.lower() == INSTRUMENTAL_MARK or not sung:
        instrumental = True
    return CoverRequest(
        upload_url=upload_url,
        # Once the provider deleted the track, its ids name nothing: only our copy's link is the source.
        source_audio_id="" if source.expired else track.audio_id,
        source_provider="" if source.expired else source.task.provider,
        source_title=track.title,
        style=style.strip(),
        title=title or (track.title or "Cover")[:TITLE_CUT],
        prompt="" if instrumental else sung,
        instrumental=instrumental,
        model=model,
    )


def cover_upload(
    audio: discord.Attachment,
    *,
    style: str,
    title: str | None = None,
    lyrics: str | None = None,
    instrumental: bool = False,
    model: str = DEFAULT_MODEL,
) -> CoverRequest:
    """A cover of an uploaded file. With lyrics it is custom mode (style, title, lyrics); without, the style
    text is the description Suno follows (simple mode, ≤ 500 characters)."""
    url, file_title = audio_upload(audio)
    sung = (lyrics or "").strip()
    if sung.lower() == INSTRUMENTAL_MARK:
        sung, instrumental = "", True
    custom = bool(sung) or instrumental
    return CoverRequest(
        upload_url=url,
        source_title=file_title,
        custom_mode=custom,
        style=style.strip() if custom else "",
        title=(title or file_title) if custom else "",
        prompt=sung if custom else style.strip(),
        instrumental=instrumental,
        model=model,
    )


async def open_cover_modal(
    interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None
) -> None:
    """The Cover button: a form for the new style, prefilled with the track's title and lyrics."""
    if position >= len(task.tracks):
        raise InputError("I no longer have this track in my records.")
    source = SourceTrack.of(interaction.client, task, position)
    track = source.track
    capabilities = interaction.client.provider.capabilities
    draft = CoverRequest(upload_url=source.audio_url(), source_audio_id=track.audio_id, source_title=track.title,
                         title=track.title, prompt=track.lyrics, model=capabilities.default_model)
    await interaction.response.send_modal(CoverModal(source, draft, capabilities.limits))


class CoverModal(discord.ui.Modal):
    def __init__(self, source: SourceTrack, draft: CoverRequest, limits: TextLimits) -> None:
        super().__init__(title="Cover this track")
        self.source = source
        self.model = model = draft.model
        self.limits = limits
        self.style = discord.ui.TextInput(
            label="New style", style=discord.TextStyle.paragraph, max_length=limits.style_for(model),
            default=draft.style[: limits.style_for(model)] or None,
            placeholder="acoustic bossa nova, soft male vocals",
        )
        self.song_title = discord.ui.TextInput(label="Title", max_length=limits.title,
                                               default=draft.title[: limits.title] or None)
        lyrics_limit = min(MODAL_TEXT_LIMIT, limits.lyrics_for(model))
        self.lyrics = discord.ui.TextInput(
            label="Lyrics (empty for an instrumental cover)", style=discord.TextStyle.paragraph, required=False,
            max_length=lyrics_limit, default=draft.prompt[:lyrics_limit] or None,
        )
        for item in (self.style, self.song_title, self.lyrics):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[ChorusBot]) -> None:  # type: ignore[override]
        try:
            request = cover_track(self.source, style=self.style.value, title=self.song_title.value,
                                  lyrics=self.lyrics.value.strip() or INSTRUMENTAL_MARK, model=self.model)
        except InputError as error:
            await refuse(interaction, error.user_message)
            return
        await start_task(interaction, request, retry=lambda draft: CoverModal(self.source, draft, self.limits))

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: Exception) -> None:  # type: ignore[override]
        await report_unexpected(interaction, error, "cover form")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Cover(bot))
