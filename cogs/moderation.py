"""/mod: moderator tools — credits, costs, running limits, blocks, channels, words, reports, the log channel,
the provider account's balance. For members with Manage Server, or the moderator role an admin sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.credits import (
    DEFAULT_COSTS,
    OPERATION_NAMES,
    PERIOD_WORDS,
    PERIODS,
    period_start,
)
from bot.flows import Feature
from bot.formatting import format_size
from bot.permissions import is_staff
from bot.providers.errors import ProviderError
from bot.replies import send_ephemeral
from bot.store import Allowance

if TYPE_CHECKING:
    from bot.core import ChorusBot

MAX_CREDITS = 1_000_000
WORD_LIMIT = 100
OPERATION_CHOICES = [app_commands.Choice(name=name, value=key) for key, name in OPERATION_NAMES.items()]
PERIOD_CHOICES = [app_commands.Choice(name=period, value=period) for period in PERIODS]
REPORT_PERIODS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "all": None}
STATE_WORDS = {"succeeded": "\u2705 done", "failed": "\u274c failed", "queued": "\u23f3 queued",
               "waiting": "\u23f3 in line", "submitting": "\u23f3 sending", "unsure": "\u2753 unconfirmed",
               "text": "\u270d\ufe0f writing", "first": "\U0001f3a7 first track"}
GUILD_ONLY = app_commands.AppCommandContext(guild=True)
MANAGE_SERVER = discord.Permissions(manage_guild=True)


class TextChannelOption(app_commands.Transformer):
    """A text channel, taken as Discord resolved it (no dependency on the gateway's channel cache)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news]

    async def transform(self, interaction: discord.Interaction, value: app_commands.AppCommandChannel) -> app_commands.AppCommandChannel:  # type: ignore[override]
        return value


TextChannel = app_commands.Transform[app_commands.AppCommandChannel, TextChannelOption]


class MusicChannelOption(TextChannelOption):
    """Any channel members can ask from: text and announcement channels, voice and stage channels' text chats,
    and forums (their posts are threads of the forum)."""

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.voice,
                discord.ChannelType.stage_voice, discord.ChannelType.forum, discord.ChannelType.media]


MusicChannel = app_commands.Transform[app_commands.AppCommandChannel, MusicChannelOption]


