"""Community challenges: announce, take entries made with the bot, count fair votes, close on time, reward.

Everything is in the store; the deadline job reads it, so a challenge whose deadline passed while the bot
was down is closed at startup.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import discord

from bot.background import BackgroundLoop, wait_for_wake
from bot.delivery import (
    COLOR_DONE,
    Delivery,
    Destination,
    Download,
    close_all,
    cover_slot,
    set_picture,
)
from bot.formatting import format_clock, member_text, shorten
from bot.models import Task, TaskKind, TaskState, Track
from bot.providers.errors import InputError
from bot.replies import report_unexpected, send_ephemeral
from bot.store import (
    CANCELLED,
    Challenge,
    Entry,
    EntryAdded,
    NewChallenge,
    Store,
    winners,
)

log = logging.getLogger(__name__)

MEDALS = ("\U0001f947", "\U0001f948", "\U0001f949")
PLACES = ("1st", "2nd", "3rd")
LEADERBOARD_SIZE = 10
ARCHIVE_AFTER_MINUTES = 10080  # a week without messages (the longest Discord allows)
COLOR_CHALLENGE = discord.Colour.purple()


@dataclass(frozen=True)
class ChallengeRules:
    """What a moderator sets when creating a challenge."""

    theme: str
    hours: int
    description: str = ""
    max_entries: int = 1
    required_style: str = ""
    reward_credits: int = 0
    free_entries: bool = False
    anonymous: bool = True
    votes_per_member: int = 3
    min_membership_hours: float = 24.0


class ChallengeService(BackgroundLoop):
    loop_name = "chorus-challenges"

    def __init__(self, client: discord.Client, store: Store, delivery: Delivery, *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._client = client
        self._store = store
        self._delivery = delivery
        self._clock = clock

    # ----- the deadline job -------------------------------------------------------------------------------


    async def _run(self) -> None:
        while True:
            self._wake.clear()
            for challenge in await self._store.due_challenges(self._clock()):
                try:
                    await self.close(challenge.id)
                except Exception:
                    log.exception("challenge %s: closing failed", challenge.id)
            deadline = await self._store.next_deadline()
            delay = 3600.0 if deadline is None else min(3600.0, max(0.05, deadline - self._clock()))
            await wait_for_wake(self._wake, delay)

    # ----- creating ---------------------------------------------------------------------------------------

    async def create(self, guild_id: int, channel_id: int, creator_id: int, rules: ChallengeRules) -> Challenge:
        """Store the challenge, post its announcement and open a thread for the entries."""
        now = self._clock()
        challenge = await self._store.create_challenge(NewChallenge(
            guild_id=guild_id, channel_id=channel_id, creator_id=creator_id, theme=rules.theme.strip(),
            description=rules.description.strip(), required_style=rules.required_style.strip(),
            max_entries=rules.max_entries, reward_credits=rules.reward_credits, free_entries=rules.free_entries,
            anonymous=rules.anonymous, votes_per_member=rules.votes_per_member,
            min_membership=rules.min_membership_hours * 3600, opens_at=now, closes_at=now + rules.hours * 3600,
        ))
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            announcement = await channel.send(embed=announcement_embed(challenge))
            # Straight through the HTTP client: Message.create_thread needs the guild cached, this does not.
            thread = await self._client.http.start_thread_with_message(
                channel_id, announcement.id, name=shorten(f"Entries: {challenge.theme}", 100),
                auto_archive_duration=ARCHIVE_AFTER_MINUTES,
            )
        except discord.HTTPException:
            await self._store.end_challenge(challenge.id, CANCELLED)
            raise
        thread_id = int(thread["id"])
        await self._store.set_challenge_messages(challenge.id, announcement_id=announcement.id, thread_id=thread_id)
        await self._client.get_partial_messageable(thread_id, guild_id=guild_id).send(
            f"Submit with `/challenge submit` (challenge #{challenge.id}); entries appear here with a **Vote** button."
        )
        self.wake()
        found = await self._store.challenge(challenge.id)
        assert found is not None
        return found

    # ----- entries ----------------------------------------------------------------------------------------

    async def submit(self, challenge: Challenge, user_id: int, audio_id: str, upload_limit: int) -> EntryAdded:
        """Enter one of the member's tracks. Provenance: the bot made it for this member, in this server,
        after the challenge opened. Raises InputError with the reason otherwise. In a free-entry challenge the
        song's cost comes back with the entry, once per song at most."""
        now = self._clock()
        if not challenge.is_open or now >= challenge.closes_at:
            raise InputError("This challenge is closed for entries.")
        found = await self._store.track_by_audio_id(audio_id.strip())
        if found is None or found[0].guild_id != challenge.guild_id:
            raise InputError("I can't find that track. Pick one of your songs from the list as you type.")
        task, position = found
        track = task.tracks[position]
        if task.user_id != user_id:
            raise InputError("That track isn't yours: enter a song the bot made for you.")
        if not task.task_kind.makes_music or task.state is not TaskState.SUCCEEDED:
            raise InputError("Only finished songs can be entered.")
        if task.task_kind is TaskKind.SOUND:
            raise InputError("That's a sound effect: enter a song (you can make one from it with /cover).")
        if task.created_at < challenge.opens_at:
            raise InputError(f"That song was made before the challenge opened (<t:{int(challenge.opens_at)}:f>). "
                             "Enter a song you make for the challenge.")
        if challenge.required_style and not _has_style(track, challenge.required_style):
            raise InputError(f"Entries must be in the style \u201c{challenge.required_style}\u201d; this song's "
                             f"style is \u201c{shorten(track.tags or 'not set', 100)}\u201d.")
        refund_reason = (f"free entry to challenge #{challenge.id} \u201c{challenge.theme}\u201d"
                         if challenge.free_entries else None)
        added = await self._store.add_entry(challenge, user_id, task.id, track.audio_id, refund_reason=refund_reason)
        if added is None:
            entries = await self._store.entries(challenge.id)
            if any(e.audio_id == track.audio_id for e in entries):
                raise InputError("That song is already entered.")
            mine = [e for e in entries if e.user_id == user_id and not e.disqualified]
            raise InputError(f"You already entered {len(mine)} song{'s' if len(mine) != 1 else ''}: the limit "
                             f"is {challenge.max_entries} per member.")
        entry = added.entry
        if challenge.thread_id is not None:
            destination = Destination(challenge.guild_id, challenge.thread_id, user_id, upload_limit)
            message = await self._delivery.post_audio(
                destination, task, position,
                embed=lambda audio, cover: entry_embed(challenge, entry, track, cover, audio=audio),
                view=vote_view(entry.id),
            )
            await self._store.set_entry_message(entry.id, message.id)
            added = replace(added, entry=replace(entry, message_id=message.id))
        return added

    async def vote(self, challenge: Challenge, entry: Entry, member: discord.Member | discord.User) -> str:
        """A click on Vote: vote, or take the vote back. Returns what to tell the member (privately)."""
        if not challenge.is_open or self._clock() >= challenge.closes_at:
            return "Voting is closed for this challenge."
        if entry.disqualified:
            return "This entry was disqualified."
        if entry.user_id == member.id:
            return "You can't vote for your own entry."
        joined = getattr(member, "joined_at", None)
        if challenge.min_membership and (joined is None or
                                         self._clock() - joined.timestamp() < challenge.min_membership):
            hours = challenge.min_membership / 3600
            return (f"Only members who have been in the server for {_hours(hours)} can vote, to keep voting fair. "
                    "Enjoy the entries meanwhile!")
        result = await self._store.toggle_vote(challenge, entry, member.id)
        left = f"{result.left} vote{'s' if result.left != 1 else ''} left"
        if result.outcome == "voted":
            return f"\u2705 Voted for entry #{entry.number}. You have {left}; click again to take it back."
        if result.outcome == "retracted":
            return f"\u21a9\ufe0f Vote for entry #{entry.number} taken back. You have {left}."
        return (f"You've used all {challenge.votes_per_member} of your votes. Take one back (click Vote on that "
                "entry again) to vote for this one.")

    async def disqualify(self, challenge: Challenge, entry: Entry, reason: str) -> None:
        await self._store.disqualify(entry.id, reason)
        if challenge.thread_id is not None and entry.message_id is not None:
            message = self._client.get_partial_messageable(challenge.thread_id).get_partial_message(entry.message_id)
            try:
                await message.edit(embed=discord.Embed(title=f"Entry #{entry.number} \u2014 disqualified",
                                                       description=reason, colour=discord.Colour.red()),
                                   attachments=[], view=None)
            except discord.HTTPException as error:
                log.warning("challenge %s: could not mark entry %s: %s", challenge.id, entry.id, error)

    # ----- ending -----------------------------------------------------------------------------------------

    async def close(self, challenge_id: int) -> bool:
        """Close once: post the results, reveal the authors, grant the rewards. False if already ended."""
        closed = await self._store.close_challenge(challenge_id, len(PLACES), _reward_reason)
        if closed is None:
            return False
        challenge, entries = closed
        placed = winners(entries, len(PLACES))
        await self._reveal(challenge, entries)
        await self._post_results(challenge, entries, placed)
        log.info("challenge %s closed: %d entries, %d winners", challenge.id, len(entries), len(placed))
        return True

    async def cancel(self, challenge_id: int, actor_id: int, reason: str) -> bool:
        if not await self._store.end_challenge(challenge_id, CANCELLED):
            return False
        challenge = await self._store.challenge(challenge_id)
        assert challenge is not None
        text = f"\u26d4 The challenge \u201c{challenge.theme}\u201d was cancelled by <@{actor_id}>" + (
            f": {reason}" if reason else ".")
        await self._send(challenge, challenge.channel_id, content=text, reply=True)
        return True

    async def _post_results(self, challenge: Challenge, entries: list[Entry], winners: list[Entry]) -> None:
        covers: list[Download] = []
        embeds = [leaderboard_embed(challenge, entries, final=True)]
        for place, entry in enumerate(winners):
            found = await self._track_of(entry)
            if found is None:
                continue
            task, position = found
            track = task.tracks[position]
            cover = await self._delivery.download_cover(task, position, stem=f"winner-{place + 1}")
            covers.append(cover)
            embeds.append(winner_embed(challenge, entry, track, place, cover))
        if winners:
            names = " \u00b7 ".join(f"{MEDALS[place]} <@{entry.user_id}>" for place, entry in enumerate(winners))
            reward = f" Each gets **{challenge.reward_credits}** credits." if challenge.reward_credits else ""
            content = f"\U0001f3c6 The challenge \u201c{challenge.theme}\u201d is over! {names}.{reward}"
        else:
            content = f"\U0001f3c1 The challenge \u201c{challenge.theme}\u201d is over" + (
                " \u2014 no entry got a vote." if entries else " \u2014 nobody entered.")
        try:
            message = await self._send(challenge, challenge.channel_id, content=content, embeds=embeds,
                                       files=[c.file() for c in covers if c.fetched], reply=True,
                                       mentions=[entry.user_id for entry in winners])
        finally:
            close_all(covers)
        if message is not None:
            await self._store.set_challenge_messages(challenge.id, results_message_id=message.id)
            if challenge.thread_id is not None:
                await self._send(challenge, challenge.thread_id, content=f"Voting is closed. Results: {message.jump_url}")

    async def _reveal(self, challenge: Challenge, entries: list[Entry]) -> None:
        """Show each entry's author and votes, and take the Vote buttons away."""
        if challenge.thread_id is None:
            return
        thread = self._client.get_partial_messageable(challenge.thread_id, guild_id=challenge.guild_id)
        for entry in entries:
            found = await self._track_of(entry)
            if entry.message_id is None or found is None:
                continue
            task, position = found
            track = task.tracks[position]
            picture = Download(None, "", link=self._delivery.file_link(task, cover_slot(position), track.image_url))
            embed = entry_embed(challenge, entry, track, picture, reveal=True)
            try:
                await thread.get_partial_message(entry.message_id).edit(embed=embed, view=None)
            except discord.HTTPException as error:
                log.warning("challenge %s: could not reveal entry %s: %s", challenge.id, entry.id, error)

    async def _track_of(self, entry: Entry) -> tuple[Task, int] | None:
        """The task that made an entry's song, and the song's place in it."""
        task = await self._store.get_task(entry.task_id)
        if task is None:
            return None
        return next(((task, n) for n, t in enumerate(task.tracks) if t.audio_id == entry.audio_id), None)

    async def _send(self, challenge: Challenge, channel_id: int, *, content: str, reply: bool = False,
                    embeds: list[discord.Embed] | None = None, files: list[discord.File] | None = None,
                    mentions: list[int] | None = None) -> discord.Message | None:
        channel = self._client.get_partial_messageable(channel_id, guild_id=challenge.guild_id)
        reference = None
        if reply and challenge.announcement_id is not None:
            reference = discord.MessageReference(message_id=challenge.announcement_id, channel_id=challenge.channel_id,
                                                 guild_id=challenge.guild_id, fail_if_not_exists=False)
        try:
            return await channel.send(
                content=content, embeds=embeds or [], files=files or [], reference=reference,
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(u) for u in mentions or []]),
            )
        except discord.HTTPException as error:
            log.warning("challenge %s: could not post in %s: %s", challenge.id, channel_id, error)
            return None


