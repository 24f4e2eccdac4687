"""/extend and the Extend button: continue one of your tracks, or an uploaded file."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    Model,
    SourceTrack,
    audio_upload,
    one_source,
    refuse,
    resolve_track,
    start_task,
    track_autocomplete,
)
from bot.models import (
    DEFAULT_MODEL,
    MODELS,
    ExtendRequest,
    Persona,
    Task,
    TaskKind,
    last_second,
)
from bot.providers.base import TextLimits, check_source
from bot.providers.errors import InputError
from bot.replies import report_unexpected
from bot.views import ActionHandler
from cogs.generate import MODAL_TEXT_LIMIT
from cogs.personas import chosen_persona, persona_autocomplete

if TYPE_CHECKING:
    from bot.core import ChorusBot

INSTRUMENTAL_MARK = "[instrumental]"


class Extend(Feature):
    """Continue songs."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"extend": frozenset({TaskKind.EXTEND, TaskKind.UPLOAD_EXTEND})}

    def buttons(self) -> dict[str, ActionHandler]:
        return {"extend": open_extend_modal}

    @app_commands.command(name="extend", description="Continue one of your tracks, or an audio file you upload")
    @app_commands.describe(
        track="One of your tracks (start typing its title)",
        audio="Or upload an audio file to continue (needs continue_at)",
        continue_at="Where the new part starts, in seconds (default: the end)",
        lyrics="Lyrics for the new part ([Instrumental] for none)",
        style="Style of the new part (default: the track's)",
        title="Title (default: the track's)",
        model="Suno model (default: the track's; Suno requires the same one)",
        persona="A voice persona of this server to sing the new part",
    )
    @app_commands.autocomplete(track=track_autocomplete, persona=persona_autocomplete)
    @app_commands.guild_only()
    async def extend(
        self,
        interaction: discord.Interaction[ChorusBot],
        track: str | None = None,
        audio: discord.Attachment | None = None,
        continue_at: app_commands.Range[float, 0.0, 480.0] | None = None,
        lyrics: str | None = None,
        style: str | None = None,
        title: str | None = None,
        model: Model | None = None,
        persona: str | None = None,
    ) -> None:
        one_source(track, audio)
        capabilities = self.bot.provider.capabilities
        voice = await chosen_persona(interaction, persona)
        if track is not None:
            source = await resolve_track(interaction, track)
            request = extend_track(source, capabilities.limits, continue_at=continue_at, lyrics=lyrics, style=style,
                                   title=title, model=model, persona=voice)
        else:
            assert audio is not None
            request = replace(extend_upload(audio, continue_at=continue_at, lyrics=lyrics, style=style, title=title,
                                            model=model or capabilities.default_model), persona=voice)
        await start_task(interaction, request)


def extend_track(
    source: SourceTrack,
    limits: TextLimits,
    *,
    continue_at: float | None = None,
    lyrics: str | None = None,
    style: str | None = None,
    title: str | None = None,
    model: str | None = None,
    persona: Persona | None = None,
) -> ExtendRequest:
    """Extend one of the member's tracks. Giving any of the start point, lyrics, style or title switches to
    new parameters (defaultParamFlag true), with the others taken from the track (contract §2.2). Once the
    provider has deleted the track (14 days), it is extended as an upload of our kept copy."""
    track = source.track
    source_model = source.task.request.model or DEFAULT_MODEL
    if model is not None and model != source_model:
        raise InputError(f"Suno can only extend a track with the model that made it ({MODELS.get(source_model, source_model)}).")
    custom = source.expired or persona is not None or any(
        value not in (None, "") for value in (continue_at, lyrics, style, title))
    prompt, instrumental = _lyrics(lyrics, getattr(source.task.request, "instrumental", False))
    request = ExtendRequest(
        audio_id=track.audio_id,
        source_title=track.title,
        source_duration=track.duration,
        model=source_model,
        instrumental=instrumental,
        prompt=prompt,
        source_provider=source.task.provider,
        persona=persona,
    )
    if not custom:
        return request
    end = last_second(track.duration)
    if source.expired:
        request = replace(request, audio_id="", upload_url=source.audio_url(), source_provider="")
    return replace(
        request,
        default_params=True,
        continue_at=continue_at if continue_at is not None else end,
        style=style if style else track.tags[: limits.style_for(source_model)],
        title=title if title else track.title[: limits.title],
    )