class Moderation(Feature):
    """Moderator tools."""

    mod = app_commands.Group(name="mod", description="Moderator tools for Chorus",
                             default_permissions=MANAGE_SERVER, allowed_contexts=GUILD_ONLY)
    credits = app_commands.Group(name="credits", description="Members' credits", parent=mod)
    costs = app_commands.Group(name="costs", description="What each operation costs", parent=mod)
    channels = app_commands.Group(name="channels", description="Where music can be made", parent=mod)
    words = app_commands.Group(name="words", description="Words requests may not contain", parent=mod)

    async def interaction_check(self, interaction: discord.Interaction[ChorusBot]) -> bool:  # type: ignore[override]
        """Discord hides /mod from members without Manage Server; this also admits the moderator role, and
        refuses anyone else who reaches it (for instance through a changed command permission)."""
        if await is_staff(interaction, self.bot.store):
            return True
        raise app_commands.CheckFailure("Only moderators can use /mod: members with Manage Server, or the "
                                        "server's moderator role.")

    # ----- credits --------------------------------------------------------------------------------------------

    @credits.command(name="grant", description="Give a member extra credits")
    @app_commands.describe(member="Who gets them", amount="How many", reason="Why (shown in their history)")
    async def grant(self, interaction: discord.Interaction[ChorusBot], member: discord.Member,
                    amount: app_commands.Range[int, 1, MAX_CREDITS], reason: str = "") -> None:
        await self._adjust(interaction, member, "grant", amount=amount, reason=reason)

    @credits.command(name="revoke", description="Take credits from a member (never below zero)")
    @app_commands.describe(member="From whom", amount="How many", reason="Why (shown in their history)")
    async def revoke(self, interaction: discord.Interaction[ChorusBot], member: discord.Member,
                     amount: app_commands.Range[int, 1, MAX_CREDITS], reason: str = "") -> None:
        await self._adjust(interaction, member, "revoke", amount=amount, reason=reason)

    @credits.command(name="set", description="Set a member's balance")
    @app_commands.describe(member="Whose balance", amount="The new balance", reason="Why (shown in their history)")
    async def set_balance(self, interaction: discord.Interaction[ChorusBot], member: discord.Member,
                          amount: app_commands.Range[int, 0, MAX_CREDITS], reason: str = "") -> None:
        await self._adjust(interaction, member, "set", target=amount, reason=reason or f"set to {amount}")

    @credits.command(name="reset", description="Put a member's balance back to their allowance")
    @app_commands.describe(member="Whose balance", reason="Why (shown in their history)")
    async def reset(self, interaction: discord.Interaction[ChorusBot], member: discord.Member, reason: str = "") -> None:
        policy = await self.bot.store.policy(interaction.guild_id or 0)
        allowance = policy.allowance_for({role.id for role in member.roles})
        await self._adjust(interaction, member, "reset", target=allowance, reason=reason or "reset to the allowance")

    async def _adjust(self, interaction: discord.Interaction[ChorusBot], member: discord.Member, kind: str, *,
                      reason: str, amount: int | None = None, target: int | None = None) -> None:
        guild_id = interaction.guild_id or 0
        policy = await self.bot.store.policy(guild_id)
        now = self.bot.clock()
        allowance = Allowance(policy.allowance_for({role.id for role in member.roles}), period_start(policy.period, now))
        change, balance = await self.bot.store.adjust(guild_id, member.id, allowance, kind=kind,
                                                      actor_id=interaction.user.id, reason=reason.strip(),
                                                      amount=amount, target=target)
        if kind == "reset":
            what = f"reset {member.mention}'s credits to their allowance"
        else:
            verb = "granted" if change >= 0 else "revoked"
            what = f"{verb} {abs(change)} credits {'to' if change >= 0 else 'from'} {member.mention}"
        text = f"{what} (balance now {balance})" + (f": {reason.strip()}" if reason.strip() else "")
        await self._done(interaction, text)

    @credits.command(name="allowance", description="The server's default allowance and how often it refills")
    @app_commands.describe(amount="Credits each member gets per period", period="How often it refills")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def allowance(self, interaction: discord.Interaction[ChorusBot],
                        amount: app_commands.Range[int, 0, MAX_CREDITS], period: str) -> None:
        await self.bot.store.set_policy(interaction.guild_id or 0, allowance=amount, period=period)
        await self._done(interaction, f"set the allowance to {amount} credits per {PERIOD_WORDS[period]}")

    @credits.command(name="role", description="An allowance for a role (a member's highest role allowance wins)")
    @app_commands.describe(role="The role", amount="Credits per period for it (leave out to remove)")
    async def role(self, interaction: discord.Interaction[ChorusBot], role: discord.Role,
                   amount: app_commands.Range[int, 0, MAX_CREDITS] | None = None) -> None:
        await self.bot.store.set_role_allowance(interaction.guild_id or 0, role.id, amount)
        text = (f"removed the allowance of {role.mention}" if amount is None
                else f"set the allowance of {role.mention} to {amount} credits per period")
        await self._done(interaction, text)

    # ----- costs and limits -------------------------------------------------------------------------------------

    @costs.command(name="set", description="Set what an operation costs")
    @app_commands.describe(operation="The operation", amount="Its cost in credits")
    @app_commands.choices(operation=OPERATION_CHOICES)
    async def set_cost(self, interaction: discord.Interaction[ChorusBot], operation: str,
                       amount: app_commands.Range[int, 0, MAX_CREDITS]) -> None:
        if operation not in DEFAULT_COSTS:
            await send_ephemeral(interaction, "Pick an operation from the list.")
            return
        await self.bot.store.set_cost(interaction.guild_id or 0, operation, amount)
        await self._done(interaction, f"set the cost of {OPERATION_NAMES[operation]} to {amount} credits")

    @mod.command(name="limits", description="How many requests may run at once, per member and per server")
    @app_commands.describe(member_running="Per member (default 2)", guild_running="For the whole server (default 10)")
    async def limits(self, interaction: discord.Interaction[ChorusBot],
                     member_running: app_commands.Range[int, 1, 100] | None = None,
                     guild_running: app_commands.Range[int, 1, 1000] | None = None) -> None:
        guild_id = interaction.guild_id or 0
        changes = {key: value for key, value in (("member_running", member_running),
                                                  ("guild_running", guild_running)) if value is not None}
        if changes:
            await self.bot.store.set_policy(guild_id, **changes)
        policy = await self.bot.store.policy(guild_id)
        text = (f"running limits: {policy.member_running} per member, {policy.guild_running} for the server")
        if changes:
            await self._done(interaction, f"set the {text}")
        else:
            await send_ephemeral(interaction, f"Current {text}.")

    # ----- blocks -------------------------------------------------------------------------------------------------

    @mod.command(name="block", description="Stop a member from using the bot here")
    @app_commands.describe(member="Who", reason="Why (they are told)")
    async def block(self, interaction: discord.Interaction[ChorusBot], member: discord.Member,
                    reason: app_commands.Range[str, 1, 300]) -> None:
        await self.bot.store.block(interaction.guild_id or 0, member.id, reason.strip(), interaction.user.id)
        await self._done(interaction, f"blocked {member.mention}: {reason.strip()}")

    @mod.command(name="unblock", description="Let a blocked member use the bot again")
    @app_commands.describe(member="Who")
    async def unblock(self, interaction: discord.Interaction[ChorusBot], member: discord.Member) -> None:
        if not await self.bot.store.unblock(interaction.guild_id or 0, member.id):
            await send_ephemeral(interaction, f"{member.mention} isn't blocked.")
            return
        await self._done(interaction, f"unblocked {member.mention}")

    # ----- channels ---------------------------------------------------------------------------------------------

    @channels.command(name="allow", description="Allow music in a channel (then only allowed channels work)")
    @app_commands.describe(channel="The channel")
    async def allow_channel(self, interaction: discord.Interaction[ChorusBot], channel: MusicChannel) -> None:
        await self.bot.store.allow_channel(interaction.guild_id or 0, channel.id)
        await self._channels_done(interaction, f"allowed music in {channel.mention}")

    @channels.command(name="deny", description="No music in a channel (a denied channel stays closed)")
    @app_commands.describe(channel="The channel")
    async def deny_channel(self, interaction: discord.Interaction[ChorusBot], channel: MusicChannel) -> None:
        await self.bot.store.deny_channel(interaction.guild_id or 0, channel.id)
        await self._channels_done(interaction, f"denied music in {channel.mention}")

    @channels.command(name="remove", description="Take a channel off the allowed and denied lists")
    @app_commands.describe(channel="The channel")
    async def remove_channel(self, interaction: discord.Interaction[ChorusBot], channel: MusicChannel) -> None:
        if not await self.bot.store.clear_channel(interaction.guild_id or 0, channel.id):
            lists = await self.bot.store.channel_lists(interaction.guild_id or 0)
            await send_ephemeral(interaction, f"{channel.mention} isn't on either list. {lists.describe()}")
            return
        await self._channels_done(interaction, f"took {channel.mention} off the channel lists")

    @channels.command(name="list", description="Where music can be made")
    async def list_channels(self, interaction: discord.Interaction[ChorusBot]) -> None:
        lists = await self.bot.store.channel_lists(interaction.guild_id or 0)
        hint = "" if lists.allowed or lists.denied else (" Use `/mod channels allow` to restrict it to some, or "
                                                          "`/mod channels deny` to close one.")
        await send_ephemeral(interaction, lists.describe() + hint)

    async def _channels_done(self, interaction: discord.Interaction[ChorusBot], text: str) -> None:
        """Confirm a change with the rule that now applies."""
        lists = await self.bot.store.channel_lists(interaction.guild_id or 0)
        await self._done(interaction, f"{text}. {lists.describe().rstrip('.')}")

    # ----- words --------------------------------------------------------------------------------------------------

    @words.command(name="add", description="Refuse requests containing a word or phrase")
    @app_commands.describe(word="The word or phrase (whole words, any case)")
    async def add_word(self, interaction: discord.Interaction[ChorusBot],
                       word: app_commands.Range[str, 1, WORD_LIMIT]) -> None:
        word = " ".join(word.lower().split())
        await self.bot.store.add_word(interaction.guild_id or 0, word)
        await self._done(interaction, f"added \u201c{word}\u201d to the blocked words")

    @words.command(name="remove", description="Allow a blocked word again")
    @app_commands.describe(word="The word or phrase")
    async def remove_word(self, interaction: discord.Interaction[ChorusBot], word: str) -> None:
        word = " ".join(word.lower().split())
        if not await self.bot.store.remove_word(interaction.guild_id or 0, word):
            await send_ephemeral(interaction, f"\u201c{word}\u201d isn't on the list.")
            return
        await self._done(interaction, f"removed \u201c{word}\u201d from the blocked words")

    @remove_word.autocomplete("word")
    async def _word_choices(self, interaction: discord.Interaction[ChorusBot],
                            current: str) -> list[app_commands.Choice[str]]:
        words = await self.bot.store.blocked_words(interaction.guild_id or 0)
        return [app_commands.Choice(name=w, value=w) for w in words if current.lower() in w][:25]

    @words.command(name="list", description="The blocked words")
    async def list_words(self, interaction: discord.Interaction[ChorusBot]) -> None:
        words = await self.bot.store.blocked_words(interaction.guild_id or 0)
        text = ", ".join(f"\u201c{w}\u201d" for w in words) if words else "No words are blocked."
        await send_ephemeral(interaction, text[:1900])

    # ----- report, log channel, provider, moderator role -------------------------------------------------------

    @mod.command(name="report", description="Who spent what, tasks by state, and refunds")
    @app_commands.describe(period="How far back (default: the last week)")
    @app_commands.choices(period=[app_commands.Choice(name=name, value=name) for name in REPORT_PERIODS])
    async def report(self, interaction: discord.Interaction[ChorusBot], period: str = "week") -> None:
        seconds = REPORT_PERIODS.get(period)
        since = 0.0 if seconds is None else self.bot.clock() - seconds
        report = await self.bot.store.report(interaction.guild_id or 0, since)
        embed = discord.Embed(title=f"Chorus report \u2014 {'all time' if seconds is None else 'last ' + period}",
                              colour=discord.Colour.dark_orange())
        spenders = "\n".join(f"{n}. <@{user}> \u2014 {spent} credits"
                             for n, (user, spent) in enumerate(report.spent_by_member, start=1))
        embed.add_field(name="Top members by credits spent", value=spenders or "Nobody spent anything.", inline=False)
        states = " \u00b7 ".join(f"{STATE_WORDS.get(state, state)} {count}"
                                 for state, count in sorted(report.tasks_by_state.items()))
        embed.add_field(name="Tasks", value=states or "None.", inline=False)
        embed.add_field(name="Refunds", value=f"{report.refunds} ({report.refunded} credits)", inline=False)
        await send_ephemeral(interaction, embed=embed)

    @mod.command(name="storage", description="The songs and files the bot keeps for this server, and for how long")
    async def storage(self, interaction: discord.Interaction[ChorusBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        usage = await self.bot.media.usage(interaction.guild_id or 0)
        days = self.bot.settings.media_retention_days
        kept = (f"deleted {days:g} days after they were kept" if days is not None
                else "kept until the bot's operator deletes them")
        oldest = f", the oldest from <t:{int(usage.oldest)}:D>" if usage.oldest is not None else ""
        await send_ephemeral(
            interaction,
            f"\U0001f4be Kept for this server: **{usage.files:,}** files, {format_size(usage.bytes)}{oldest}.\n"
            f"Suno deletes its own files after 14 days; the bot's copies (which `/track show`, the Info button "
            f"and covers of old songs use) are {kept}.",
        )

    @mod.command(name="log-channel", description="Where moderator actions and spending are logged")
    @app_commands.describe(channel="The channel (leave out to stop logging)")
    async def log_channel(self, interaction: discord.Interaction[ChorusBot],
                          channel: TextChannel | None = None) -> None:
        guild_id = interaction.guild_id or 0
        await self.bot.store.set_policy(guild_id, log_channel_id=channel.id if channel else None)
        await self._done(interaction, f"set the log channel to {channel.mention}" if channel
                         else "turned the log channel off")

    @mod.command(name="provider-balance", description="Credits left on the bot's Suno provider account")
    async def provider_balance(self, interaction: discord.Interaction[ChorusBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            credits = await self.bot.provider.credits()
        except ProviderError as error:
            await send_ephemeral(interaction, f"I couldn't ask the provider: {error.user_message}")
            return
        label = self.bot.provider.capabilities.label
        sandbox = " (simulated credits)" if self.bot.settings.uses_sandbox else ""
        await send_ephemeral(interaction, f"The bot's account on {label} has **{credits:,}** credits left{sandbox}.")

    @mod.command(name="moderator-role", description="A role whose members may use /mod (administrators only)")
    @app_commands.describe(role="The role (leave out to remove)")
    async def moderator_role(self, interaction: discord.Interaction[ChorusBot], role: discord.Role | None = None) -> None:
        if not interaction.permissions.administrator:
            await send_ephemeral(interaction, "Only administrators can choose the moderator role.")
            return
        await self.bot.store.set_policy(interaction.guild_id or 0, moderator_role_id=role.id if role else None)
        await self._done(interaction, f"made {role.mention} the moderator role (also give it access to /mod in "
                         "Server Settings \u2192 Integrations)" if role else "removed the moderator role")

    async def _done(self, interaction: discord.Interaction[ChorusBot], text: str) -> None:
        """Confirm privately and log the action in the log channel."""
        await send_ephemeral(interaction, f"Done: {text}.", allowed_mentions=discord.AllowedMentions.none())
        await self.bot.audit.moderator(interaction.guild_id or 0, interaction.user.id, text)


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Moderation(bot))

