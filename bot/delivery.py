"""Everything the bot posts in Discord channels: status messages and results (tracks, lyrics, files).

Results are the bot's own channel messages (never interaction follow-ups): an interaction token dies after
15 minutes, and songs often take longer. Every result file is kept in the media store (bot/media.py) as it is
fetched, and posted from there: attached when it fits the server's upload limit, otherwise as a signed link to
the bot's copy (bot/links.py), never as an upload that would fail. The copy outlives the provider's 14 days.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import logging
import mimetypes
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO
from urllib.parse import urlsplit

import aiohttp
import discord

from bot.fetch import Fetcher, FetchRefused
from bot.formatting import format_clock, format_duration, member_text, shorten
from bot.links import Links
from bot.media import DAY, Kept, MediaStore, Owner
from bot.midi import write_midi
from bot.models import (
    MODELS,
    Lyrics,
    Place,
    ResultFile,
    SoundRequest,
    Task,
    TaskKind,
    TaskState,
    Track,
    key_name,
)
from bot.providers.errors import error_for_code
from bot.redaction import describe
from bot.store import Store
from bot.views import single_button_view, track_view

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_UPLOAD_LIMIT = 10 * MiB
IMAGE_LIMIT = 8 * MiB
REQUEST_BODY_LIMIT = 25 * MiB  # Discord's limit for a whole message with its files
DELIVERY_SLOTS = 4  # deliveries downloading and uploading at once (the rest wait their turn)
CHUNK = 256 * 1024
SPOOL_MEMORY = 1 * MiB  # a file the media store cannot keep waits for its upload on disk beyond this
PROVIDER_KEEPS = 14 * DAY  # the provider deletes its files after this (contract §5.3; 15 days on sunoapi.org)
SOURCE_LINK_DAYS = 1.0  # a kept copy's link given to the provider as a source is fetched at once
FILES_PER_MESSAGE = 10
EMBED_TEXT_LIMIT = 4000
AUDIO_SUFFIXES = {".mp3", ".wav", ".m4a", ".ogg", ".flac", ".aac"}
FILE_SUFFIXES = AUDIO_SUFFIXES | {".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".mov", ".webm"}
LIKES_FIELD = "\u2b50 Likes"
COLOR_PENDING = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()
COLOR_FAILED = discord.Colour.red()

MUSIC_STEPS = (
    (TaskState.QUEUED, "Queued"),
    (TaskState.TEXT, "Lyrics written"),
    (TaskState.FIRST, "First track ready"),
    (TaskState.SUCCEEDED, "Done"),
)
SIMPLE_STEPS = ((TaskState.QUEUED, "Queued"), (TaskState.SUCCEEDED, "Done"))
UNSURE_NOTE = (
    "\u2753 Suno didn't answer when this was sent, so it may or may not have started. Waiting up to 15 minutes "
    "for it to report back; if it doesn't, the credits come back."
)
READY = {
    TaskKind.LYRICS: "your lyrics are ready",
    TaskKind.STEMS: "your stems are ready",
    TaskKind.WAV: "your WAV is ready",
    TaskKind.VIDEO: "your music video is ready",
    TaskKind.ART: "your cover art is ready",
    TaskKind.MIDI: "your MIDI is ready",
    TaskKind.SOUND: "your sound is ready",
}


@dataclass(frozen=True)
class Destination:
    """Where a result goes: a channel, the member to mention, the upload limit, the message to reply to."""

    guild_id: int | None
    channel_id: int
    user_id: int
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    reply_to: int | None = None

    @classmethod
    def of(cls, task: Task) -> Destination:
        guild = None if task.private else task.guild_id  # a DM: no server in its links or references
        return cls(guild, task.channel_id, task.user_id, task.upload_limit, task.status_message_id)

    def reference(self) -> discord.MessageReference | None:
        if self.reply_to is None:
            return None
        return discord.MessageReference(message_id=self.reply_to, channel_id=self.channel_id,
                                        guild_id=self.guild_id, fail_if_not_exists=False)

    def mention(self) -> discord.AllowedMentions:
        return discord.AllowedMentions(users=[discord.Object(self.user_id)])


@dataclass(frozen=True)
class Download:
    """A result file ready to post: ``body`` is the kept copy, opened for upload (streamed from disk, never
    whole in memory). ``body`` None: too large to upload here, or unavailable; ``link`` is where a member can
    get it then (None: nowhere). ``refused``: not at a public address (neither fetched nor linked)."""

    body: IO[bytes] | None
    filename: str
    size: int | None = None
    too_large: bool = False
    refused: bool = False
    link: str | None = None

    @property
    def fetched(self) -> bool:
        return self.body is not None

    def file(self) -> discord.File:
        """An attachment streamed from the spooled copy (discord.py rewinds it itself on a retry)."""
        assert self.body is not None
        self.body.seek(0)
        return discord.File(self.body, filename=self.filename)

    def close(self) -> None:
        if self.body is not None:
            self.body.close()


def close_all(downloads: Iterable[Download]) -> None:
    for download in downloads:
        download.close()


class Delivery:
    """Posts and edits the bot's channel messages for a task."""

    def __init__(
        self,
        client: discord.Client,
        fetcher: Fetcher,
        store: Store,
        media: MediaStore,
        links: Links,
        *,
        offers: Collection[str] = frozenset(TaskKind),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._fetcher = fetcher
        self._store = store
        self._media = media
        self._links = links
        self._offers = offers  # the operations the provider offers: only their buttons are shown
        self._clock = clock
        self._slots = asyncio.Semaphore(DELIVERY_SLOTS)
        self._channel_locks: dict[int, tuple[asyncio.Lock, int]] = {}

    def _channel(self, destination: Destination) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(destination.channel_id, guild_id=destination.guild_id)

    # ----- the status message -----------------------------------------------------------------------------

    async def post_status(self, task: Task) -> discord.Message:
        """Post the status message for a new task (raises discord.Forbidden if the bot may not post)."""
        return await self._channel(Destination.of(task)).send(embed=status_embed(task, self._clock()))

    def listen_link(self, task: Task) -> str | None:
        """Where to hear a song while it is made and after: the kept copy of its first track (copies exist
        once a finished song is posted, so the store is not looked at before), else the provider's stream or
        file while the provider still has it."""
        for position, track in enumerate(task.tracks):
            url = track.stream_url or track.audio_url
            link = self.file_link(task, audio_slot(position), url) if task.state is TaskState.SUCCEEDED \
                else self.provider_link(task, url)
            if link:
                return link
        return None

    def provider_link(self, task: Task, url: str) -> str | None:
        """A provider's file as a member may open it: only while the provider keeps it (14 days)."""
        return self._links.outward(url) if self.provider_has(task) else None

    def _best_link(self, task: Task, slot: str, url: str) -> tuple[str, float | None] | None:
        """The best link to one of a task's files, and when it stops working (None: as long as the copy is
        kept): our copy, else the provider's while it lasts; None when there is neither."""
        if kept := self.kept_link(task, slot):
            return kept, self._links.expires_at()
        if link := self.provider_link(task, url):
            return link, task.created_at + PROVIDER_KEEPS
        return None

    def kept_link(self, task: Task, slot: str) -> str | None:
        """A signed link to the kept copy of one of a task's files (None: no copy, or no PUBLIC_BASE_URL)."""
        return self._links.kept(self._media.find(Owner.of(task), slot))

    def kept_karaoke(self, task: Task, position: int) -> str | None:
        """A track's .lrc, made before."""
        kept = self._media.find(Owner.of(task), karaoke_slot(position))
        return kept.path.read_text(encoding="utf-8") if kept is not None else None

    async def keep_karaoke(self, task: Task, position: int, text: str) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield text.encode()

        await self._media.keep(Owner.of(task), karaoke_slot(position), f"{track_filename(task.tracks[position], position)}.lrc",
                               chunks())

    def has_copy(self, task: Task, slot: str) -> bool:
        return self._media.find(Owner.of(task), slot) is not None

    def source_link(self, task: Task, slot: str) -> str | None:
        """A link to a kept copy for the provider to fetch now (a source): it expires in a day."""
        return self._links.kept(self._media.find(Owner.of(task), slot), days=SOURCE_LINK_DAYS)

    def file_link(self, task: Task, slot: str, url: str) -> str | None:
        """The best link to one of a task's files: our copy, else the provider's while it lasts."""
        found = self._best_link(task, slot, url)
        return found[0] if found else None

    def track_links(self, task: Task, position: int) -> tuple[list[tuple[str, str]], float | None]:
        """Links to a track's audio and cover (the Info button), and when the first of them stops working
        (None: they last as long as the copies are kept)."""
        track = task.tracks[position]
        return self._links_to(task, [("Audio", audio_slot(position), track.audio_url or track.stream_url),
                                     ("Cover", cover_slot(position), track.image_url)])

    def _links_to(self, task: Task, files: Iterable[tuple[str, str, str]]) -> tuple[list[tuple[str, str]], float | None]:
        """(name, link) for each of ``files`` (name, slot, provider URL) that has one, and when the first
        link stops working."""
        links, ends = [], []
        for name, slot, url in files:
            if found := self._best_link(task, slot, url):
                links.append((name, found[0]))
                ends += [found[1]] if found[1] is not None else []
        return links, min(ends, default=None)

    def provider_has(self, task: Task) -> bool:
        """Whether the provider still keeps the task's files (and knows its ids)."""
        return self._clock() - task.created_at < PROVIDER_KEEPS

    async def refresh_status(self, task: Task, *, place: Place | None = None) -> None:
        """Edit the status message to show where ``task`` is now (and its ``place`` in line while it waits).
        A deleted status message is not an error."""
        if task.status_message_id is None:
            return
        message = self._channel(Destination.of(task)).get_partial_message(task.status_message_id)
        try:
            # While it waits its turn it can be cancelled; once sent, the button goes (the provider has no cancel).
            waiting = task.state is TaskState.WAITING and place is not None
            await message.edit(embed=status_embed(task, self._clock(), place, self.listen_link(task)),
                               view=single_button_view("cancel", task.id) if waiting else None)
        except discord.NotFound:
            await self._store.set_status_message(task.id, None)
        except discord.HTTPException as error:
            log.warning("task %s: could not edit the status message: %s", task.id, error)

    async def delete_result(self, task: Task) -> None:
        """Remove a result's messages (its tracks and its status message) and its kept copies. A message
        already gone is not an error."""
        channel = self._channel(Destination.of(task))
        for message_id in [track.message_id for track in task.tracks] + [task.status_message_id]:
            if message_id is None:
                continue
            try:
                await channel.get_partial_message(message_id).delete()
            except discord.NotFound:
                pass
            except discord.HTTPException as error:
                log.warning("task %s: could not delete message %s: %s", task.id, message_id, error)
        await self._media.forget(Owner.of(task))

    async def delete_status(self, task: Task) -> None:
        if task.status_message_id is None:
            return
        try:
            await self._channel(Destination.of(task)).get_partial_message(task.status_message_id).delete()
        except discord.HTTPException as error:
            log.info("task %s: could not delete the status message: %s", task.id, error)

    # ----- results ----------------------------------------------------------------------------------------

    async def deliver(self, task: Task) -> None:
        """Post a finished task's outcome in its channel, update the status message, mark it delivered.
        What was already posted (before a restart or a Discord error cut a delivery short) is not re-posted,
        and every result message carries a nonce, so one cut short between Discord's answer and the database
        is not posted twice. At most DELIVERY_SLOTS deliveries download and upload at once, and one at a time
        per channel, so discord.py learns the channel's rate limit from the first answer and waits instead of
        a burst of 429s.

        If the channel is gone or closed to the bot (404, 403), the result is kept, marked unposted, and the
        member is told by DM, or at their next command if DMs are closed: never retried in a loop."""
        async with self._channel_turn(task.channel_id), self._slots:
            try:
                await self._deliver(task)
            except (discord.NotFound, discord.Forbidden) as error:
                why = ("the channel was deleted" if isinstance(error, discord.NotFound)
                       else "I'm no longer allowed to post there")
                log.warning("task %s: cannot post in channel %s (%s): kept for the member", task.id,
                            task.channel_id, error)
                await self._store.mark_unposted(task.id, why)
                task.unposted = why
                try:
                    await self.keep_all(task)  # so the member's links work for as long as it is kept
                except Exception:
                    log.exception("task %s: could not keep its files", task.id)
                if await self._tell_privately(task):
                    await self._store.mark_told(task.id)

    @contextlib.asynccontextmanager
    async def _channel_turn(self, channel_id: int) -> AsyncIterator[None]:
        """One delivery at a time per channel (the lock is dropped when nobody holds or awaits it)."""
        lock, users = self._channel_locks.get(channel_id, (asyncio.Lock(), 0))
        self._channel_locks[channel_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._channel_locks[channel_id]
            if users == 1:
                del self._channel_locks[channel_id]
            else:
                self._channel_locks[channel_id] = (lock, users - 1)

    async def _deliver(self, task: Task) -> None:
        destination = Destination.of(task)
        if task.state is TaskState.FAILED:
            await self._post_failure(task, destination)
        elif task.task_kind.makes_music:
            for position, track in enumerate(task.tracks):
                if track.message_id is None:
                    first = position == 0
                    message = await self.post_track(
                        task, position, destination,
                        content=f"<@{destination.user_id}> {READY.get(task.task_kind, 'your song is ready')}!"
                        if first else None, reply=first,
                        nonce=part_nonce(task, position),
                    )
                    await self._store.set_track_message(task.id, track.audio_id, message.id)
        elif task.task_kind is TaskKind.LYRICS:
            await self._post_lyrics(task, destination)
        else:
            await self.post_files(task, destination, resume=True)
        await self.refresh_status(task)
        await self._store.mark_delivered(task.id)

    async def _tell_privately(self, task: Task) -> bool:
        """DM the member about a result that could not be posted; False if their DMs are closed."""
        try:
            channel = await self._client.create_dm(discord.Object(task.user_id))
            await channel.send(content=self.unposted_notice(task), nonce=part_nonce(task, 99))
        except discord.HTTPException as error:
            log.info("task %s: could not DM the member (%s); they are told at their next command", task.id, error)
            return False
        return True

    def unposted_notice(self, task: Task) -> str:
        """What a member is told about a result that could not be posted (links only where they may go)."""
        files = [(member_text(track.title or "Track", 80), audio_slot(n), track.audio_url)
                 for n, track in enumerate(task.tracks)]
        files += [(file.name, file_slot(n), file.url) for n, file in enumerate(task.files)]
        return unposted_notice(task, *self._links_to(task, files))

    async def post_track(
        self,
        task: Task,
        position: int,
        destination: Destination,
        *,
        content: str | None,
        reply: bool = False,
        nonce: str | None = None,
        likes: int = 0,
    ) -> discord.Message:
        """One track: its audio (or a link when too large), an embed with the cover, and its buttons."""
        track = task.tracks[position]
        return await self.post_audio(
            destination, task, position,
            embed=lambda audio, cover: track_embed(task, track, position, audio, cover, destination.upload_limit,
                                                   likes),
            view=track_view(task, position, self._offers, likes=likes),
            content=content, reply=reply, nonce=nonce,
        )

    async def post_audio(
        self,
        destination: Destination,
        task: Task,
        position: int,
        *,
        embed: Callable[[Download, Download], discord.Embed],
        view: discord.ui.View | None,
        content: str | None = None,
        reply: bool = False,
        nonce: str | None = None,
    ) -> discord.Message:
        """A track's audio and cover as attachments (links when too large), with an embed built for them.
        A ``nonce`` makes the post idempotent: sent again (after a restart cut it short), Discord returns the
        message it already made instead of a second one."""
        track = task.tracks[position]
        audio = await self._file(task, audio_slot(position), track.audio_url, destination.upload_limit,
                                 track_filename(track, position))
        try:
            cover = await self.download_cover(task, position, min(IMAGE_LIMIT, destination.upload_limit))
        except BaseException:
            audio.close()
            raise
        channel = self._channel(destination)

        async def send(audio: Download, cover: Download) -> discord.Message:
            return await channel.send(
                content=content,
                embed=embed(audio, cover),
                files=[d.file() for d in (audio, cover) if d.fetched],
                view=view or discord.utils.MISSING,
                reference=destination.reference() if reply else None,
                allowed_mentions=destination.mention(),
                nonce=nonce,
            )

        try:
            return await send(audio, cover)
        except discord.HTTPException as error:
            if error.status != 413:
                raise
            # The server's upload limit is lower than the interaction said: post links instead.
            log.warning("channel %s: upload refused as too large; posting links instead", destination.channel_id)
            return await send(_as_link(audio), _as_link(cover))
        finally:
            close_all((audio, cover))

    async def download_cover(self, task: Task, position: int, limit: int = IMAGE_LIMIT,
                             stem: str | None = None) -> Download:
        """A track's cover picture to attach (e.g. to results)."""
        return await self._file(task, cover_slot(position), task.tracks[position].image_url, limit,
                                stem or f"cover-{position + 1}")

    def has_audio(self, task: Task, position: int) -> bool:
        """Whether a track's audio can still be posted: kept, or the provider still has it."""
        return self.provider_has(task) or self.has_copy(task, audio_slot(position))

    def _song_button(self, task: Task, index: int) -> discord.ui.View:
        """"Make a song" under lyrics, when the provider makes songs from lyrics."""
        if TaskKind.COMPOSE not in self._offers:
            return discord.utils.MISSING
        return single_button_view("song", task.id, index)

    async def _post_lyrics(self, task: Task, destination: Destination) -> None:
        channel = self._channel(destination)
        for index, variant in enumerate(task.lyrics):
            if index < task.posted_parts:
                continue
            embed, attachment = lyrics_embed(task, variant, index)
            first = index == 0
            await channel.send(
                content=f"<@{destination.user_id}> {READY[TaskKind.LYRICS]}!" if first else None,
                embed=embed,
                files=[attachment] if attachment else [],
                view=self._song_button(task, index),
                reference=destination.reference() if first else None,
                allowed_mentions=destination.mention(),
                nonce=part_nonce(task, index),
            )
            await self._store.set_posted_parts(task.id, index + 1)

    async def post_files(self, task: Task, destination: Destination, *, resume: bool = False) -> int:
        """Stems, a WAV or a video: uploads in as many messages as needed (≤ 10 files and ≤ 25 MiB each),
        downloaded one batch at a time; files over the upload limit are links in the last message's listing.
        With ``resume``, messages already posted for ``task`` are skipped. Returns the first message's id.
        A MIDI result is one .mid file made from the notes; a 12-stem separation's last message carries a MIDI
        button."""
        if task.task_kind is TaskKind.MIDI:
            return await self._post_midi(task, destination, resume=resume)
        title = getattr(task.request, "source_title", "") or "track"
        channel = self._channel(destination)
        posted: list[discord.Message | None] = []  # None: posted before the delivery was cut short
        uploaded: list[Download] = []
        linked: list[tuple[ResultFile, Download]] = []
        batch: list[Download] = []

        async def send(last: bool) -> None:
            index = len(posted)
            skip = resume and index < task.posted_parts
            try:
                message = None if skip else await channel.send(
                    content=f"<@{destination.user_id}> {READY[task.task_kind]}!" if index == 0 else None,
                    embed=files_embed(task, uploaded, linked, destination.upload_limit) if last else None,
                    files=[d.file() for d in batch],
                    view=self._midi_button(task) if last else discord.utils.MISSING,
                    reference=destination.reference() if index == 0 else None,
                    allowed_mentions=destination.mention(),
                    nonce=part_nonce(task, index) if resume else None,
                )
            finally:
                close_all(batch)
            posted.append(message)
            if message is not None and resume:
                await self._store.set_posted_parts(task.id, index + 1)
            batch.clear()

        for n, file in enumerate(task.files):
            download = await self._file(task, file_slot(n), file.url, destination.upload_limit, file_stem(title, file))
            if not download.fetched:
                linked.append((file, download))
                continue
            if batch and (len(batch) == FILES_PER_MESSAGE or _size(batch) + (download.size or 0) > REQUEST_BODY_LIMIT):
                await send(last=False)
            batch.append(download)
            uploaded.append(download)
        await send(last=True)
        return next((message.id for message in posted if message is not None), 0)

    def _midi_button(self, task: Task) -> discord.ui.View:
        """"MIDI" under a finished 12-stem separation, when the provider writes MIDI."""
        if task.task_kind is not TaskKind.STEMS or getattr(task.request, "mode", "") != "all" \
                or TaskKind.MIDI not in self._offers or task.private:
            return discord.utils.MISSING
        return single_button_view("midi", task.id)

    async def _post_midi(self, task: Task, destination: Destination, *, resume: bool) -> int:
        """The notes as one Standard MIDI File (a track per instrument), kept with the task's other files."""
        title = getattr(task.request, "source_title", "") or "stems"
        data = write_midi(task.midi)
        name = f"{_safe(title) or 'stems'}.mid"
        if self._media.find(Owner.of(task), file_slot(0)) is None:
            await self._media.keep(Owner.of(task), file_slot(0), name, _once(data))
        if resume and task.posted_parts:
            return 0
        instruments = ", ".join(member_text(str(item.get("name") or "?"), 40) for item in task.midi)
        embed = discord.Embed(title=member_text(task.request.summary, 256), colour=COLOR_DONE,
                              description=shorten(f"\U0001f3b9 {len(task.midi)} instruments: {instruments}", 1000))
        embed.set_footer(text=f"Task #{task.id} \u00b7 open the .mid in any DAW or notation app")
        message = await self._channel(destination).send(
            content=f"<@{destination.user_id}> {READY[TaskKind.MIDI]}!", embed=embed,
            files=[discord.File(io.BytesIO(data), filename=name)], reference=destination.reference(),
            allowed_mentions=destination.mention(), nonce=part_nonce(task, 0) if resume else None,
        )
        if resume:
            await self._store.set_posted_parts(task.id, 1)
        return message.id

    async def _post_failure(self, task: Task, destination: Destination) -> None:
        reason = failure_reason(task)
        summary = member_text(task.request.summary, 300)
        await self._channel(destination).send(
            content=f"<@{destination.user_id}> \u201c{summary}\u201d could not be made: {reason}",
            reference=destination.reference(),
            allowed_mentions=destination.mention(),
            nonce=part_nonce(task, 0),
        )

    async def _file(self, task: Task, slot: str, url: str, limit: int, stem: str) -> Download:
        """One of a task's files: the kept copy (fetched from ``url`` and kept first when there is none yet),
        opened for upload when it fits in ``limit`` bytes, otherwise linked. When the media store cannot keep
        it (a full disk), it is fetched for this upload alone, as before there was a store. The caller closes
        it."""
        kept, outcome = await self._kept(task, slot, url, stem)
        if kept is None:
            if outcome is Fetch.NOT_KEPT:
                return await self._spooled(task, url, limit, stem)
            link = None if outcome is Fetch.REFUSED else self.provider_link(task, url)
            return Download(None, _filename(stem, url, None), refused=outcome is Fetch.REFUSED, link=link)
        link = self._links.kept(kept) or self.provider_link(task, url)
        filename = f"{stem}{kept.path.suffix}"  # unique in its message (a kept cover is "cover-1" in each task)
        if kept.size > limit:
            return Download(None, filename, kept.size, too_large=True, link=link)
        return Download(open(kept.path, "rb"), filename, kept.size, link=link)  # noqa: SIM115 - closed by the caller

    async def keep_all(self, task: Task) -> None:
        """Keep a copy of every file of a result that is not kept yet (one that could not be posted)."""
        for position, track in enumerate(task.tracks):
            await self._kept(task, audio_slot(position), track.audio_url, track_filename(track, position))
            await self._kept(task, cover_slot(position), track.image_url, f"cover-{position + 1}")
        title = getattr(task.request, "source_title", "") or "track"
        for n, file in enumerate(task.files):
            await self._kept(task, file_slot(n), file.url, file_stem(title, file))

    async def _kept(self, task: Task, slot: str, url: str, stem: str) -> tuple[Kept | None, Fetch]:
        """The kept copy of one of a task's files, fetched from ``url`` into the media store (streamed) when
        there is none yet; None, and why, when there is none."""
        owner = Owner.of(task)
        kept = self._media.find(owner, slot)
        if kept is not None or not url:
            return kept, Fetch.KEPT if kept else Fetch.FAILED
        try:
            async with self._fetcher.get(url) as response:
                if response.status != 200:
                    log.warning("task %s: download of a result file failed with HTTP %s", task.id, response.status)
                    return None, Fetch.FAILED
                filename = _filename(stem, url, response.content_type)
                kept = await self._media.keep(owner, slot, filename, response.content.iter_chunked(CHUNK))
                return kept, Fetch.KEPT if kept else Fetch.NOT_KEPT
        except FetchRefused:
            return None, Fetch.REFUSED
        except (aiohttp.ClientError, TimeoutError) as error:  # a stalled stream times out in seconds
            log.warning("task %s: download of a result file failed: %s", task.id, describe(error))
            return None, Fetch.FAILED

    async def _spooled(self, task: Task, url: str, limit: int, stem: str) -> Download:
        """``url`` fetched for one upload, in memory while small and on disk beyond SPOOL_MEMORY (linked when
        over ``limit``)."""
        link = self.provider_link(task, url)
        filename, too_large = _filename(stem, url, None), False
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - closed by the caller
        try:
            async with self._fetcher.get(url) as response:
                filename = _filename(stem, url, response.content_type)
                too_large = (response.content_length or 0) > limit
                if response.status == 200 and not too_large:
                    async for chunk in response.content.iter_chunked(CHUNK):
                        too_large = body.tell() + len(chunk) > limit
                        if too_large:
                            break
                        body.write(chunk)
                    else:
                        return Download(body, filename, body.tell(), link=link)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("task %s: download of a result file failed: %s", task.id, describe(error))
        body.close()
        return Download(None, filename, too_large=too_large, link=link)


class Fetch(enum.Enum):
    """What became of a result file the media store did not have."""

    KEPT = "kept"
    FAILED = "failed"  # the provider did not serve it (or there is no URL)
    REFUSED = "refused"  # not at a public address
    NOT_KEPT = "not kept"  # fetched, but the media store could not keep it (a full disk, or too large)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _as_link(download: Download) -> Download:
    return Download(None, download.filename, download.size, too_large=True, link=download.link)


def audio_slot(position: int) -> str:
    """The media store's name for a track's audio (see bot/media.py)."""
    return f"a{position + 1}"


def cover_slot(position: int) -> str:
    return f"c{position + 1}"


def file_slot(index: int) -> str:
    return f"f{index + 1}"


def karaoke_slot(position: int) -> str:
    return f"k{position + 1}"


def _size(batch: Sequence[Download]) -> int:
    return sum(d.size or 0 for d in batch)


def unposted_notice(task: Task, links: Sequence[tuple[str, str]], expires: float | None = None) -> str:
    """What a member is told about a result that could not be posted in its channel (by DM or privately),
    with ``links`` (name, URL) to its files, the first of which stops working at ``expires``."""
    summary = member_text(task.request.summary, 200)
    where = f"<#{task.channel_id}>"
    if task.state is TaskState.FAILED:
        return (f"\u201c{summary}\u201d could not be made: {failure_reason(task)} I couldn't tell you in {where}: "
                f"{task.unposted}.")
    lines = [f"\u201c{summary}\u201d is ready, but I couldn't post it in {where}: {task.unposted}. It is kept:"]
    lines += [f"\u2022 [{name}]({link})" for name, link in links]
    if links and expires is not None:
        lines.append(f"These links stop working <t:{int(expires)}:R>: save the files before then.")
    if task.tracks:
        lines.append("`/track show` posts a track again in a channel where music is allowed.")
    lines += [f"**{shorten(variant.title or 'Lyrics', 80)}**\n{variant.text}" for variant in task.lyrics]
    text = "\n".join(lines)
    return text if len(text) <= 2000 else text[:1999] + "\u2026"


def part_nonce(task: Task, part: int) -> str:
    """The nonce of a task's result message ``part`` (Discord: at most 25 characters)."""
    return f"chorus-{task.id}-{part}"


# ----- rendering (pure functions) -----------------------------------------------------------------------------


def status_embed(task: Task, now: float, place: Place | None = None, listen: str | None = None) -> discord.Embed:
    """The status message: a checklist of stages, elapsed time, and the reason if it failed; while it waits
    its turn, its place in line and when it should start; once a track can be heard, a ``listen`` link."""
    if task.state is TaskState.FAILED:
        colour = COLOR_FAILED
    elif task.state is TaskState.SUCCEEDED:
        colour = COLOR_DONE
    else:
        colour = COLOR_PENDING
    embed = discord.Embed(title=f"\U0001f3b5 {member_text(task.request.summary, 250)}", colour=colour)
    embed.description = "\n".join(_status_lines(task, place, listen))
    if task.state.terminal:
        took = (task.finished_at or now) - task.created_at
        embed.add_field(name="Time", value=f"took {format_duration(took)}")
    else:
        embed.add_field(name="Time", value=f"started <t:{int(task.created_at)}:R>")
    embed.add_field(name="Requested by", value=f"<@{task.user_id}>")
    if task.request.model:
        embed.add_field(name="Model", value=MODELS.get(task.request.model, task.request.model))
    embed.set_footer(text=f"Task #{task.id}")
    return embed


def _status_lines(task: Task, place: Place | None = None, listen: str | None = None) -> list[str]:
    if task.state is TaskState.WAITING and place is not None:
        return [f"\u23f3 Waiting for its turn: **#{place.position}** in line, starts <t:{int(place.starts_at)}:R>"]
    if task.state in (TaskState.WAITING, TaskState.SUBMITTING):
        return ["\u23f3 Sending to Suno\u2026"]
    if task.state is TaskState.UNSURE:
        return [UNSURE_NOTE]
    lines = []
    failed = task.state is TaskState.FAILED
    reached = _reached_rank(task) if failed else task.state.rank
    current_marked = False
    for state, label in MUSIC_STEPS if task.task_kind.makes_music else SIMPLE_STEPS:
        if state is TaskState.TEXT and task.task_kind is TaskKind.SOUND:
            label = "Sound planned"
        elif state is TaskState.TEXT and getattr(task.request, "instrumental", False):
            label = "Arrangement planned"
        if state.rank <= reached:
            lines.append(f"\u2705 {label}{_step_detail(task, state, listen)}")
        elif failed:
            lines.append(f"\u274c Failed: {failure_reason(task)}")
            break
        elif not current_marked:
            lines.append(f"\u23f3 {label}\u2026")
            current_marked = True
        else:
            lines.append(f"\u25ab\ufe0f {label}")
    return lines


def _step_detail(task: Task, state: TaskState, listen: str | None) -> str:
    if state is TaskState.FIRST and listen:
        return f" \u2014 [listen]({listen})"
    if state is TaskState.SUCCEEDED and task.task_kind.makes_music:
        return f" \u2014 {len(task.tracks)} track{'s' if len(task.tracks) != 1 else ''} below"
    if state is TaskState.SUCCEEDED:
        return " \u2014 posted below"
    return ""


def _reached_rank(task: Task) -> int:
    """How far a failed task got before failing, judged from what it stored."""
    return TaskState.FIRST.rank if any(track.stream_url or track.audio_url for track in task.tracks) else \
        TaskState.QUEUED.rank


def failure_reason(task: Task) -> str:
    """What to tell the member about a failed task."""
    if task.reason:
        return task.reason
    return error_for_code(task.error_code, task.error_message, failure=True).user_message


def track_embed(
    task: Task, track: Track, position: int, audio: Download, cover: Download, limit: int, likes: int = 0
) -> discord.Embed:
    sound = task.request if isinstance(task.request, SoundRequest) else None
    title = track.title or getattr(task.request, "title", "") or (sound.prompt if sound else "") or "Untitled"
    embed = discord.Embed(title=member_text(title, 256), colour=COLOR_DONE)
    if track.tags:
        embed.description = member_text(track.tags, 1000)
    if sound is not None:
        embed.add_field(name="Sound", value=sound_traits(sound))
    if track.duration:
        embed.add_field(name="Duration", value=format_clock(track.duration))
    model = MODELS.get(task.request.model, task.request.model)
    embed.add_field(name="Model", value=f"{model} ({track.model_name})" if track.model_name else model)
    set_likes(embed, likes)
    if not audio.fetched and (text := _link(audio, limit, "Listen")):
        embed.add_field(name="Audio", value=text, inline=False)
    set_picture(embed.set_thumbnail, cover)
    embed.set_footer(text=f"Task #{task.id} \u00b7 track {position + 1} of {len(task.tracks)}")
    return embed


def sound_traits(request: SoundRequest) -> str:
    """"Loop · 120 BPM · D# minor", "One-shot" …: what was asked of a sound."""
    traits = ["Loop" if request.loop else "One-shot"]
    if request.bpm is not None:
        traits.append(f"{request.bpm} BPM")
    if request.key != "Any":
        traits.append(key_name(request.key))
    return " \u00b7 ".join(traits)


def lyrics_embed(task: Task, variant: Lyrics, index: int) -> tuple[discord.Embed, discord.File | None]:
    """One lyrics variant; text too long for an embed comes as a .txt file instead of being cut."""
    embed = discord.Embed(title=shorten(variant.title or f"Lyrics {index + 1}", 256), colour=COLOR_DONE)
    attachment = None
    if len(variant.text) <= EMBED_TEXT_LIMIT:
        embed.description = variant.text
    else:
        embed.description = "The lyrics are long, so they are attached as a text file."
        attachment = discord.File(io.BytesIO(variant.text.encode()), filename=f"{file_stem(variant.title, None)}.txt")
    embed.set_footer(text=f"Task #{task.id} \u00b7 lyrics {index + 1} of {len(task.lyrics)}")
    return embed, attachment


def files_embed(
    task: Task, uploaded: Sequence[Download], linked: Sequence[tuple[ResultFile, Download]], limit: int
) -> discord.Embed:
    """The listing of a files result: what was uploaded, and links for what was too large."""
    embed = discord.Embed(title=member_text(task.request.summary, 256), colour=COLOR_DONE)
    lines = [f"\U0001f4ce {d.filename}" for d in uploaded]
    lines += [f"\U0001f517 {file.name}: {text}" for file, download in linked
              if (text := _link(download, limit, "download"))]
    embed.description = shorten("\n".join(lines), EMBED_TEXT_LIMIT) if lines else None
    embed.set_footer(text=f"Task #{task.id}")
    return embed


def _link(download: Download, limit: int, verb: str) -> str | None:
    """A file that is not attached: its link, and why it is not attached (None: nothing to show)."""
    if not download.too_large:
        return f"[{verb.capitalize()}]({download.link})" if download.link else None
    size = f" ({download.size / MiB:.1f} MiB)" if download.size else ""
    what = f"[Download{size}]({download.link})" if download.link else f"Not attached{size}"
    return f"{what} \u2014 too large to upload here (limit {limit / MiB:.0f} MiB)"


def set_likes(embed: discord.Embed, likes: int) -> None:
    """The "Likes" field of a track's embed: added, updated, or removed at 0."""
    index = next((n for n, field in enumerate(embed.fields) if field.name == LIKES_FIELD), None)
    if likes and index is not None:
        embed.set_field_at(index, name=LIKES_FIELD, value=str(likes))
    elif likes:
        embed.add_field(name=LIKES_FIELD, value=str(likes))
    elif index is not None:
        embed.remove_field(index)


def set_picture(setter: Callable[..., object], picture: Download) -> None:
    """An embed's thumbnail or image: the attached picture, else its link (if any)."""
    if picture.fetched:
        setter(url=f"attachment://{picture.filename}")
    elif picture.link:
        setter(url=picture.link)


def track_filename(track: Track, position: int) -> str:
    """A safe file stem from the track title (extension added from the download)."""
    return _safe(track.title or "") or f"track-{position + 1}"


def file_stem(title: str, file: ResultFile | None) -> str:
    """ "Title-Vocals" for a stem, "Title" for an export or lyrics."""
    stem = _safe(title) or "track"
    return f"{stem}-{_safe(file.name)}" if file is not None and file.name not in ("WAV", "Video") else stem


def _safe(text: str) -> str:
    return re.sub(r"[^\w\- ]+", "", text).strip().replace(" ", "_")[:60]


def _filename(stem: str, url: str, content_type: str | None) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix not in FILE_SUFFIXES:
        suffix = (mimetypes.guess_extension(content_type or "") or "") if content_type else ""
        suffix = {".jpe": ".jpg", ".mpga": ".mp3"}.get(suffix, suffix)
    return f"{stem}{suffix or '.bin'}"