# ----- rendering -----------------------------------------------------------------------------------------------


def announcement_embed(challenge: Challenge) -> discord.Embed:
    embed = discord.Embed(title=f"\U0001f3c6 Challenge: {shorten(challenge.theme, 200)}", colour=COLOR_CHALLENGE)
    embed.description = shorten(challenge.description, 2000) if challenge.description else None
    rules = [
        f"Make a song with the bot, then enter it with `/challenge submit` (challenge #{challenge.id}).",
        "Only songs made after now count.",
        f"Up to {challenge.max_entries} entr{'ies' if challenge.max_entries != 1 else 'y'} per member.",
        f"Everyone gets {challenge.votes_per_member} votes (one per entry, not your own); "
        f"voters must have been here {_hours(challenge.min_membership / 3600)}.",
    ]
    if challenge.required_style:
        rules.insert(1, f"Style: \u201c{challenge.required_style}\u201d.")
    if challenge.free_entries:
        rules.append("Entering refunds the song's credits.")
    if challenge.anonymous:
        rules.append("Entries are anonymous until the end.")
    embed.add_field(name="Rules", value="\n".join(f"\u2022 {rule}" for rule in rules), inline=False)
    embed.add_field(name="Ends", value=f"<t:{int(challenge.closes_at)}:R> (<t:{int(challenge.closes_at)}:f>)")
    if challenge.reward_credits:
        embed.add_field(name="Reward", value=f"{challenge.reward_credits} credits each for the top 3")
    embed.set_footer(text=f"Challenge #{challenge.id} \u00b7 votes are counted when it ends")
    return embed


