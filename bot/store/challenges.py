"""Community challenges: the challenge, its entries (tracks the bot made), and the votes on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from bot.store.credits import NET_SPEND, CreditStore
from bot.store.db import Tx

OPEN = "open"
CLOSED = "closed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class NewChallenge:
    guild_id: int
    channel_id: int
    creator_id: int
    theme: str
    description: str
    required_style: str
    max_entries: int
    reward_credits: int
    free_entries: bool
    anonymous: bool
    votes_per_member: int
    min_membership: float  # seconds in the server before one may vote
    opens_at: float
    closes_at: float


@dataclass(frozen=True)
class Challenge(NewChallenge):
    id: int
    thread_id: int | None
    announcement_id: int | None
    results_message_id: int | None
    state: str
    ended_at: float | None

    @property
    def is_open(self) -> bool:
        return self.state == OPEN


@dataclass(frozen=True)
class Entry:
    id: int
    challenge_id: int
    number: int  # "Entry #3" within its challenge
    user_id: int
    task_id: int
    audio_id: str
    message_id: int | None
    submitted_at: float
    disqualified: str | None
    votes: int = 0


@dataclass(frozen=True)
class EntryAdded:
    """A stored entry, and the credits its free entry returned (0: the song cost nothing, or its cost was
    already returned)."""

    entry: Entry
    refunded: int


@dataclass(frozen=True)
class VoteResult:
    """What a click on Vote did: "voted", "retracted", or why not ("closed", "own", "limit", "disqualified")."""

    outcome: str
    left: int


class ChallengeStore(CreditStore):
    async def create_challenge(self, new: NewChallenge) -> Challenge:
        names = [f.name for f in fields(NewChallenge)]
        async with self.transaction() as db:
            challenge_id = await db.value(
                f"INSERT INTO challenges ({', '.join(names)}, state) VALUES ({', '.join('?' for _ in names)}, ?) "
                "RETURNING id",
                (*(getattr(new, name) for name in names), OPEN),
            )
        challenge = await self.challenge(int(challenge_id))
        assert challenge is not None
        return challenge

    async def set_challenge_messages(self, challenge_id: int, *, announcement_id: int | None = None,
                                     thread_id: int | None = None, results_message_id: int | None = None) -> None:
        await self._execute(
            """UPDATE challenges SET announcement_id = COALESCE(?, announcement_id),
                   thread_id = COALESCE(?, thread_id), results_message_id = COALESCE(?, results_message_id)
               WHERE id = ?""",
            (announcement_id, thread_id, results_message_id, challenge_id),
        )

    async def challenge(self, challenge_id: int) -> Challenge | None:
        rows = await self._rows("SELECT * FROM challenges WHERE id = ?", (challenge_id,))
        return _challenge(rows[0]) if rows else None

    async def challenges(self, guild_id: int, *, open_only: bool = False, limit: int = 10) -> list[Challenge]:
        rows = await self._rows(
            f"SELECT * FROM challenges WHERE guild_id = ? {'AND state = ?' if open_only else ''} "
            "ORDER BY (state = 'open') DESC, id DESC LIMIT ?",
            (guild_id, OPEN, limit) if open_only else (guild_id, limit),
        )
        return [_challenge(row) for row in rows]

    async def due_challenges(self, now: float) -> list[Challenge]:
        rows = await self._rows("SELECT * FROM challenges WHERE state = ? AND closes_at <= ? ORDER BY closes_at",
                                (OPEN, now))
        return [_challenge(row) for row in rows]

    async def next_deadline(self) -> float | None:
        value = await self._value("SELECT MIN(closes_at) FROM challenges WHERE state = ?", (OPEN,))
        return float(value) if value is not None else None

    async def end_challenge(self, challenge_id: int, state: str) -> bool:
        """Close or cancel an open challenge; only the first caller wins (the deadline job, /challenge end)."""
        async with self.transaction() as db:
            changed = await db.execute("UPDATE challenges SET state = ?, ended_at = ? WHERE id = ? AND state = ?",
                                       (state, self._clock(), challenge_id, OPEN))
            return changed == 1

    async def close_challenge(self, challenge_id: int, rewarded: int,
                              reason: Callable[[Challenge, int], str]) -> tuple[Challenge, list[Entry]] | None:
        """Close an open challenge and grant its rewards in the same transaction (the entries with votes, best
        first, the first ``rewarded`` of them; ``reason(challenge, place)`` names each grant). Returns the
        challenge and its entries; None if it had already ended (another process or /challenge end won)."""
        async with self.transaction() as db:
            closed = await db.execute("UPDATE challenges SET state = ?, ended_at = ? WHERE id = ? AND state = ?",
                                      (CLOSED, self._clock(), challenge_id, OPEN))
            if closed != 1:
                return None
            challenge = _challenge((await db.rows("SELECT * FROM challenges WHERE id = ?", (challenge_id,)))[0])
            entries = [_entry(row) for row in await db.rows(_ENTRIES_OF, (challenge_id,))]
            if challenge.reward_credits > 0:
                for place, entry in enumerate(winners(entries, rewarded)):
                    await self._ledger(db, challenge.guild_id, entry.user_id, "grant", challenge.reward_credits,
                                       reason=reason(challenge, place))
        return challenge, entries

    # ----- entries ----------------------------------------------------------------------------------------

    async def add_entry(self, challenge: Challenge, user_id: int, task_id: int, audio_id: str, *,
                        refund_reason: str | None = None) -> EntryAdded | None:
        """Store an entry unless the member reached the challenge's limit or entered this track already
        (None when refused). With ``refund_reason`` (a free-entry challenge), what the song cost comes back in the
        same transaction, at most once per song whatever the entries, challenges or takes."""
        async with self.transaction() as db:
            mine = await db.value(
                "SELECT COUNT(*) FROM challenge_entries WHERE challenge_id = ? AND user_id = ? AND disqualified IS NULL",
                (challenge.id, user_id),
            )
            taken = bool(await db.rows("SELECT 1 FROM challenge_entries WHERE challenge_id = ? AND audio_id = ?",
                                       (challenge.id, audio_id)))
            if mine >= challenge.max_entries or taken:
                return None
            number = await db.value("SELECT COALESCE(MAX(number), 0) + 1 FROM challenge_entries WHERE challenge_id = ?",
                                    (challenge.id,))
            entry_id = await db.value(
                "INSERT INTO challenge_entries (challenge_id, number, user_id, task_id, audio_id, submitted_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (challenge.id, number, user_id, task_id, audio_id, self._clock()),
            )
            refunded = 0 if refund_reason is None else await self._return_cost(db, challenge.guild_id, user_id,
                                                                                task_id, refund_reason)
        entry = await self.entry(int(entry_id))
        assert entry is not None
        return EntryAdded(entry, refunded)

    async def _return_cost(self, db: Tx, guild_id: int, user_id: int, task_id: int,
                           reason: str) -> int:
        """Give back what is left of a song's cost (its reservation less any refund or earlier return); the
        unique index on entry_refund rows makes a second return impossible even for concurrent entries."""
        left = int(await db.value(f"SELECT -COALESCE(SUM(amount), 0) FROM ledger WHERE task_id = ? AND {NET_SPEND}",
                                  (task_id,)))
        if left <= 0:
            return 0
        added = await db.execute(
            """INSERT INTO ledger (guild_id, user_id, kind, amount, task_id, actor_id, reason, created_at)
               VALUES (?, ?, 'entry_refund', ?, ?, NULL, ?, ?) ON CONFLICT DO NOTHING""",
            (guild_id, user_id, left, task_id, reason, self._clock()),
        )
        return left if added == 1 else 0

    async def set_entry_message(self, entry_id: int, message_id: int) -> None:
        await self._execute("UPDATE challenge_entries SET message_id = ? WHERE id = ?", (message_id, entry_id))

    async def disqualify(self, entry_id: int, reason: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE challenge_entries SET disqualified = ? WHERE id = ?", (reason, entry_id))
            await db.execute("DELETE FROM challenge_votes WHERE entry_id = ?", (entry_id,))

    async def entry(self, entry_id: int) -> Entry | None:
        rows = await self._rows(f"{_ENTRY_SELECT} WHERE e.id = ? GROUP BY e.id", (entry_id,))
        return _entry(rows[0]) if rows else None

    async def entries(self, challenge_id: int, *, include_disqualified: bool = True) -> list[Entry]:
        """A challenge's entries with their vote counts, the most votes first (earliest entry wins a tie)."""
        rows = await self._rows(_ENTRIES if include_disqualified else _ENTRIES_OF, (challenge_id,))
        return [_entry(row) for row in rows]

    # ----- votes --------------------------------------------------------------------------------------------

    async def toggle_vote(self, challenge: Challenge, entry: Entry, voter_id: int) -> VoteResult:
        """Vote for an entry, or take the vote back if it was given; atomically within the member's limit."""
        async with self.transaction() as db:
            used = await _votes_used(db, challenge.id, voter_id)
            if await db.execute("DELETE FROM challenge_votes WHERE entry_id = ? AND voter_id = ?",
                                (entry.id, voter_id)):
                return VoteResult("retracted", challenge.votes_per_member - used + 1)
            if used >= challenge.votes_per_member:
                return VoteResult("limit", 0)
            await db.execute(
                "INSERT INTO challenge_votes (challenge_id, entry_id, voter_id, created_at) VALUES (?, ?, ?, ?)",
                (challenge.id, entry.id, voter_id, self._clock()),
            )
            return VoteResult("voted", challenge.votes_per_member - used - 1)


