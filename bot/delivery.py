"""Everything the bot posts in Discord channels: the status message and the finished tracks.

Results are the bot's own channel messages (never interaction follow-ups): an interaction token dies after
15 minutes, and songs often take longer.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import aiohttp
import discord

from bot.formatting import format_clock, format_duration, shorten
from bot.models import MODELS, Task, TaskState, Track
from bot.providers.errors import error_for_code
from bot.store import Store
from bot.views import InfoButton

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
IMAGE_LIMIT = 8 * 1024 * 1024
AUDIO_SUFFIXES = {".mp3", ".wav", ".m4a", ".ogg", ".flac", ".aac"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
COLOR_PENDING = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()
COLOR_FAILED = discord.Colour.red()

STEPS = (
    (TaskState.QUEUED, "Queued"),
    (TaskState.TEXT, "Lyrics written"),
    (TaskState.FIRST, "First track ready"),
    (TaskState.SUCCEEDED, "Done"),
)


@dataclass(frozen=True)
class Download:
    data: bytes | None  # None when too large or unavailable: post a link instead
    filename: str
    size: int | None = None


class Delivery:
    """Posts and edits the bot's channel messages for a task."""

    def __init__(
        self,
        client: discord.Client,
        session: aiohttp.ClientSession,
        store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._session = session
        self._store = store
        self._clock = clock

    def _channel(self, task: Task) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)

    # ----- the status message -----------------------------------------------------------------------------

    async def post_status(self, task: Task) -> discord.Message:
        """Post the status message for a new task (raises discord.Forbidden if the bot may not post)."""
        return await self._channel(task).send(embed=status_embed(task, self._clock()))

    async def refresh_status(self, task: Task) -> None:
        """Edit the status message to show where ``task`` is now. A deleted status message is not an error."""
        if task.status_message_id is None:
            return
        message = self._channel(task).get_partial_message(task.status_message_id)
        try:
            await message.edit(embed=status_embed(task, self._clock()))
        except discord.NotFound:
            await self._store.set_status_message(task.id, None)
        except discord.HTTPException as error:
            log.warning("task %s: could not edit the status message: %s", task.id, error)

    async def delete_status(self, task: Task) -> None:
        if task.status_message_id is None:
            return
        try:
            await self._channel(task).get_partial_message(task.status_message_id).delete()
        except discord.HTTPException as error:
            log.info("task %s: could not delete the status message: %s", task.id, error)

    # ----- results ----------------------------------------------------------------------------------------

    async def deliver(self, task: Task) -> None:
        """Post a finished task's outcome in its channel, update the status message, mark it delivered."""
        if task.state is TaskState.SUCCEEDED:
            await self._post_tracks(task)
        else:
            await self._post_failure(task)
        await self.refresh_status(task)
        await self._store.mark_delivered(task.id)

    async def _post_tracks(self, task: Task) -> None:
        for position, track in enumerate(task.tracks):
            if track.message_id is not None:
                continue  # posted before a restart or a Discord error cut the delivery short
            audio = await self._download(track.audio_url, task.upload_limit, track_filename(track, position))
            cover = await self._download(track.image_url, min(IMAGE_LIMIT, task.upload_limit), f"cover-{position + 1}")
            try:
                message = await self._send_track(task, track, position, audio, cover)
            except discord.HTTPException as error:
                if error.status != 413:
                    raise
                # The server's upload limit is lower than the interaction said: post links instead.
                log.warning("task %s: upload refused as too large; posting links instead", task.id)
                message = await self._send_track(
                    task, track, position, Download(None, audio.filename, audio.size), Download(None, cover.filename)
                )
            await self._store.set_track_message(task.id, track.audio_id, message.id)

    async def _send_track(
        self, task: Task, track: Track, position: int, audio: Download, cover: Download
    ) -> discord.Message:
        view = discord.ui.View(timeout=None)
        view.add_item(InfoButton(task.id, position))
        first = position == 0
        return await self._channel(task).send(
            content=f"<@{task.user_id}> your song is ready!" if first else None,
            embed=track_embed(task, track, position, audio, cover),
            files=[discord.File(io.BytesIO(d.data), filename=d.filename) for d in (audio, cover) if d.data is not None],
            view=view,
            reference=self._reference(task) if first else None,
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(task.user_id)]),
        )

    async def _post_failure(self, task: Task) -> None:
        reason = failure_reason(task)
        summary = discord.utils.escape_markdown(shorten(task.request.summary, 300))
        await self._channel(task).send(
            content=f"<@{task.user_id}> your song \u201c{summary}\u201d could not be made: {reason}",
            reference=self._reference(task),
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(task.user_id)]),
        )

    def _reference(self, task: Task) -> discord.MessageReference | None:
        if task.status_message_id is None:
            return None
        return discord.MessageReference(
            message_id=task.status_message_id,
            channel_id=task.channel_id,
            guild_id=task.guild_id,
            fail_if_not_exists=False,
        )

    async def _download(self, url: str, limit: int, stem: str) -> Download:
        """Fetch ``url`` into memory if it fits in ``limit`` bytes; otherwise return a link-only Download."""
        filename = _filename(stem, url, None)
        if not url:
            return Download(None, filename)
        try:
            async with self._session.get(url) as response:
                if response.status != 200:
                    log.warning("download of a result file failed with HTTP %s", response.status)
                    return Download(None, filename)
                filename = _filename(stem, url, response.content_type)
                if response.content_length is not None and response.content_length > limit:
                    return Download(None, filename, response.content_length)
                data = bytearray()
                async for chunk in response.content.iter_chunked(256 * 1024):
                    data += chunk
                    if len(data) > limit:
                        return Download(None, filename, response.content_length)
                return Download(bytes(data), filename, len(data))
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("download of a result file failed: %r", error)
            return Download(None, filename)


