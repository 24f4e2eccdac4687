"""Persistent state in SQLite (aiosqlite, WAL): tasks and tracks, the credit ledger and server policy."""

from __future__ import annotations

from bot.store.credits import Admission, Allowance, CreditStore, LedgerRow, Report
from bot.store.schema import MIGRATIONS
from bot.store.tasks import NewTask

__all__ = ["MIGRATIONS", "Admission", "Allowance", "LedgerRow", "NewTask", "Report", "Store"]


class Store(CreditStore):
    """All database access: one connection; multi-statement writes are serialized transactions."""
