"""Benchmark: scale-out. Real bot processes (``python -m bot``) sharing one PostgreSQL, against a fake Discord
with two shards and a fake kie.ai that refuses submits over its rate.

Set-up. A throwaway PostgreSQL server (``tests.support.postgres.PostgresCluster``, durability off) started
by this benchmark and stopped at its end, a fresh database per run. The harness of the scale tests
(``tests.support.cluster.Cluster``) runs, in this process: the fake Discord (REST and gateway, 2 shards, one
server on each shard), the fake kie.ai (``--limit`` submissions per ``--window`` seconds, 20 per 1 s by
default, refusing any above with its 429; callbacks on, one "complete" callback per task, small files) and a
round-robin load balancer that passes the provider's callbacks to any live bot process. The bots are
``python -m bot`` children (``SUNO_SUBMIT_RATE`` equal to the provider's limit, ``SHARD_COUNT=2``), their
logs in a temporary folder (printed on failure). Both servers are generous enough for the rush (credits,
running caps).

The rush: ``--requests`` (300) /generate interactions from ``--members`` (50) members, alternating between
the two servers (so both shards), sent through the fake gateway (INTERACTION_CREATE) one after another as
fast as it takes them (a burst), then every task is waited for until its two tracks are posted. It runs:

* ``_1p``: one process with both shards (``SHARD_IDS=0-1``; discord.py identifies the second shard ~5 s after
  the first, before the rush starts);
* ``_2p``: two processes, ``SHARD_IDS=0`` (started first: the leader, the only one sending to the provider)
  and ``SHARD_IDS=1``.

Figures of each (suffix ``_1p`` / ``_2p``):

* ``scale_ack_p99_ms``: per interaction, from the moment the fake gateway's ``dispatch_interaction`` returned
  (the INTERACTION_CREATE frame written to the shard's websocket) to the moment the fake Discord received
  the interaction's first callback (``Call.at``, stamped by the fake on arrival; the bot's deferral), both
  ``time.perf_counter()`` in this process; the 99th percentile (Discord's hard limit is 3 s);
  ``scale_ack_p50_ms`` next to it. A bot process answers a burst on as many new connections at once, more
  than aiohttp's default accept queue (128) holds: the kernel would drop the excess SYNs and the clients
  send them again after 1 s, a second of latency that only the fake causes. So the fakes' and the
  balancer's listening sockets have a queue of 4,096 (``BACKLOG`` in tests/support, capped by
  ``net.core.somaxconn``); the kernel's ListenOverflows count during the acknowledgements is shown in the
  progress line (it should be 0; it is machine-wide).
* ``scale_rate_used_pct``: the most submissions the provider accepted (its own acceptance times) in any
  window of the limit's length (half-open, as the fake counts: ``[t, t + window)``), over the limit, in
  percent: 100 means the limit was reached and never exceeded (the fake cannot exceed it: what it would
  have refused is counted next).
* ``scale_rate_refusals``: submits the provider refused for its rate (target 0).
* ``scale_rate_mean_pct``: the mean rate while sending, as a percentage of the limit: the sending phase
  runs from the first accepted submission to the last; the accepted submissions in its complete windows
  (``[t_first, t_first + k * window)``, ``k`` = the whole windows in the phase) over ``k * limit``.
  Each window loses about one submit answer's latency (a slot counts from the provider's answer).
* ``scale_missing_or_double``: track messages missing (each of the ``--requests`` tasks must have succeeded
  and its 2 tracks be posted, read from the track embeds' footers in the fake's channels) plus those posted
  more than once, plus tasks not stored; also every task's credit reserved once and committed or refunded
  once (a failure there is counted as one more). Target 0.
* ``scale_send_s``: from the first accepted submission to the last (informative).

Takeover (``scale_takeover_*``): the two-process set-up again on a fresh database, a rush of
``--takeover-requests`` (200). Once half of them were accepted by the provider and a burst of submissions is
over (none accepted for 0.1 s, so no submit of the leader is in flight), the leader is killed with
``kill -9`` (``time.monotonic()`` just before ``os.kill``). ``scale_takeover_s``: from the kill to the first
submission the provider accepted (its monotonic clock, the same as ours) that the survivor sent (its log says
"submitted as <that provider task id>"). The leadership retry is 1 s; then the survivor waits out what is left
of the shared rate window. The killed process is then restarted (as a supervisor would) and everything is
settled: ``scale_takeover_settle_s`` (from the kill until every task is settled and delivered; informative:
a track the killed process was posting waits for its 15 s delivery lease to expire),
``scale_takeover_refusals`` (rate refusals over the whole run, target 0) and
``scale_takeover_missing_or_double`` (as above; a submit the killed process had claimed but never sent is
"unsure", waits for a callback that cannot come and is then refunded: its deadline is moved to now, as in
tests/faults/test_scale.py, and such tasks, at most 3, are expected neither posted nor billed).

Reservations (as bench/credits.py, from two processes): 1,000 credit reservations against a balance of 100,
``--attempts`` / 2 (500) from each of two OS processes (``python -m bench.scale --reservation-worker``), each
with its own ``Store.open(target)`` and firing its share of ``store.admit(...)`` at once at the same member
(cost 1, an allowance of 100, running caps far above). The schema is applied before; each worker opens its
store, prints "ready" and waits for a line on stdin; when both are ready this process writes "go" to both
(the barrier) and the clock starts; it stops when both have answered with their counts.
``scale_reservations_accepted``: accepted across both (target exactly 100; the 900 others must be refused for
the balance, asserted); ``scale_reservations_per_s_pg``: 1,000 / that wall time on PostgreSQL;
``scale_reservations_per_s_sqlite``: the same two processes on one SQLite file (the store's WAL database; also
asserted exactly 100 accepted).

The whole run takes about 80 s on 2 cores (15 s of it the takeover run's delivery lease). The fakes, the
load balancer and this process's measurements share this process's event loop, and the bots and PostgreSQL
the same cores, so the latency figures include that contention. It cleans up on failure and on SIGTERM or
Ctrl-C (bot processes stopped, PostgreSQL stopped); on failure the bot processes' logs are kept and their
folder is named on stderr (``--keep-logs DIR`` copies them in any case).

Reproduce: ``python -m bench.scale [--requests 300] [--members 50] [--limit 20] [--window 1]
[--takeover-requests 200] [--attempts 1000] [--balance 100] [--keep-logs DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import Figures, cli, percentile, progress

SHARDS = 2
LEADER = "now sends to the provider"
READY = "Suno provider"  # the last line a process logs while setting up
MEMBER_BASE = 1_310_000_000_000_100_000
RES_GUILD_ID = 1_310_000_000_000_000_100
RES_CHANNEL_ID = 1_310_000_000_000_000_200
RES_USER_ID = 1_310_000_000_000_000_300


# ----- the rush on bot processes -------------------------------------------------------------------------------


class Servers:
    """The two servers of a run (one per shard) and a channel in each."""

    def __init__(self) -> None:
        from tests.support.gateway_fake import guild_id_on_shard

        self.guilds = [guild_id_on_shard(shard, SHARDS) for shard in range(SHARDS)]
        self.channels = {guild: guild + 7 for guild in self.guilds}


async def prepare_database(dsn: str, servers: Servers) -> None:
    """The schema, and servers generous enough for a rush."""
    from bot.store import Store

    store = await Store.open(dsn)
    try:
        for guild in servers.guilds:
            await store.set_policy(guild, allowance=1_000_000, member_running=1000, guild_running=100_000)
    finally:
        await store.close()


def make_cluster(dsn: str, log_dir: Path, servers: Servers, args: argparse.Namespace) -> Any:
    from tests.support.cluster import Cluster

    cluster = Cluster(dsn, log_dir, shard_count=SHARDS, rate=(args.limit, args.window), guilds=servers.guilds)
    cluster.kie.auto_stages = ("complete",)  # one callback per task: the rush is about submitting
    cluster.kie.audio_size, cluster.kie.image_size = 2048, 512
    return cluster


def listen_overflows() -> int:
    """The kernel's count of connections dropped for a full accept queue (machine-wide)."""
    with open("/proc/net/netstat") as netstat:
        rows = [line.split() for line in netstat if line.startswith("TcpExt:")]
    return int(dict(zip(rows[0], rows[1], strict=True)).get("ListenOverflows", 0))


