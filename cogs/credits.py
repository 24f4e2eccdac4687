"""/credits: a member's balance, allowance and when it refills, what things cost, and their last ledger rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.credits import OPERATION_NAMES, PERIOD_WORDS, GuildPolicy, next_period
from bot.flows import Feature, origin_of
from bot.formatting import shorten
from bot.store import LedgerRow

if TYPE_CHECKING:
    from bot.core import ChorusBot

HISTORY = 10
KIND_WORDS = {
    "allowance": "allowance refill",
    "grant": "granted",
    "revoke": "revoked",
    "reserve": "spent",
    "commit": "done",
    "refund": "refunded",
    "entry_refund": "returned for a free challenge entry",
    "reset": "reset",
}


class Credits(Feature):
    """See your credits."""

    @app_commands.command(name="credits", description="Your credits: balance, allowance, costs and recent changes")
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction[ChorusBot]) -> None:
        guild_id = interaction.guild_id or 0
        store = self.bot.store
        policy = await store.policy(guild_id)
        origin = origin_of(interaction)
        now = self.bot.clock()
        balance = await store.balance(guild_id, interaction.user.id, origin.allowance(policy, now))
        rows = await store.history(guild_id, interaction.user.id, HISTORY)
        embed = credits_embed(policy, balance, policy.allowance_for(origin.role_ids), int(next_period(policy.period, now)),
                              rows)
        await interaction.response.send_message(embed=embed, ephemeral=True)


def credits_embed(policy: GuildPolicy, balance: int, allowance: int, refill: int, rows: list[LedgerRow]) -> discord.Embed:
    embed = discord.Embed(title="Your credits", colour=discord.Colour.gold())
    embed.description = (
        f"**{balance}** credit{'s' if balance != 1 else ''} available.\n"
        f"Allowance: **{allowance}** per {PERIOD_WORDS[policy.period]}, refilled <t:{refill}:R> "
        "(topped up to the allowance; credits a moderator granted above it are kept)."
    )
    costs = "\n".join(f"{OPERATION_NAMES[operation]}: **{cost}**" for operation, cost in policy.cost_table().items())
    embed.add_field(name="Costs", value=costs, inline=False)
    embed.add_field(name=f"Last {HISTORY} changes", value="\n".join(map(ledger_line, rows)) or "None yet.",
                    inline=False)
    embed.set_footer(text="Failed requests are refunded automatically.")
    return embed


def ledger_line(row: LedgerRow) -> str:
    amount = f"{row.amount:+d}" if row.amount else "\u00b10"
    what = KIND_WORDS.get(row.kind, row.kind)
    if row.operation and row.kind in ("reserve", "refund", "commit"):
        what += f" \u00b7 {OPERATION_NAMES.get(row.operation, row.operation)}"
    if row.task_id is not None:
        what += f" (task #{row.task_id})"
    if row.actor_id is not None:
        what += f" by <@{row.actor_id}>"
    if row.reason and row.kind not in ("allowance", "commit", "reserve"):
        what += f": {shorten(row.reason, 120)}"
    return f"<t:{int(row.created_at)}:R> **{amount}** {what}"


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Credits(bot))
