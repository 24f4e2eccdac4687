"""/challenge: community music challenges — create, submit, vote (buttons), end, cancel, disqualify, list,
show, leaderboard."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.challenges import (
    ChallengeRules,
    VoteButton,
    announcement_embed,
    leaderboard_embed,
)
from bot.delivery import DEFAULT_UPLOAD_LIMIT
from bot.flows import Feature, jump_url, missing_permissions, track_choices
from bot.formatting import shorten
from bot.permissions import STAFF_ONLY, is_staff, permission_names
from bot.providers.errors import InputError
from bot.replies import send_ephemeral
from bot.rules import check_blocked
from bot.store import Challenge

if TYPE_CHECKING:
    from bot.core import ChorusBot

GUILD_ONLY = app_commands.AppCommandContext(guild=True)
STATE_ICONS = {"open": "\U0001f7e2", "closed": "\U0001f3c1", "cancelled": "\u26d4"}


class Challenges(Feature):
    """Community music challenges."""

    dynamic_items = (VoteButton,)
    challenge = app_commands.Group(name="challenge", description="Community music challenges",
                                   allowed_contexts=GUILD_ONLY)

    # ----- moderators -------------------------------------------------------------------------------------

    @challenge.command(name="create", description="Start a challenge in this channel (moderators)")
    @app_commands.describe(
        theme="What to make, e.g. \u201ca synthwave song about rain\u201d",
        duration_hours="How long it runs (1 to 720 hours)",
        description="More details for the announcement",
        max_entries="Entries per member (default 1)",
        required_style="A style every entry must have (checked against the song's style)",
        reward_credits="Credits for each of the top 3 (default none)",
        free_entries="Entering refunds the song's credits (default off)",
        anonymous="Hide who made each entry until the end (default on)",
        votes="Votes per member (default 3)",
        min_membership_hours="Hours in the server before one may vote (default 24)",
    )
    async def create(
        self,
        interaction: discord.Interaction[ChorusBot],
        theme: app_commands.Range[str, 3, 200],
        duration_hours: app_commands.Range[int, 1, 720],
        description: app_commands.Range[str, 0, 1000] = "",
        max_entries: app_commands.Range[int, 1, 10] = 1,
        required_style: app_commands.Range[str, 0, 100] = "",
        reward_credits: app_commands.Range[int, 0, 100_000] = 0,
        free_entries: bool = False,
        anonymous: bool = True,
        votes: app_commands.Range[int, 1, 10] = 3,
        min_membership_hours: app_commands.Range[int, 0, 720] = 24,
    ) -> None:
        if not await is_staff(interaction, self.bot.store):
            raise InputError(STAFF_ONLY)
        missing = missing_permissions(interaction, "create_public_threads", "send_messages_in_threads")
        if missing:
            raise InputError(f"I can't run a challenge in this channel: I need {permission_names(missing)}.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        rules = ChallengeRules(theme=theme, hours=duration_hours, description=description, max_entries=max_entries,
                               required_style=required_style, reward_credits=reward_credits,
                               free_entries=free_entries, anonymous=anonymous, votes_per_member=votes,
                               min_membership_hours=min_membership_hours)
        try:
            challenge = await self.bot.challenges.create(interaction.guild_id or 0, interaction.channel_id or 0,
                                                         interaction.user.id, rules)
        except discord.Forbidden:
            raise InputError("I can't post or open a thread in this channel. Check my permissions here.") from None
        await self.bot.audit.moderator(challenge.guild_id, interaction.user.id,
                                       f"started challenge #{challenge.id} \u201c{challenge.theme}\u201d")
        link = jump_url(challenge.guild_id, challenge.channel_id, challenge.announcement_id)
        await send_ephemeral(interaction, f"Challenge #{challenge.id} is live: {link}")

    @challenge.command(name="end", description="Close a challenge now and post the results (moderators)")
    @app_commands.describe(challenge="The challenge")
    async def end(self, interaction: discord.Interaction[ChorusBot], challenge: int) -> None:
        found = await self._staff_challenge(interaction, challenge)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not await self.bot.challenges.close(found.id):
            raise InputError("That challenge has already ended.")
        await self.bot.audit.moderator(found.guild_id, interaction.user.id, f"ended challenge #{found.id} early")
        await send_ephemeral(interaction, f"Challenge #{found.id} is closed; the results are posted.")

    @challenge.command(name="cancel", description="Cancel a challenge: no results, no rewards (moderators)")
    @app_commands.describe(challenge="The challenge", reason="Why (posted with the cancellation)")
    async def cancel(self, interaction: discord.Interaction[ChorusBot], challenge: int,
                     reason: app_commands.Range[str, 0, 300] = "") -> None:
        found = await self._staff_challenge(interaction, challenge)
        if not await self.bot.challenges.cancel(found.id, interaction.user.id, reason.strip()):
            raise InputError("That challenge has already ended.")
        await self.bot.audit.moderator(found.guild_id, interaction.user.id, f"cancelled challenge #{found.id}")
        await send_ephemeral(interaction, f"Challenge #{found.id} is cancelled.")

    @challenge.command(name="disqualify", description="Remove an entry from a challenge (moderators)")
    @app_commands.describe(entry="The entry", reason="Why (shown on the entry)")
    async def disqualify(self, interaction: discord.Interaction[ChorusBot], entry: int,
                         reason: app_commands.Range[str, 1, 300]) -> None:
        if not await is_staff(interaction, self.bot.store):
            raise InputError(STAFF_ONLY)
        found = await self.bot.store.entry(entry)
        challenge = await self.bot.store.challenge(found.challenge_id) if found else None
        if found is None or challenge is None or challenge.guild_id != interaction.guild_id:
            raise InputError("I can't find that entry. Pick one from the list.")
        if not challenge.is_open:
            raise InputError("That challenge has ended; its results stand.")
        await self.bot.challenges.disqualify(challenge, found, reason.strip())
        await self.bot.audit.moderator(challenge.guild_id, interaction.user.id,
                                       f"disqualified entry #{found.number} (by <@{found.user_id}>) of challenge "
                                       f"#{challenge.id}: {reason.strip()}")
        await send_ephemeral(interaction, f"Entry #{found.number} is disqualified.")

    async def _staff_challenge(self, interaction: discord.Interaction[ChorusBot], challenge_id: int) -> Challenge:
        if not await is_staff(interaction, self.bot.store):
            raise InputError(STAFF_ONLY)
        return await self._challenge(interaction, challenge_id)

    # ----- members ----------------------------------------------------------------------------------------

    @challenge.command(name="submit", description="Enter one of your songs made for the challenge")
    @app_commands.describe(track="Your song (made after the challenge opened)",
                           challenge="Which challenge (default: the open one, or this thread's)")
    async def submit(self, interaction: discord.Interaction[ChorusBot], track: str,
                     challenge: int | None = None) -> None:
        found = await self._for_submission(interaction, challenge)
        await check_blocked(self.bot.store, found.guild_id, interaction.user.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        added = await self.bot.challenges.submit(found, interaction.user.id, track,
                                                 interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT)
        link = jump_url(found.guild_id, found.thread_id or found.channel_id, added.entry.message_id)
        await send_ephemeral(interaction, f"\U0001f3b6 You're in: entry #{added.entry.number} {link}."
                             f"{_free_entry_note(found, added.refunded)}")

    @submit.autocomplete("track")
    async def _submit_tracks(self, interaction: discord.Interaction[ChorusBot],
                             current: str) -> list[app_commands.Choice[str]]:
        open_ones = await self.bot.store.challenges(interaction.guild_id or 0, open_only=True)
        if not open_ones:
            return []
        return await track_choices(interaction, current, since=min(c.opens_at for c in open_ones))

    async def _for_submission(self, interaction: discord.Interaction[ChorusBot], challenge_id: int | None) -> Challenge:
        if challenge_id is not None:
            return await self._challenge(interaction, challenge_id)
        open_ones = await self.bot.store.challenges(interaction.guild_id or 0, open_only=True)
        here = [c for c in open_ones if interaction.channel_id in (c.thread_id, c.channel_id)]
        if len(here) == 1 or len(open_ones) == 1:
            return (here or open_ones)[0]
        if not open_ones:
            raise InputError("There is no open challenge in this server right now.")
        raise InputError("Several challenges are open: pick one with the `challenge` option.")

    @challenge.command(name="list", description="Open and recent challenges")
    async def list_challenges(self, interaction: discord.Interaction[ChorusBot]) -> None:
        found = await self.bot.store.challenges(interaction.guild_id or 0, limit=10)
        embed = discord.Embed(title="Challenges", colour=discord.Colour.purple())
        embed.description = "\n".join(map(challenge_line, found)) or "No challenges yet."
        await send_ephemeral(interaction, embed=embed)

    @challenge.command(name="show", description="A challenge's rules, entries so far and time left")
    @app_commands.describe(challenge="The challenge")
    async def show(self, interaction: discord.Interaction[ChorusBot], challenge: int) -> None:
        found = await self._challenge(interaction, challenge)
        entries = await self.bot.store.entries(found.id, include_disqualified=False)
        embed = announcement_embed(found)
        state = (f"open, ends <t:{int(found.closes_at)}:R>" if found.is_open else found.state)
        embed.add_field(name="Status", value=f"{state} \u00b7 {len(entries)} entr{'ies' if len(entries) != 1 else 'y'}",
                        inline=False)
        if found.thread_id:
            embed.add_field(name="Entries", value=f"<#{found.thread_id}>")
        await send_ephemeral(interaction, embed=embed)

    @challenge.command(name="leaderboard", description="A challenge's leaderboard (votes are hidden until it ends)")
    @app_commands.describe(challenge="The challenge")
    async def leaderboard(self, interaction: discord.Interaction[ChorusBot], challenge: int) -> None:
        found = await self._challenge(interaction, challenge)
        entries = await self.bot.store.entries(found.id, include_disqualified=False)
        await send_ephemeral(interaction, embed=leaderboard_embed(found, entries, final=found.state == "closed"))

    @end.autocomplete("challenge")
    @cancel.autocomplete("challenge")
    @submit.autocomplete("challenge")
    async def _open_challenges(self, interaction: discord.Interaction[ChorusBot],
                               current: int | str) -> list[app_commands.Choice[int]]:
        return await self._choices(interaction, str(current), open_only=True)

    @show.autocomplete("challenge")
    @leaderboard.autocomplete("challenge")
    async def _any_challenges(self, interaction: discord.Interaction[ChorusBot],
                              current: int | str) -> list[app_commands.Choice[int]]:
        return await self._choices(interaction, str(current), open_only=False)

    async def _choices(self, interaction: discord.Interaction[ChorusBot], current: str,
                       *, open_only: bool) -> list[app_commands.Choice[int]]:
        found = await self.bot.store.challenges(interaction.guild_id or 0, open_only=open_only, limit=25)
        return [app_commands.Choice(name=shorten(f"#{c.id} {c.theme} ({c.state})", 100), value=c.id)
                for c in found if current.lower() in f"#{c.id} {c.theme}".lower()][:25]

    @disqualify.autocomplete("entry")
    async def _entries(self, interaction: discord.Interaction[ChorusBot],
                       current: int | str) -> list[app_commands.Choice[int]]:
        choices = []
        for challenge in await self.bot.store.challenges(interaction.guild_id or 0, open_only=True):
            for entry in await self.bot.store.entries(challenge.id, include_disqualified=False):
                name = shorten(f"#{challenge.id} {challenge.theme} \u00b7 entry #{entry.number}", 100)
                if str(current).lower() in name.lower():
                    choices.append(app_commands.Choice(name=name, value=entry.id))
        return choices[:25]

    async def _challenge(self, interaction: discord.Interaction[ChorusBot], challenge_id: int) -> Challenge:
        found = await self.bot.store.challenge(challenge_id)
        if found is None or found.guild_id != interaction.guild_id:
            raise InputError("I can't find that challenge in this server. Pick one from the list.")
        return found


def _free_entry_note(challenge: Challenge, refunded: int) -> str:
    if not challenge.free_entries:
        return ""
    if refunded:
        return f" Its {refunded} credit{'s' if refunded != 1 else ''} came back (free entries)."
    return " It's a free entry, but this song's cost was already returned (or it cost nothing)."


def challenge_line(challenge: Challenge) -> str:
    when = (f"ends <t:{int(challenge.closes_at)}:R>" if challenge.is_open
            else f"ended {datetime.fromtimestamp(challenge.ended_at or challenge.closes_at, tz=timezone.utc):%Y-%m-%d}")
    return (f"{STATE_ICONS.get(challenge.state, '')} **#{challenge.id}** "
            f"{discord.utils.escape_markdown(shorten(challenge.theme, 80))} \u2014 {when}")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Challenges(bot))
