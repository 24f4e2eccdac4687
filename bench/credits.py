"""Benchmark: concurrent credit reservations against the bot's real store.

Method. ``Store.open`` (the bot's SQLite store: WAL, foreign keys, busy timeout, migrations) on a fresh
database in a temporary folder, no Discord. 1,000 coroutines call ``store.admit(...)`` at once, the way
``SongService.submit`` calls it for /generate: one member, cost 1, an allowance of 100 (the first admission
tops the balance up to it), running caps far above 1,000 so only the balance decides. Exactly 100 must be
accepted and 900 refused for the balance (asserted: the benchmark fails otherwise). ``reservations_per_s``
is 1,000 / the wall time of the whole burst (accepted and refused alike).

Next to it, in the same run and on the same disk: raw SQLite through aiosqlite with the store's
connection settings (autocommit, ``journal_mode=WAL``, ``foreign_keys=ON``, ``busy_timeout=5000``, default
``synchronous``): 1,000 concurrent single-row conditional updates ``UPDATE balance SET amount = amount - 1
WHERE id = 1 AND amount >= 1`` against an amount of 100 (the same semantics: exactly 100 succeed, the 900
others change nothing), ``credits_raw_updates_per_s``; and 1,000 concurrent single-row updates that all
write (a commit each), ``credits_raw_writes_per_s``. Rounds on fresh databases are repeated up to
``--rounds`` times while under ``--budget`` seconds; the median round is reported.

Reproduce: ``python -m bench.credits [--rounds 3] [--budget 20] [--attempts 1000] [--balance 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiosqlite

from bench.common import Figures, cli, progress

GUILD_ID = 1_310_000_000_000_000_100
CHANNEL_ID = 1_310_000_000_000_000_200
USER_ID = 1_310_000_000_000_000_300


async def reservations(folder: Path, attempts: int, balance: int) -> tuple[float, int, dict[str, int]]:
    """(seconds for the burst, accepted, refusals by reason) through ``Store.admit``."""
    from bot.credits import period_start
    from bot.models import MusicRequest
    from bot.store import Allowance, NewTask, Store

    store = await Store.open(folder / "bot.db")
    try:
        allowance = Allowance(balance, period_start("weekly", time.time()))

        async def admit(n: int) -> str | None:
            new = NewTask("kie", f"bench-token-{n:06d}-xxxxxxxx", GUILD_ID, CHANNEL_ID, USER_ID,
                          MusicRequest(prompt=f"a benchmark ballad {n}"), 10 * 1024 * 1024)
            admission = await store.admit(new, cost=1, operation="generate", allowance=allowance,
                                          member_cap=attempts * 10, guild_cap=attempts * 10)
            return None if admission.task is not None else admission.refused

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(admit(n) for n in range(attempts)))
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    refusals: dict[str, int] = {}
    for outcome in outcomes:
        if outcome is not None:
            refusals[outcome] = refusals.get(outcome, 0) + 1
    return elapsed, outcomes.count(None), refusals


async def raw_updates(folder: Path, attempts: int, balance: int | None) -> tuple[float, int]:
    """(seconds, rows changed) for ``attempts`` concurrent single-row updates with the store's connection
    settings: conditional decrements against ``balance``, or (``balance`` None) decrements that all write."""
    db = await aiosqlite.connect(folder / ("raw-writes.db" if balance is None else "raw.db"), isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute("CREATE TABLE balance (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)")
        await db.execute("INSERT INTO balance (id, amount) VALUES (1, ?)", (attempts if balance is None else balance,))

        async def update() -> bool:
            cursor = await db.execute("UPDATE balance SET amount = amount - 1 WHERE id = 1 AND amount >= 1")
            return cursor.rowcount == 1

        started = time.perf_counter()
        done = await asyncio.gather(*(update() for _ in range(attempts)))
        elapsed = time.perf_counter() - started
    finally:
        await db.close()
    return elapsed, sum(done)


async def run(args: argparse.Namespace) -> Figures:
    store_times: list[float] = []
    raw_times: list[float] = []
    write_times: list[float] = []
    accepted_counts: list[int] = []
    began = time.perf_counter()
    for round_ in range(args.rounds):
        if round_ and time.perf_counter() - began > args.budget:
            break
        with tempfile.TemporaryDirectory() as folder:
            elapsed, accepted, refusals = await reservations(Path(folder), args.attempts, args.balance)
            assert accepted == args.balance, f"{accepted} reservations accepted, expected exactly {args.balance}"
            assert refusals == {"balance": args.attempts - args.balance}, refusals
            store_times.append(elapsed)
            accepted_counts.append(accepted)
        with tempfile.TemporaryDirectory() as folder:
            raw_elapsed, raw_done = await raw_updates(Path(folder), args.attempts, args.balance)
            assert raw_done == args.balance, raw_done
            raw_times.append(raw_elapsed)
            write_elapsed, written = await raw_updates(Path(folder), args.attempts, None)
            assert written == args.attempts, written
            write_times.append(write_elapsed)
        progress(f"credits round {round_ + 1}: store {args.attempts / elapsed:.0f}/s, "
                 f"raw {args.attempts / raw_elapsed:.0f}/s, raw writes {args.attempts / write_elapsed:.0f}/s")
    store_rate = args.attempts / statistics.median(store_times)
    raw_rate = args.attempts / statistics.median(raw_times)
    return {
        "credits_attempts": args.attempts,
        "credits_accepted": min(accepted_counts),
        "reservations_per_s": store_rate,
        "credits_raw_updates_per_s": raw_rate,
        "credits_raw_writes_per_s": args.attempts / statistics.median(write_times),
        "reservations_vs_raw_ratio": store_rate / raw_rate,
        "credits_rounds": len(store_times),
    }


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="repetitions on fresh databases (median reported)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="start no further round after this many seconds (at least one round runs)")
    parser.add_argument("--attempts", type=int, default=1000, help="concurrent reservations per round")
    parser.add_argument("--balance", type=int, default=100, help="the member's balance (cost 1 each)")


if __name__ == "__main__":
    cli("credits", run, arguments)
