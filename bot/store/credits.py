"""The credit ledger and server policy. A member's balance is the sum of their ledger rows; every change is a
row saying who made it and why. Reservations are atomic with the task they pay for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.credits import GuildPolicy
from bot.models import PENDING_STATES, ChannelLists, Task, TaskState, TaskUpdate
from bot.store.db import Database, Tx
from bot.store.shared import SharedWorkStore
from bot.store.tasks import NewTask

_PENDING = tuple(state.value for state in PENDING_STATES)
_PENDING_SQL = "(" + ", ".join("?" for _ in _PENDING) + ")"
ADMISSION_BATCH = 500  # requests admitted in one transaction at most
# The ledger rows that make up what a task cost: its reservation, minus its refund and a free entry's return
# (and the grants with a task id that free entries were recorded as before schema 7).
NET_SPEND = "(kind IN ('reserve', 'refund', 'entry_refund') OR (kind = 'grant' AND task_id IS NOT NULL))"
_SETTINGS = ("allowance", "period", "member_running", "guild_running", "log_channel_id", "moderator_role_id")


@dataclass(frozen=True)
class LedgerRow:
    id: int
    guild_id: int
    user_id: int
    kind: str
    amount: int
    task_id: int | None
    operation: str | None
    actor_id: int | None
    reason: str
    created_at: float


@dataclass(frozen=True)
class Allowance:
    """What a member gets per period, and the start of the current period (for the refill)."""

    amount: int
    period_start: float


@dataclass(frozen=True)
class Admission:
    """The outcome of :meth:`CreditStore.admit`: the task, or why not (``refused``: "member", "guild" or
    "balance", with the running tasks or the balance to show)."""

    task: Task | None
    balance: int
    refused: str | None = None
    running: tuple[Task, ...] = ()


@dataclass
class _AdmitRequest:
    new: NewTask
    cost: int
    operation: str
    allowance: Allowance
    member_cap: int
    guild_cap: int
    outcome: asyncio.Future[Admission]


def _marks(values: list[int]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


def _new_task(task_id: int, new: NewTask, now: float) -> Task:
    """The task row just inserted, without reading it back."""
    return Task(id=task_id, kind=new.request.kind.value, provider=new.provider, provider_task_id=None,
                callback_token=new.callback_token, guild_id=new.guild_id, channel_id=new.channel_id,
                user_id=new.user_id, status_message_id=None, request=new.request, state=TaskState.WAITING,
                upload_limit=new.upload_limit, created_at=now, updated_at=now, private=new.private,
                thread_parent_id=new.thread_parent_id)


@dataclass(frozen=True)
class Charge:
    """Credits taken for an operation answered at once."""

    guild_id: int
    user_id: int
    operation: str
    cost: int
    balance: int  # after the charge


@dataclass(frozen=True)
class Report:
    spent_by_member: list[tuple[int, int]]
    tasks_by_state: dict[str, int]
    refunds: int
    refunded: int


class CreditStore(SharedWorkStore):
    """Ledger, policy, blocks, channels and words."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        super().__init__(db, clock)
        self._admissions: list[_AdmitRequest] = []
        self._admitting: asyncio.Task[None] | None = None

    # ----- admission and settlement -----------------------------------------------------------------------

    async def admit(
        self,
        new: NewTask,
        *,
        cost: int,
        operation: str,
        allowance: Allowance,
        member_cap: int,
        guild_cap: int,
    ) -> Admission:
        """Check the running caps, refill the allowance if a new period began, check the balance, then store
        the task and reserve its cost, atomically: concurrent requests can never overspend.

        Requests that arrive together are admitted together, in arrival order, in one transaction with a
        handful of statements (group commit), so a rush costs no more round trips than one request."""
        request = _AdmitRequest(new, cost, operation, allowance, member_cap, guild_cap,
                                asyncio.get_running_loop().create_future())
        self._admissions.append(request)
        if self._admitting is None or self._admitting.done():
            self._admitting = asyncio.create_task(self._admit_waiting())
        admission = await request.outcome
        if admission.refused in ("member", "guild"):
            where = ("guild_id = ? AND user_id = ?", (new.guild_id or 0, new.user_id)) \
                if admission.refused == "member" else ("guild_id = ?", (new.guild_id or 0,))
            admission = replace(admission, running=await self._running(*where))
        return admission

    async def _admit_waiting(self) -> None:
        while self._admissions:
            batch = self._admissions[:ADMISSION_BATCH]
            del self._admissions[:ADMISSION_BATCH]
            try:
                outcomes = await self._admit_batch(batch)
            except BaseException as error:
                for request in batch:
                    if not request.outcome.done():
                        request.outcome.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for request, outcome in zip(batch, outcomes, strict=True):
                if not request.outcome.done():
                    request.outcome.set_result(outcome)

    async def _admit_batch(self, batch: list[_AdmitRequest]) -> list[Admission]:
        guilds = sorted({r.new.guild_id or 0 for r in batch})
        users = sorted({r.new.user_id for r in batch})
        in_guilds, in_users = _marks(guilds), _marks(users)
        outcomes: list[Admission] = []
        async with self.transaction() as db:
            running: dict[tuple[int, int], int] = {}
            for guild_id, user_id, count in await db.rows(
                f"""SELECT guild_id, user_id, COUNT(*) FROM tasks WHERE guild_id IN {in_guilds}
                        AND state IN {_PENDING_SQL} GROUP BY guild_id, user_id""", (*guilds, *_PENDING)):
                running[(guild_id, user_id)] = count
            in_guild: dict[int, int] = {}
            for (guild_id, _), count in running.items():
                in_guild[guild_id] = in_guild.get(guild_id, 0) + count
            balances: dict[tuple[int, int], int] = {
                (guild_id, user_id): int(total) for guild_id, user_id, total in await db.rows(
                    f"""SELECT guild_id, user_id, SUM(amount) FROM ledger WHERE guild_id IN {in_guilds}
                            AND user_id IN {in_users} GROUP BY guild_id, user_id""", (*guilds, *users))}
            refilled = {
                (guild_id, user_id, start) for guild_id, user_id, start in await db.rows(
                    f"""SELECT guild_id, user_id, period_start FROM ledger WHERE kind = 'allowance'
                            AND guild_id IN {in_guilds} AND user_id IN {in_users}""", (*guilds, *users))}
            ids = iter(await self._db.next_ids(db, "tasks", len(batch)))  # given here: rows go in in bulk
            now = self._clock()
            tasks: list[tuple[Any, ...]] = []
            ledger: list[tuple[Any, ...]] = []
            for request in batch:
                new, guild_id = request.new, request.new.guild_id or 0
                member = (guild_id, new.user_id)
                if running.get(member, 0) >= request.member_cap:
                    outcomes.append(Admission(None, 0, "member"))
                    continue
                if in_guild.get(guild_id, 0) >= request.guild_cap:
                    outcomes.append(Admission(None, 0, "guild"))
                    continue
                balance = balances.get(member, 0)
                period = (guild_id, new.user_id, request.allowance.period_start)
                if period not in refilled:  # the first activity of a period tops the balance up to the allowance
                    refilled.add(period)
                    top_up = max(0, request.allowance.amount - balance)
                    ledger.append((guild_id, new.user_id, "allowance", top_up, None, None, None,
                                   f"allowance refill to {request.allowance.amount}", period[2], now))
                    balance += top_up
                if balance < request.cost:
                    balances[member] = balance
                    outcomes.append(Admission(None, balance, "balance"))
                    continue
                task_id = next(ids)
                tasks.append((task_id, new.request.kind.value, new.provider, new.callback_token, new.guild_id,
                              new.channel_id, new.user_id, new.request.to_json(), new.request.reuse_key,
                              TaskState.WAITING.value, new.upload_limit, now, now, int(new.private),
                              new.thread_parent_id))
                ledger.append((guild_id, new.user_id, "reserve", -request.cost, task_id, request.operation, None, "",
                               None, now))
                balances[member] = balance - request.cost
                running[member] = running.get(member, 0) + 1
                in_guild[guild_id] = in_guild.get(guild_id, 0) + 1
                outcomes.append(Admission(_new_task(task_id, new, now), balance - request.cost))
            if tasks:
                await db.executemany(
                    """INSERT INTO tasks (id, kind, provider, callback_token, guild_id, channel_id, user_id, params,
                           reuse_key, state, upload_limit, created_at, updated_at, private, thread_parent_id)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", tasks)
            if ledger:
                await db.executemany(
                    """INSERT INTO ledger (guild_id, user_id, kind, amount, task_id, operation, actor_id, reason,
                           period_start, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", ledger)
        return outcomes

    async def _settle(self, tx: Tx, task_id: int, update: TaskUpdate, now: float) -> None:
        """Commit the reservation of a task that succeeded; refund one that failed, naming the reason."""
        reserve = await tx.rows("SELECT guild_id, user_id, amount, operation FROM ledger WHERE task_id = ? AND "
                                "kind = 'reserve'", (task_id,))
        if not reserve:
            return
        guild_id, user_id, amount, operation = reserve[0]
        if update.state is TaskState.SUCCEEDED:
            kind, amount, reason = "commit", 0, "done"
        else:
            kind, amount, reason = "refund", -amount, refund_reason(update)
        await tx.execute(
            """INSERT INTO ledger (guild_id, user_id, kind, amount, task_id, operation, actor_id, reason,
                   period_start, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?) ON CONFLICT DO NOTHING""",
            (guild_id, user_id, kind, amount, task_id, operation, reason, now),
        )

    async def _running(self, where: str, params: tuple[Any, ...]) -> tuple[Task, ...]:
        """Pending tasks (read on the transaction's own connection)."""
        return tuple(await self._many(f"SELECT * FROM tasks WHERE {where} AND state IN {_PENDING_SQL} ORDER BY id",
                                      (*params, *_PENDING)))

    # ----- balances and moderator changes -----------------------------------------------------------------

    async def balance(self, guild_id: int, user_id: int, allowance: Allowance) -> int:
        """The balance now (refilling first if a new period began)."""
        async with self.transaction() as db:
            return await self._refilled_balance(db, guild_id, user_id, allowance)

    async def adjust(
        self,
        guild_id: int,
        user_id: int,
        allowance: Allowance,
        *,
        kind: str,
        actor_id: int,
        reason: str,
        amount: int | None = None,
        target: int | None = None,
    ) -> tuple[int, int]:
        """A moderator's change: add ``amount`` ("grant"), take it ("revoke", never below zero), or move the
        balance to ``target`` ("set", recorded as a grant or revoke of the difference; "reset").
        Returns (change, new balance)."""
        async with self.transaction() as db:
            balance = await self._refilled_balance(db, guild_id, user_id, allowance)
            if target is not None:
                change = max(0, target) - balance
            elif kind == "revoke":
                change = -min(amount or 0, max(balance, 0))
            else:
                change = amount or 0
            if kind == "set":
                kind = "grant" if change >= 0 else "revoke"
            await self._ledger(db, guild_id, user_id, kind, change, actor_id=actor_id, reason=reason)
        return change, balance + change

    async def charge(self, guild_id: int, user_id: int, allowance: Allowance, *, operation: str, cost: int,
                     reason: str) -> Charge | None:
        """Take ``cost`` for an operation the provider answers at once (no task): the charge, to refund if the
        provider fails, or None when the balance is short. Atomic, as admissions are."""
        async with self.transaction() as db:
            balance = await self._refilled_balance(db, guild_id, user_id, allowance)
            if balance < cost:
                return None
            await self._ledger(db, guild_id, user_id, "reserve", -cost, operation=operation, reason=reason)
        return Charge(guild_id, user_id, operation, cost, balance - cost)

    async def refund_charge(self, charge: Charge, reason: str) -> None:
        """Give a charge back (the caller does so once, when the provider failed)."""
        if charge.cost:
            async with self.transaction() as db:
                await self._ledger(db, charge.guild_id, charge.user_id, "refund", charge.cost,
                                   operation=charge.operation, reason=reason)

    async def grant(self, guild_id: int, user_id: int, amount: int, reason: str, *,
                    actor_id: int | None = None) -> None:
        """Credits given by the bot itself (challenge rewards)."""
        async with self.transaction() as db:
            await self._ledger(db, guild_id, user_id, "grant", amount, actor_id=actor_id, reason=reason)

    async def credit_totals(self) -> tuple[int, int]:
        """Credits reserved for requests and refunded, over all time and servers."""
        rows = await self._rows(
            "SELECT COALESCE(-SUM(CASE WHEN kind = 'reserve' THEN amount END), 0), "
            "COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount END), 0) FROM ledger")
        return int(rows[0][0]), int(rows[0][1])

    async def refund_of(self, task_id: int) -> LedgerRow | None:
        rows = await self._rows("SELECT * FROM ledger WHERE task_id = ? AND kind = 'refund'", (task_id,))
        return _ledger_row(rows[0]) if rows else None

    async def history(self, guild_id: int, user_id: int, limit: int = 10) -> list[LedgerRow]:
        rows = await self._rows(
            "SELECT * FROM ledger WHERE guild_id = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, user_id, limit),
        )
        return [_ledger_row(row) for row in rows]

    async def report(self, guild_id: int, since: float) -> Report:
        spent = await self._rows(
            f"""SELECT user_id, -SUM(amount) AS spent FROM ledger
               WHERE guild_id = ? AND {NET_SPEND} AND created_at >= ?
               GROUP BY user_id HAVING SUM(amount) < 0 ORDER BY spent DESC, user_id LIMIT 10""",
            (guild_id, since),
        )
        states = await self._rows(
            "SELECT state, COUNT(*) FROM tasks WHERE guild_id = ? AND created_at >= ? GROUP BY state",
            (guild_id, since),
        )
        refunds = await self._rows(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger WHERE guild_id = ? AND kind = 'refund' "
            "AND created_at >= ?",
            (guild_id, since),
        )
        return Report([(row[0], row[1]) for row in spent], {row[0]: row[1] for row in states},
                      refunds[0][0], refunds[0][1])

    async def _refilled_balance(self, db: Tx, guild_id: int, user_id: int,
                                allowance: Allowance) -> int:
        """Top the balance up to the allowance once per period (unused allowance does not pile up; grants
        above it are kept), then return it."""
        balance = await self._sum(db, guild_id, user_id)
        refilled = bool(await db.rows(
            "SELECT 1 FROM ledger WHERE guild_id = ? AND user_id = ? AND kind = 'allowance' AND period_start = ?",
            (guild_id, user_id, allowance.period_start),
        ))
        if not refilled:
            top_up = max(0, allowance.amount - balance)
            await self._ledger(db, guild_id, user_id, "allowance", top_up, period_start=allowance.period_start,
                               reason=f"allowance refill to {allowance.amount}")
            balance += top_up
        return balance

    async def _sum(self, db: Tx, guild_id: int, user_id: int) -> int:
        return int(await db.value("SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE guild_id = ? AND user_id = ?",
                                  (guild_id, user_id)))

    async def _ledger(
        self,
        db: Tx,
        guild_id: int,
        user_id: int,
        kind: str,
        amount: int,
        *,
        task_id: int | None = None,
        operation: str | None = None,
        actor_id: int | None = None,
        reason: str = "",
        period_start: float | None = None,
    ) -> None:
        await db.execute(
            """INSERT INTO ledger (guild_id, user_id, kind, amount, task_id, operation, actor_id, reason,
                   period_start, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (guild_id, user_id, kind, amount, task_id, operation, actor_id, reason, period_start, self._clock()),
        )

    # ----- policy -------------------------------------------------------------------------------------------

    async def policy(self, guild_id: int) -> GuildPolicy:
        settings = await self._rows("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
        values = {name: settings[0][name] for name in _SETTINGS if settings and settings[0][name] is not None}
        costs = {row[0]: row[1] for row in await self._rows(
            "SELECT operation, amount FROM costs WHERE guild_id = ?", (guild_id,))}
        roles = {row[0]: row[1] for row in await self._rows(
            "SELECT role_id, amount FROM role_allowances WHERE guild_id = ?", (guild_id,))}
        return GuildPolicy(guild_id, costs=costs, role_allowances=roles, **values)

    async def set_policy(self, guild_id: int, **values: Any) -> None:
        """Change server settings (allowance, period, member_running, guild_running, log_channel_id,
        moderator_role_id); a value of None restores the default."""
        unknown = set(values) - set(_SETTINGS)
        if unknown:
            raise ValueError(f"unknown settings {unknown}")
        columns = ", ".join(values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values)
        await self._execute(
            f"INSERT INTO guild_settings (guild_id, {columns}) VALUES (?, {', '.join('?' for _ in values)}) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {updates}",
            (guild_id, *values.values()),
        )

    async def set_cost(self, guild_id: int, operation: str, amount: int) -> None:
        await self._execute(
            "INSERT INTO costs (guild_id, operation, amount) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, operation) DO UPDATE SET amount = excluded.amount",
            (guild_id, operation, amount),
        )

    async def set_role_allowance(self, guild_id: int, role_id: int, amount: int | None) -> None:
        if amount is None:
            await self._execute("DELETE FROM role_allowances WHERE guild_id = ? AND role_id = ?", (guild_id, role_id))
            return
        await self._execute(
            "INSERT INTO role_allowances (guild_id, role_id, amount) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, role_id) DO UPDATE SET amount = excluded.amount",
            (guild_id, role_id, amount),
        )

    # ----- blocks, channels, words ----------------------------------------------------------------------------

    async def block(self, guild_id: int, user_id: int, reason: str, actor_id: int) -> None:
        await self._execute(
            "INSERT INTO blocks (guild_id, user_id, reason, actor_id, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET reason = excluded.reason, actor_id = excluded.actor_id",
            (guild_id, user_id, reason, actor_id, self._clock()),
        )

    async def unblock(self, guild_id: int, user_id: int) -> bool:
        was = await self.block_reason(guild_id, user_id)
        await self._execute("DELETE FROM blocks WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
        return was is not None

    async def block_reason(self, guild_id: int, user_id: int) -> str | None:
        value = await self._value("SELECT reason FROM blocks WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
        return str(value) if value is not None else None

    async def channel_lists(self, guild_id: int) -> ChannelLists:
        rows = await self._rows(
            "SELECT channel_id, 1 FROM allowed_channels WHERE guild_id = ? UNION ALL "
            "SELECT channel_id, 0 FROM denied_channels WHERE guild_id = ? ORDER BY 1", (guild_id, guild_id))
        return ChannelLists(allowed=tuple(row[0] for row in rows if row[1]),
                            denied=tuple(row[0] for row in rows if not row[1]))

    async def allow_channel(self, guild_id: int, channel_id: int) -> None:
        """Put a channel on the allowed list (and off the denied one)."""
        await self._set_channel(guild_id, channel_id, "allowed_channels")

    async def deny_channel(self, guild_id: int, channel_id: int) -> None:
        """Put a channel on the denied list (and off the allowed one)."""
        await self._set_channel(guild_id, channel_id, "denied_channels")

    async def clear_channel(self, guild_id: int, channel_id: int) -> bool:
        """Take a channel off both lists; False if it was on neither."""
        return bool(await self._set_channel(guild_id, channel_id, None))

    async def _set_channel(self, guild_id: int, channel_id: int, table: str | None) -> int:
        async def run(tx: Tx) -> int:
            removed = 0
            for name in ("allowed_channels", "denied_channels"):
                removed += await tx.execute(f"DELETE FROM {name} WHERE guild_id = ? AND channel_id = ?",
                                            (guild_id, channel_id))
            if table is not None:
                await tx.execute(f"INSERT INTO {table} (guild_id, channel_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                 (guild_id, channel_id))
            return removed

        removed: int = await self._db.write(run)
        return removed

    async def blocked_words(self, guild_id: int) -> list[str]:
        return [row[0] for row in await self._rows(
            "SELECT word FROM blocked_words WHERE guild_id = ? ORDER BY word", (guild_id,))]

    async def add_word(self, guild_id: int, word: str) -> None:
        await self._execute("INSERT INTO blocked_words (guild_id, word) VALUES (?, ?) ON CONFLICT DO NOTHING",
                            (guild_id, word))

    async def remove_word(self, guild_id: int, word: str) -> bool:
        had = word in await self.blocked_words(guild_id)
        await self._execute("DELETE FROM blocked_words WHERE guild_id = ? AND word = ?", (guild_id, word))
        return had


def refund_reason(update: TaskUpdate) -> str:
    """Why a task was refunded: what the member was told, then the details (the provider's words, its code)."""
    details = ", ".join(part for part in (update.error_message or "",
                                          f"code {update.error_code}" if update.error_code is not None else "")
                        if part)
    reason = update.reason or "failed"
    return f"{reason} ({details})" if details and details not in reason else reason


def _ledger_row(row: Any) -> LedgerRow:
    return LedgerRow(row["id"], row["guild_id"], row["user_id"], row["kind"], row["amount"], row["task_id"],
                     row["operation"], row["actor_id"], row["reason"], row["created_at"])
