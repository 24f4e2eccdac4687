"""Two bot processes on one real PostgreSQL behave as one bot, even when one is killed with ``kill -9``.

Each process runs one of a fake Discord's two shards (real gateway sessions); kie.ai's fake refuses submits
above its rate and calls back through a load balancer that reaches whichever process is alive. A rush of
requests from both servers, a ``kill -9`` of the process that sends (mid-rush, or while a submit's answer is
on its way), a restart: no submit is refused for the rate, every song is posted exactly once, every credit
reserved is committed or refunded exactly once, and nothing is left pending.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bot.models import PENDING_STATES, TaskState
from bot.store import Store
from tests.support.cluster import BotProcess, Cluster
from tests.support.gateway_fake import guild_id_on_shard
from tests.support.interactions import slash_command

SHARDS = 2
GUILDS = [guild_id_on_shard(shard, SHARDS) for shard in range(SHARDS)]
CHANNELS = {guild: guild + 7 for guild in GUILDS}
RATE = (40, 1.0)  # the fake provider's limit and the bot's SUNO_SUBMIT_RATE
LEADER = "now sends to the provider"


async def _cluster(postgres_dsn: str, tmp_path: Path) -> Cluster:
    store = await Store.open(postgres_dsn)  # the schema, and servers generous enough for a rush
    for guild in GUILDS:
        await store.set_policy(guild, allowance=1_000_000, member_running=1000, guild_running=100_000)
    await store.close()
    cluster = Cluster(postgres_dsn, tmp_path, shard_count=SHARDS, rate=RATE, guilds=GUILDS)
    return cluster


async def _start_pair(cluster: Cluster) -> tuple[BotProcess, BotProcess]:
    assert cluster.gateway is not None
    for guild in GUILDS:
        cluster.gateway.add_guild(guild, channel_ids=[CHANNELS[guild]])
        cluster.discord.add_channel(CHANNELS[guild], guild_id=guild)
    first, second = cluster.add("first", "0"), cluster.add("second", "1")
    await cluster.launch(first)
    await first.wait_for_log(LEADER)  # the first to start leads
    await cluster.launch(second)
    await cluster.gateway.wait_for_shards({0, 1}, timeout=30)
    return first, second


async def _rush(cluster: Cluster, count: int, *, start: int = 0) -> None:
    """/generate from 50 members split over both servers (so both shards, both processes)."""
    assert cluster.gateway is not None
    sent: list[int] = []
    for n in range(start, start + count):
        guild = GUILDS[n % SHARDS]
        payload = slash_command("generate", {"prompt": f"song number {n}"}, guild_id=guild,
                                channel_id=CHANNELS[guild], user_id=1_310_000_000_000_100_000 + n % 50)
        await cluster.gateway.dispatch_interaction(payload)
        sent.append(int(payload["id"]))
    for interaction in sent:  # every member was answered (the request is in the store)
        await cluster.discord.wait_for_callback(interaction, timeout=30)


async def _submitted(cluster: Cluster, count: int, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while len(cluster.kie.submissions) < count:
            await asyncio.sleep(0.02)


async def _settled(cluster: Cluster, store: Store, timeout: float = 120.0, *, unsure_ok: bool = False) -> None:
    """Wait until no task is pending (or only unsure ones, waiting for a callback) and every finished one was
    delivered."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                states = await store.count_by_state()
                pending = sum(states.get(state.value, 0) for state in PENDING_STATES
                              if not (unsure_ok and state is TaskState.UNSURE))
                if unsure_ok:  # unsure, and the provider never got it: nothing can come for it
                    pending += len(await _unsure(cluster, store, taken=True))
                undelivered = await store.database.value(
                    "SELECT COUNT(*) FROM tasks WHERE delivered_at IS NULL AND state IN ('succeeded', 'failed')")
                if pending == 0 and undelivered == 0:
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        left = await store.database.rows(
            """SELECT id, state, provider_task_id, delivery_owner, delivery_lease, delivery_attempts, delivery_next
               FROM tasks WHERE delivered_at IS NULL ORDER BY id LIMIT 10""")
        raise AssertionError(f"not settled: {await store.count_by_state()}; left: {[dict(r) for r in left]}; "
                             f"leases: {[dict(r) for r in await store.database.rows('SELECT * FROM channel_leases')]}"
                             ) from None