def extend_upload(
    audio: discord.Attachment,
    *,
    continue_at: float | None = None,
    lyrics: str | None = None,
    style: str | None = None,
    title: str | None = None,
    model: str = DEFAULT_MODEL,
) -> ExtendRequest:
    """Extend an uploaded file (upload-extend): where to continue is required; style or title mean new
    parameters, with the title defaulting to the file name."""
    url, file_title = audio_upload(audio)
    prompt, instrumental = _lyrics(lyrics, False)
    custom = bool(style or title)
    return ExtendRequest(
        upload_url=url,
        source_title=file_title,
        default_params=custom,
        continue_at=continue_at,
        prompt=prompt,
        style=style or "",
        title=(title or file_title) if custom else "",
        model=model,
        instrumental=instrumental,
    )


def _lyrics(lyrics: str | None, instrumental: bool) -> tuple[str, bool]:
    """The lyrics to send, and whether the new part is instrumental ("[Instrumental]" means no vocals)."""
    text = (lyrics or "").strip()
    if text.lower() == INSTRUMENTAL_MARK:
        return "", True
    return text, instrumental and not text


async def open_extend_modal(
    interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None
) -> None:
    """The Extend button: a form prefilled with the track's style and title."""
    if position >= len(task.tracks):
        raise InputError("I no longer have this track in my records.")
    source = SourceTrack.of(interaction.client, task, position)
    capabilities = interaction.client.provider.capabilities
    draft = extend_track(source, capabilities.limits)
    check_source(capabilities, draft)
    await interaction.response.send_modal(ExtendModal(source, draft, capabilities.limits))


class ExtendModal(discord.ui.Modal):
    def __init__(self, source: SourceTrack, draft: ExtendRequest, limits: TextLimits) -> None:
        super().__init__(title="Extend this track")
        self.source = source
        self.limits = limits
        track = source.track
        model = source.task.request.model or DEFAULT_MODEL
        end = f"{track.duration:.0f} s" if track.duration else "the end"
        self.continue_at = discord.ui.TextInput(
            label="Continue from (seconds)", required=False, max_length=8,
            default=f"{draft.continue_at:g}" if draft.default_params and draft.continue_at else None,
            placeholder=f"empty = from the end ({end})",
        )
        lyrics_limit = min(MODAL_TEXT_LIMIT, limits.lyrics_for(model))
        self.lyrics = discord.ui.TextInput(
            label="Lyrics for the new part", style=discord.TextStyle.paragraph, required=False,
            max_length=lyrics_limit, default=draft.prompt[:lyrics_limit] or None,
            placeholder="[Verse 3]\n…   ([Instrumental] for no vocals)",
        )
        self.style = discord.ui.TextInput(
            label="Style", style=discord.TextStyle.paragraph, required=False, max_length=limits.style_for(model),
            default=(draft.style or track.tags)[: limits.style_for(model)] or None,
        )
        self.song_title = discord.ui.TextInput(
            label="Title", required=False, max_length=limits.title,
            default=(draft.title or track.title)[: limits.title] or None,
        )
        for item in (self.continue_at, self.lyrics, self.style, self.song_title):
            self.add_item(item)

    def request(self) -> ExtendRequest:
        track = self.source.track
        raw = self.continue_at.value.strip().rstrip("s").strip()
        try:
            continue_at = float(raw) if raw else None
        except ValueError:
            raise InputError(f"\u201c{self.continue_at.value}\u201d isn't a number of seconds (e.g. 95).") from None
        # Unchanged style and title are not a request for new parameters.
        style = self.style.value.strip()
        title = self.song_title.value.strip()
        return extend_track(
            self.source,
            self.limits,
            continue_at=continue_at,
            lyrics=self.lyrics.value,
            style=style if style != track.tags.strip() else None,
            title=title if title != track.title.strip() else None,
        )

    async def on_submit(self, interaction: discord.Interaction[ChorusBot]) -> None:  # type: ignore[override]
        try:
            request = self.request()
        except InputError as error:
            draft = ExtendRequest(audio_id=self.source.track.audio_id, prompt=self.lyrics.value,
                                  style=self.style.value, title=self.song_title.value)
            await refuse(interaction, error.user_message, draft, self._retry)
            return
        await start_task(interaction, request, retry=self._retry)

    def _retry(self, draft: ExtendRequest) -> ExtendModal:
        return ExtendModal(self.source, draft, self.limits)

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: Exception) -> None:  # type: ignore[override]
        await report_unexpected(interaction, error, "extend form")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Extend(bot))