async def start_processes(cluster: Any, servers: Servers, shard_sets: list[str]) -> list[Any]:
    """Processes named p0, p1... with these SHARD_IDS, the first started first (so it leads); returns them
    once every shard is connected and every process is set up."""
    assert cluster.gateway is not None
    for guild in servers.guilds:
        cluster.gateway.add_guild(guild, channel_ids=[servers.channels[guild]])
        cluster.discord.add_channel(servers.channels[guild], guild_id=guild)
    bots = [cluster.add(f"p{n}", shards) for n, shards in enumerate(shard_sets)]
    await cluster.launch(bots[0])
    await bots[0].wait_for_log(LEADER, timeout=60)
    for bot in bots[1:]:
        await cluster.launch(bot)
    await cluster.gateway.wait_for_shards(set(range(SHARDS)), timeout=60)
    return bots


async def rush(cluster: Any, servers: Servers, count: int, members: int) -> list[float]:
    """/generate from ``members`` members alternating between the servers, as fast as the gateway takes them;
    returns each interaction's acknowledgement latency in seconds (see the module doc)."""
    from tests.support.interactions import slash_command

    assert cluster.gateway is not None
    dispatched: dict[int, float] = {}
    for n in range(count):
        guild = servers.guilds[n % SHARDS]
        payload = slash_command("generate", {"prompt": f"song number {n}"}, guild_id=guild,
                                channel_id=servers.channels[guild], user_id=MEMBER_BASE + n % members)
        await cluster.gateway.dispatch_interaction(payload)
        dispatched[int(payload["id"])] = time.perf_counter()

    async def ack(interaction: int) -> float:
        call = await cluster.discord.wait_for_callback(interaction, timeout=60)
        return float(call.at - dispatched[interaction])

    return list(await asyncio.gather(*(ack(interaction) for interaction in dispatched)))


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = condition()
                if not isinstance(result, bool):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not after {timeout:g} s") from None


