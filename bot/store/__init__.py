"""Persistent state in SQLite (aiosqlite, WAL) or PostgreSQL (asyncpg): tasks and tracks, the credit ledger and server policy,
challenges."""

from __future__ import annotations

from bot.store.challenges import (
    CANCELLED,
    CLOSED,
    OPEN,
    Challenge,
    Entry,
    EntryAdded,
    NewChallenge,
    VoteResult,
    winners,
)
from bot.store.credits import Admission, Allowance, Charge, LedgerRow, Report
from bot.store.schema import MIGRATIONS
from bot.store.studio import MemberSettings, NewPersona, Persona, StudioStore, TopTrack
from bot.store.tasks import CallbackTarget, FinishedTrack, NewTask, Waiting

__all__ = [
    "CANCELLED", "CLOSED", "MIGRATIONS", "OPEN", "Admission", "Allowance", "CallbackTarget", "Challenge", "Charge",
    "Entry",
    "EntryAdded",
    "LedgerRow", "MemberSettings",
    "FinishedTrack", "NewChallenge", "NewPersona", "NewTask", "Persona", "Report", "Store", "TopTrack", "VoteResult", "Waiting", "winners",
]


class Store(StudioStore):
    """All database access: one connection; multi-statement writes are serialized transactions."""