# ----- rendering (pure functions) -----------------------------------------------------------------------------


def status_embed(task: Task, now: float) -> discord.Embed:
    """The status message: a checklist of stages, elapsed time, and the reason if it failed."""
    if task.state is TaskState.FAILED:
        colour = COLOR_FAILED
    elif task.state is TaskState.SUCCEEDED:
        colour = COLOR_DONE
    else:
        colour = COLOR_PENDING
    embed = discord.Embed(title=shorten(f"\U0001f3b5 {task.request.summary}", 256), colour=colour)
    embed.description = "\n".join(_status_lines(task))
    started = int(task.created_at)
    if task.state.terminal:
        took = (task.finished_at or now) - task.created_at
        embed.add_field(name="Time", value=f"took {format_duration(took)}")
    else:
        embed.add_field(name="Time", value=f"started <t:{started}:R>")
    embed.add_field(name="Requested by", value=f"<@{task.user_id}>")
    embed.add_field(name="Model", value=MODELS.get(task.request.model, task.request.model))
    embed.set_footer(text=f"Task #{task.id}")
    return embed


def _status_lines(task: Task) -> list[str]:
    if task.state is TaskState.SUBMITTING:
        return ["\u23f3 Sending to Suno\u2026"]
    lines = []
    failed = task.state is TaskState.FAILED
    reached = task.state.rank if not failed else _reached_rank(task)
    current_marked = False
    for state, label in STEPS:
        if state is TaskState.TEXT and task.request.instrumental:
            label = "Arrangement planned"
        if state.rank <= reached:
            text = f"\u2705 {label}"
            if state is TaskState.FIRST and (link := _listen_link(task)):
                text += f" \u2014 [listen]({link})"
            if state is TaskState.SUCCEEDED:
                text += f" \u2014 {len(task.tracks)} track{'s' if len(task.tracks) != 1 else ''} below"
            lines.append(text)
        elif failed:
            lines.append(f"\u274c Failed: {failure_reason(task)}")
            break
        elif not current_marked:
            lines.append(f"\u23f3 {label}\u2026")
            current_marked = True
        else:
            lines.append(f"\u25ab\ufe0f {label}")
    return lines


def _reached_rank(task: Task) -> int:
    """How far a failed task got before failing, judged from what it stored."""
    return TaskState.FIRST.rank if _listen_link(task) else TaskState.QUEUED.rank


def _listen_link(task: Task) -> str:
    for track in task.tracks:
        if track.stream_url or track.audio_url:
            return track.stream_url or track.audio_url
    return ""


def failure_reason(task: Task) -> str:
    """What to tell the member about a failed task."""
    if task.reason:
        return task.reason
    return error_for_code(task.error_code, task.error_message, failure=True).user_message


def track_embed(task: Task, track: Track, position: int, audio: Download, cover: Download) -> discord.Embed:
    title = track.title or task.request.title or "Untitled"
    embed = discord.Embed(title=shorten(title, 256), colour=COLOR_DONE)
    if track.tags:
        embed.description = shorten(discord.utils.escape_markdown(track.tags), 1000)
    if track.duration:
        embed.add_field(name="Duration", value=format_clock(track.duration))
    model = MODELS.get(task.request.model, task.request.model)
    embed.add_field(name="Model", value=f"{model} ({track.model_name})" if track.model_name else model)
    if audio.data is None and track.audio_url:
        embed.add_field(name="Audio", value=_audio_link(track, audio, task.upload_limit), inline=False)
    if cover.data is not None:
        embed.set_thumbnail(url=f"attachment://{cover.filename}")
    elif track.image_url:
        embed.set_thumbnail(url=track.image_url)
    embed.set_footer(text=f"Task #{task.id} \u00b7 track {position + 1} of {len(task.tracks)}")
    return embed


def _audio_link(track: Track, audio: Download, limit: int) -> str:
    if audio.size is None:
        return f"[Listen]({track.audio_url})"
    return (
        f"[Download ({audio.size / 1024 / 1024:.1f} MiB)]({track.audio_url}) \u2014 too large to upload here "
        f"(limit {limit / 1024 / 1024:.0f} MiB)"
    )


def track_filename(track: Track, position: int) -> str:
    """A safe file stem from the track title (extension added from the download)."""
    stem = re.sub(r"[^\w\- ]+", "", track.title or "").strip().replace(" ", "_")[:60]
    return stem or f"track-{position + 1}"


def _filename(stem: str, url: str, content_type: str | None) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix not in AUDIO_SUFFIXES | IMAGE_SUFFIXES:
        suffix = (mimetypes.guess_extension(content_type or "") or "") if content_type else ""
        suffix = {".jpe": ".jpg", ".mpga": ".mp3"}.get(suffix, suffix)
    return f"{stem}{suffix or '.bin'}"