async def settled(store: Any, timeout: float, *, unsure_ok: bool = False, never_sent: Callable[[], Any] | None = None
                  ) -> None:
    """Until no task is pending (``unsure_ok``: but unsure ones the provider got) and every finished one was
    delivered."""
    from bot.models import PENDING_STATES, TaskState

    async def done() -> bool:
        states = await store.count_by_state()
        pending = sum(states.get(state.value, 0) for state in PENDING_STATES
                      if not (unsure_ok and state is TaskState.UNSURE))
        if unsure_ok and never_sent is not None:
            pending += len(await never_sent())
        undelivered = await store.database.value(
            "SELECT COUNT(*) FROM tasks WHERE delivered_at IS NULL AND state IN ('succeeded', 'failed')")
        return pending == 0 and undelivered == 0

    try:
        await until(done, timeout, "every task settled")
    except AssertionError:
        raise AssertionError(f"not settled after {timeout:g} s: {await store.count_by_state()}") from None


async def unsure_tasks(cluster: Any, store: Any, *, taken: bool) -> list[int]:
    """Unsure tasks the provider got (``taken``: their callbacks will adopt them) or never got."""
    urls = {task.callback_url for task in cluster.kie.tasks.values()}
    rows = await store.database.rows("SELECT id, callback_token FROM tasks WHERE state = 'unsure'")
    return [row["id"] for row in rows if any(url.endswith(row["callback_token"]) for url in urls) == taken]


async def missing_or_double(cluster: Any, servers: Servers, store: Any, requests: int,
                            never_sent: list[int]) -> tuple[int, list[str]]:
    """Track messages missing + posted more than once + tasks not stored + credit ledger faults (see the module
    doc), and what they were."""
    problems: list[str] = []
    tasks = await store.database.rows("SELECT id, state FROM tasks ORDER BY id")
    count = 0
    if len(tasks) != requests:
        count += abs(requests - len(tasks))
        problems.append(f"{len(tasks)} tasks stored for {requests} requests")
    succeeded = {row["id"] for row in tasks if row["state"] == "succeeded"}
    others = {row["id"]: row["state"] for row in tasks if row["state"] != "succeeded"}
    if set(others) - set(never_sent):
        problems.append(f"not succeeded: {dict(list(others.items())[:5])}")
    if len(never_sent) > 3:
        problems.append(f"{len(never_sent)} tasks never sent (at most 3 expected: the killed process's in flight)")
        count += len(never_sent) - 3
    expected = {(task, track) for task in succeeded | (set(others) - set(never_sent)) for track in (1, 2)}
    seen = cluster.posted(servers.channels.values())
    missing = expected - set(seen)
    extra = set(seen) - expected
    doubles = sum(times - 1 for times in seen.values() if times > 1)
    count += len(missing) + len(extra) + doubles
    if missing:
        problems.append(f"{len(missing)} tracks missing, e.g. {sorted(missing)[:5]}")
    if extra:
        problems.append(f"{len(extra)} tracks posted for no successful task, e.g. {sorted(extra)[:5]}")
    if doubles:
        problems.append(f"{doubles} tracks posted twice or more, e.g. "
                        f"{[key for key, times in seen.items() if times > 1][:5]}")
    ledger = await store.database.rows(
        "SELECT task_id, kind, COUNT(*) AS n FROM ledger WHERE task_id IS NOT NULL GROUP BY task_id, kind")
    kinds = Counter({(row["task_id"], row["kind"]): int(row["n"]) for row in ledger})
    bad = [row["id"] for row in tasks
           if kinds[(row["id"], "reserve")] != 1 or kinds[(row["id"], "commit")] + kinds[(row["id"], "refund")] != 1]
    if bad:
        count += len(bad)
        problems.append(f"{len(bad)} tasks whose credit was not reserved once and settled once: {bad[:5]}")
    return count, problems