async def _finish(cluster: Cluster, store: Store) -> list[int]:
    """Settle everything. A submit the killed process had claimed but that never reached the provider is
    unsure: it waits 15 minutes for a callback that cannot come, then is refunded. That wait is tested with a
    fake clock elsewhere (tests/bot/test_tracker.py, on both databases); here its deadline is moved to now.
    Returns those tasks."""
    await _settled(cluster, store, unsure_ok=True)
    unsure = await _unsure(cluster, store, taken=False)
    await store.database.execute("UPDATE tasks SET next_poll_at = 0 WHERE state = 'unsure'")
    await _settled(cluster, store)
    return unsure


async def _unsure(cluster: Cluster, store: Store, *, taken: bool) -> list[int]:
    """Unsure tasks the provider got (``taken``: their callbacks will adopt them) or never got."""
    urls = {task.callback_url for task in cluster.kie.tasks.values()}
    rows = await store.database.rows("SELECT id, callback_token FROM tasks WHERE state = 'unsure'")
    return [row["id"] for row in rows if any(url.endswith(row["callback_token"]) for url in urls) == taken]


async def _check_exactly_once(cluster: Cluster, store: Store, requests: int, never_sent: list[int]) -> None:
    tasks = await store.database.rows("SELECT id, state FROM tasks ORDER BY id")
    assert len(tasks) == requests
    succeeded = [row["id"] for row in tasks if row["state"] == "succeeded"]
    assert sorted(set(range(1, requests + 1)) - set(succeeded)) == sorted(never_sent)  # refunded: never billed
    assert len(never_sent) <= 3  # only what the killed process had in flight
    posted = cluster.posted(CHANNELS.values())
    assert set(posted) == {(task, track) for task in succeeded for track in (1, 2)}
    assert max(posted.values()) == 1, [key for key, times in posted.items() if times > 1][:5]
    ledger = await store.database.rows(
        "SELECT task_id, kind, COUNT(*) AS n FROM ledger WHERE task_id IS NOT NULL GROUP BY task_id, kind")
    kinds = Counter((row["task_id"], row["kind"]) for row in ledger for _ in range(row["n"]))
    for row in tasks:
        assert kinds[(row["id"], "reserve")] == 1
        assert kinds[(row["id"], "commit")] + kinds[(row["id"], "refund")] == 1
    assert cluster.rate_refusals() == 0


async def test_a_rush_survives_the_sending_process_being_killed(postgres_dsn: str, tmp_path: Path) -> None:
    requests = 500
    async with await _cluster(postgres_dsn, tmp_path) as cluster:
        first, second = await _start_pair(cluster)
        await _rush(cluster, requests)
        await _submitted(cluster, requests // 2)
        await _kill_and_restart(cluster, first, second)  # the leader, mid-rush
        await _verify(cluster, requests)


async def test_a_submit_cut_off_by_kill_is_adopted_by_the_other_process(postgres_dsn: str, tmp_path: Path) -> None:
    """The leader is killed while the provider's answer to a submit is on its way: the provider took it, and
    its callback (through the balancer, to the survivor) names the task's secret path, so the survivor adopts
    it, posts it once and charges it once."""
    requests = 60
    async with await _cluster(postgres_dsn, tmp_path) as cluster:
        first, second = await _start_pair(cluster)
        hold = asyncio.Event()
        taken = cluster.kie.lose_next_submit_answer(hold=hold)  # the first submit's answer is held back
        await _rush(cluster, requests // 2)
        async with asyncio.timeout(30):
            await taken.wait()
        await _submitted(cluster, 10)
        await _kill_and_restart(cluster, first, second, then=hold.set)  # while that answer is still held back
        await _rush(cluster, requests // 2, start=requests // 2)
        await _verify(cluster, requests)


async def _kill_and_restart(cluster: Cluster, leader: BotProcess, survivor: BotProcess,
                            then: Callable[[], None] | None = None) -> None:
    """kill -9 the leader; the survivor takes over the sending; the killed process comes back (following)."""
    assert cluster.gateway is not None
    leader.kill()
    if then is not None:
        then()
    await cluster.gateway.wait_for_shard_closed(0)
    await survivor.wait_for_log(LEADER, timeout=15)
    await cluster.launch(leader)
    await cluster.gateway.wait_for_shards({0, 1}, timeout=30)


async def _verify(cluster: Cluster, requests: int) -> None:
    store = await Store.open(cluster.dsn)
    try:
        never_sent = await _finish(cluster, store)
        await _check_exactly_once(cluster, store, requests, never_sent)
    finally:
        await store.close()