def entry_embed(challenge: Challenge, entry: Entry, track: Track, cover: Download | None, *,
                reveal: bool = False, audio: Download | None = None) -> discord.Embed:
    embed = discord.Embed(title=f"Entry #{entry.number}: {member_text(track.title or 'Untitled', 200)}",
                          colour=COLOR_DONE)
    if track.tags:
        embed.description = member_text(track.tags, 500)
    if reveal or not challenge.anonymous:
        embed.add_field(name="By", value=f"<@{entry.user_id}>")
    if track.duration:
        embed.add_field(name="Duration", value=format_clock(track.duration))
    if reveal:
        embed.add_field(name="Votes", value=str(entry.votes))
    if audio is not None and not audio.fetched and audio.link:  # too large to upload in this server
        embed.add_field(name="Audio", value=f"[Listen]({audio.link})", inline=False)
    if cover is not None:
        set_picture(embed.set_thumbnail, cover)
    embed.set_footer(text=f"Challenge #{challenge.id} \u00b7 {challenge.theme}"[:200])
    return embed


def leaderboard_embed(challenge: Challenge, entries: list[Entry], *, final: bool) -> discord.Embed:
    embed = discord.Embed(title=f"Results: {shorten(challenge.theme, 200)}" if final else
                          f"Challenge #{challenge.id}: {shorten(challenge.theme, 200)}", colour=COLOR_CHALLENGE)
    if not final:
        embed.description = (f"{len(entries)} entr{'ies' if len(entries) != 1 else 'y'} so far; votes stay "
                             f"hidden until it ends <t:{int(challenge.closes_at)}:R>.")
        return embed
    lines = []
    for rank, entry in enumerate(entries[:LEADERBOARD_SIZE]):
        medal = MEDALS[rank] if rank < len(MEDALS) and entry.votes > 0 else f"{rank + 1}."
        link = (f" \u00b7 [listen](https://discord.com/channels/{challenge.guild_id}/{challenge.thread_id}/"
                f"{entry.message_id})" if entry.message_id and challenge.thread_id else "")
        lines.append(f"{medal} Entry #{entry.number} by <@{entry.user_id}> \u2014 **{entry.votes}** "
                     f"vote{'s' if entry.votes != 1 else ''}{link}")
    embed.description = "\n".join(lines) or "No entries."
    embed.set_footer(text=f"Challenge #{challenge.id} \u00b7 {len(entries)} entries")
    return embed