def rate_figures(cluster: Any, limit: int, window: float) -> dict[str, float]:
    times = sorted(submission.at for submission in cluster.kie.submissions)
    if not times:
        return {"used_pct": math.nan, "mean_pct": math.nan, "send_s": math.nan}
    most, end = 0, 0
    for start, at in enumerate(times):  # windows [at, at + window), as the fake counts
        while end < len(times) and times[end] < at + window:
            end += 1
        most = max(most, end - start)
    span = times[-1] - times[0]
    whole = math.floor(span / window)
    in_whole = sum(1 for at in times if at < times[0] + whole * window)
    return {
        "used_pct": 100.0 * most / limit,
        "mean_pct": 100.0 * in_whole / (whole * limit) if whole else math.nan,
        "send_s": span,
    }


async def rush_run(pg: Any, name: str, shard_sets: list[str], log_dir: Path, args: argparse.Namespace) -> Figures:
    """One rush on ``len(shard_sets)`` processes; figures suffixed ``_<name>``."""
    from bot.store import Store

    servers = Servers()
    dsn = pg.create_database(f"scale_{name}")
    await prepare_database(dsn, servers)
    run_logs = log_dir / name
    run_logs.mkdir()
    async with make_cluster(dsn, run_logs, servers, args) as cluster:
        try:
            began = time.perf_counter()
            await start_processes(cluster, servers, shard_sets)
            progress(f"{name}: {len(shard_sets)} process(es) up in {time.perf_counter() - began:.1f} s; "
                     f"rush of {args.requests} /generate")
            overflows = listen_overflows()
            acks = await rush(cluster, servers, args.requests, args.members)
            overflows = listen_overflows() - overflows
            await until(lambda: len(cluster.kie.submissions) >= args.requests,
                        60 + 3 * args.requests * args.window / args.limit, "every request submitted")
            store = await Store.open(dsn)
            try:
                await settled(store, 120)
                problems_count, problems = await missing_or_double(cluster, servers, store, args.requests, [])
            finally:
                await store.close()
            rates = rate_figures(cluster, args.limit, args.window)
            progress(f"{name}: ack p99 {percentile(acks, 99) * 1000:.0f} ms, rate used {rates['used_pct']:.0f} %, "
                     f"mean {rates['mean_pct']:.1f} %, sent in {rates['send_s']:.1f} s, "
                     f"settled after {time.perf_counter() - began:.1f} s; {overflows} connections dropped "
                     "for a full accept queue during the acknowledgements (machine-wide)")
            for problem in problems:
                progress(f"{name}: PROBLEM {problem}")
        except BaseException:
            dump_logs(cluster)
            raise
    return {
        f"scale_ack_p50_ms_{name}": percentile(acks, 50) * 1000,
        f"scale_ack_p99_ms_{name}": percentile(acks, 99) * 1000,
        f"scale_rate_used_pct_{name}": rates["used_pct"],
        f"scale_rate_refusals_{name}": cluster.rate_refusals(),
        f"scale_rate_mean_pct_{name}": rates["mean_pct"],
        f"scale_send_s_{name}": rates["send_s"],
        f"scale_missing_or_double_{name}": problems_count,
    }