_ENTRY_SELECT = (
    "SELECT e.*, COUNT(v.voter_id) AS votes FROM challenge_entries e "
    "LEFT JOIN challenge_votes v ON v.entry_id = e.id"
)
_ENTRIES = f"{_ENTRY_SELECT} WHERE e.challenge_id = ? GROUP BY e.id ORDER BY votes DESC, e.submitted_at, e.id"
# The entries that count (not disqualified), the most votes first (the earliest entry wins a tie).
_ENTRIES_OF = (f"{_ENTRY_SELECT} WHERE e.challenge_id = ? AND e.disqualified IS NULL "
               "GROUP BY e.id ORDER BY votes DESC, e.submitted_at, e.id")


def winners(entries: list[Entry], places: int) -> list[Entry]:
    """The entries that placed: those with votes, best first."""
    return [entry for entry in entries if entry.votes > 0][:places]


async def _votes_used(db: Tx, challenge_id: int, voter_id: int) -> int:
    return int(await db.value("SELECT COUNT(*) FROM challenge_votes WHERE challenge_id = ? AND voter_id = ?",
                              (challenge_id, voter_id)))


def _challenge(row: Any) -> Challenge:
    values: dict[str, Any] = {f.name: row[f.name] for f in fields(Challenge)}
    values["free_entries"] = bool(values["free_entries"])
    values["anonymous"] = bool(values["anonymous"])
    return Challenge(**values)


def _entry(row: Any) -> Entry:
    return Entry(**{f.name: row[f.name] for f in fields(Entry)})