def winner_embed(challenge: Challenge, entry: Entry, track: Track, place: int, cover: Download) -> discord.Embed:
    embed = discord.Embed(title=f"{MEDALS[place]} {member_text(track.title or 'Untitled', 200)}",
                          description=f"by <@{entry.user_id}> \u2014 {entry.votes} vote{'s' if entry.votes != 1 else ''}",
                          colour=COLOR_CHALLENGE)
    set_picture(embed.set_image, cover)
    return embed


def vote_view(entry_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(entry_id))
    return view


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"chorus-vote:(?P<entry>[0-9]+)"):
    """Vote (or take the vote back) for a challenge entry; everything it needs is in the store."""

    def __init__(self, entry_id: int) -> None:
        super().__init__(discord.ui.Button(label="Vote", emoji="\u2b50", style=discord.ButtonStyle.primary,
                                           custom_id=f"chorus-vote:{entry_id}"))
        self.entry_id = entry_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any],
                             match: re.Match[str]) -> VoteButton:
        return cls(int(match["entry"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            store = interaction.client.store
            entry = await store.entry(self.entry_id)
            challenge = await store.challenge(entry.challenge_id) if entry else None
            if entry is None or challenge is None:
                await send_ephemeral(interaction, "I no longer have this entry in my records.")
                return
            await send_ephemeral(interaction, await interaction.client.challenges.vote(challenge, entry,
                                                                                       interaction.user))
        except Exception as error:
            await report_unexpected(interaction, error, f"vote on entry {self.entry_id}")


def _has_style(track: Track, style: str) -> bool:
    wanted = " ".join(style.lower().split())
    return wanted in " ".join(track.tags.lower().split())


def _hours(hours: float) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:.0f} days"
    if hours == 24:
        return "a day"
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def _reward_reason(challenge: Challenge, place: int) -> str:
    return f"challenge #{challenge.id} \u201c{challenge.theme}\u201d: {PLACES[place]} place"