async def takeover_run(pg: Any, log_dir: Path, args: argparse.Namespace) -> Figures:
    from bot.store import Store

    servers = Servers()
    dsn = pg.create_database("scale_takeover")
    await prepare_database(dsn, servers)
    run_logs = log_dir / "takeover"
    run_logs.mkdir()
    requests = args.takeover_requests
    async with make_cluster(dsn, run_logs, servers, args) as cluster:
        try:
            leader, survivor = await start_processes(cluster, servers, ["0", "1"])
            progress(f"takeover: rush of {requests} /generate, kill -9 of the leader after {requests // 2} sent")
            await rush(cluster, servers, requests, args.members)
            kie = cluster.kie

            def quiet_after_half() -> bool:
                return len(kie.submissions) >= requests // 2 and time.monotonic() - kie.submissions[-1].at >= 0.1

            await until(quiet_after_half, 60 + 3 * requests * args.window / args.limit, "half the rush submitted")
            killed_at = time.monotonic()
            leader.kill()
            sent_before = len(kie.submissions)
            await leader.wait()
            assert cluster.gateway is not None
            await cluster.gateway.wait_for_shard_closed(0, timeout=15)
            await survivor.wait_for_log(LEADER, timeout=15)

            def survivor_sent() -> float | None:
                log = survivor.log()
                after = [s.at for s in kie.submissions[sent_before:]
                         if s.at > killed_at and f"submitted as {s.task_id}" in log]
                return min(after) if after else None

            await until(lambda: survivor_sent() is not None, 30, "a submission by the survivor")
            takeover = (survivor_sent() or math.nan) - killed_at
            progress(f"takeover: the survivor's first submission {takeover:.2f} s after the kill "
                     f"({sent_before} sent before it)")
            await cluster.launch(leader)  # back, as a follower
            await cluster.gateway.wait_for_shards({0, 1}, timeout=60)
            store = await Store.open(dsn)
            try:
                await settled(store, 120, unsure_ok=True,
                              never_sent=lambda: unsure_tasks(cluster, store, taken=True))
                never_sent = await unsure_tasks(cluster, store, taken=False)
                await store.database.execute("UPDATE tasks SET next_poll_at = 0 WHERE state = 'unsure'")
                await settled(store, 120)
                settle = time.monotonic() - killed_at
                problems_count, problems = await missing_or_double(cluster, servers, store, requests, never_sent)
            finally:
                await store.close()
            for problem in problems:
                progress(f"takeover: PROBLEM {problem}")
            progress(f"takeover: settled {settle:.1f} s after the kill ({len(never_sent)} claimed by the killed "
                     "process but never sent)")
        except BaseException:
            dump_logs(cluster)
            raise
    return {
        "scale_takeover_s": takeover,
        "scale_takeover_settle_s": settle,
        "scale_takeover_refusals": cluster.rate_refusals(),
        "scale_takeover_never_sent": len(never_sent),
        "scale_takeover_missing_or_double": problems_count,
    }


def dump_logs(cluster: Any) -> None:
    for bot in cluster.bots:
        tail = "\n".join(bot.log().splitlines()[-40:])
        print(f"----- {bot.name} ({bot.log_path}), last lines -----\n{tail}", file=sys.stderr, flush=True)


# ----- reservations from two processes -------------------------------------------------------------------------


async def reservation_worker(target: str, tag: str, attempts: int, balance: int) -> None:
    """One of the two processes: open the store, say "ready", wait for "go", fire ``attempts`` reservations at
    once, print {"accepted": n, "refusals": {...}, "seconds": s} as one JSON line."""
    from bot.credits import period_start
    from bot.models import MusicRequest
    from bot.store import Allowance, NewTask, Store

    store = await Store.open(target)
    try:
        allowance = Allowance(balance, period_start("weekly", time.time()))
        news = [NewTask("kie", f"bench-token-{tag}-{n:06d}-xxxxxxxx", RES_GUILD_ID, RES_CHANNEL_ID, RES_USER_ID,
                        MusicRequest(prompt=f"a benchmark ballad {tag} {n}"), 10 * 1024 * 1024)
                for n in range(attempts)]

        async def admit(new: Any) -> str | None:
            admission = await store.admit(new, cost=1, operation="generate", allowance=allowance,
                                          member_cap=attempts * 100, guild_cap=attempts * 100)
            return None if admission.task is not None else admission.refused

        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(admit(new) for new in news))
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    refusals = Counter(outcome for outcome in outcomes if outcome is not None)
    print(json.dumps({"accepted": outcomes.count(None), "refusals": dict(refusals), "seconds": elapsed}), flush=True)


async def reservations(target: str, attempts: int, balance: int) -> tuple[float, int, dict[str, int]]:
    """(wall seconds from "go" to both answers, accepted, refusals) with two worker processes on ``target``."""
    from bot.store import Store

    await (await Store.open(target)).close()  # the schema, before the workers race for it
    share = [attempts // 2, attempts - attempts // 2]
    workers = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.scale", "--reservation-worker", target, "--worker-tag", tag,
        "--attempts", str(count), "--balance", str(balance),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
        for tag, count in zip("ab", share, strict=True)]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), 60)
            if line.strip() != b"ready":
                raise RuntimeError(f"reservation worker did not start (exit {await worker.wait()}): {line!r}")
        started = time.perf_counter()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
        await asyncio.gather(*(worker.stdin.drain() for worker in workers if worker.stdin is not None))

        async def result(worker: Any) -> dict[str, Any]:
            line = await asyncio.wait_for(worker.stdout.readline(), 120)
            if not line.strip():
                raise RuntimeError(f"reservation worker failed (exit {await worker.wait()})")
            return dict(json.loads(line))

        results = await asyncio.gather(*(result(worker) for worker in workers))
        elapsed = time.perf_counter() - started
        for worker in workers:
            if await asyncio.wait_for(worker.wait(), 30) != 0:
                raise RuntimeError(f"reservation worker exited {worker.returncode}")
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    refusals: Counter[str] = Counter()
    for outcome in results:
        refusals.update(outcome["refusals"])
    return elapsed, sum(int(outcome["accepted"]) for outcome in results), dict(refusals)


async def reservation_figures(pg: Any, folder: Path, args: argparse.Namespace) -> Figures:
    figures: Figures = {}
    targets = [("pg", pg.create_database("scale_reservations")), ("sqlite", str(folder / "reservations.db"))]
    for name, target in targets:
        elapsed, accepted, refusals = await reservations(target, args.attempts, args.balance)
        progress(f"reservations on {name}: {accepted} accepted, {args.attempts / elapsed:.0f}/s "
                 f"({elapsed * 1000:.0f} ms for {args.attempts} from 2 processes)")
        assert accepted == args.balance, f"{name}: {accepted} reservations accepted, expected exactly {args.balance}"
        assert refusals == {"balance": args.attempts - args.balance}, (name, refusals)
        if name == "pg":
            figures["scale_reservations_accepted"] = accepted
        figures[f"scale_reservations_per_s_{name}"] = args.attempts / elapsed
    return figures


# ----- the run -------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Figures:
    from tests.support.postgres import PostgresCluster

    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)  # cleans up like Ctrl-C
    folder = Path(tempfile.mkdtemp(prefix="chorus-bench-scale-"))
    failed = True
    pg = PostgresCluster()
    try:
        began = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(None, pg.start)
        progress(f"PostgreSQL up in {time.perf_counter() - began:.1f} s")
        figures: Figures = {"scale_requests": args.requests}
        one = await rush_run(pg, "1p", ["0-1"], folder, args)
        two = await rush_run(pg, "2p", ["0", "1"], folder, args)
        figures.update(side_by_side(one, two))
        figures.update(await takeover_run(pg, folder, args))
        figures.update(await reservation_figures(pg, folder, args))
        failed = False
        return figures
    finally:
        pg.stop()
        if args.keep_logs:
            shutil.copytree(folder, args.keep_logs, dirs_exist_ok=True)
        if failed:
            progress(f"the bot processes' logs: {args.keep_logs or folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def side_by_side(first: Figures, second: Figures) -> Figures:
    """The figures of the 1-process and 2-process runs in pairs."""
    out: Figures = {}
    for name, value in first.items():
        out[name] = value
        twin = name.removesuffix("_1p") + "_2p"
        if twin in second:
            out[twin] = second[twin]
    out.update((name, value) for name, value in second.items() if name not in out)
    return out


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=300, help="/generate requests in each rush")
    parser.add_argument("--members", type=int, default=50, help="members sending them, over the 2 servers")
    parser.add_argument("--limit", type=int, default=20, help="provider submissions per window (bot's rate too)")
    parser.add_argument("--window", type=float, default=1.0, help="the provider's window, seconds")
    parser.add_argument("--takeover-requests", type=int, default=200, help="requests in the takeover run")
    parser.add_argument("--attempts", type=int, default=1000, help="reservations, split over the 2 processes")
    parser.add_argument("--balance", type=int, default=100, help="the member's balance (cost 1 each)")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the bot processes' logs here")


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale --reservation-worker")
    parser.add_argument("--reservation-worker", required=True, metavar="TARGET")
    parser.add_argument("--worker-tag", required=True)
    parser.add_argument("--attempts", type=int, required=True)
    parser.add_argument("--balance", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    asyncio.run(reservation_worker(args.reservation_worker, args.worker_tag, args.attempts, args.balance))


if __name__ == "__main__":
    if "--reservation-worker" in sys.argv[1:]:
        worker_main(sys.argv[1:])
    else:
        cli("scale", run, arguments)
