"""Every benchmark the runner knows, in the order it runs them, and the targets of their figures.

Kept free of heavy imports: the runner reads it without loading the bot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    op: str  # "<=", ">=" or "=="
    value: float

    def met(self, measured: float) -> bool:
        if isinstance(measured, float) and math.isnan(measured):
            return False
        if self.op == "<=":
            return measured <= self.value
        if self.op == ">=":
            return measured >= self.value
        return measured == self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class Benchmark:
    module: str
    title: str
    targets: dict[str, Target] = field(default_factory=dict)
    in_full_run: bool = True


BENCHMARKS: dict[str, Benchmark] = {
    "callback": Benchmark(
        "bench.callback",
        "Callback ingestion: load generator on loopback vs. a bare aiohttp handler",
        {
            "callback_p99_ms": Target("<=", 5),
            "callback_rps_ratio": Target(">=", 0.5),
            "callback_non_2xx": Target("==", 0),
        },
    ),
    "delivery": Benchmark(
        "bench.delivery",
        "Delivery: 100 tasks completing at once, 2 x 8 MiB tracks each",
        {
            "delivery_peak_rss_mb": Target("<=", 200),
            "delivery_overhead_ms_per_message": Target("<=", 100),
            "delivery_discord_429": Target("==", 0),
            "delivery_missing_messages": Target("==", 0),
        },
    ),
    "media_links": Benchmark(
        "bench.media_links",
        "Kept songs: 50 members opening 16 MiB files through signed links at once, twice over",
        {
            "media_serve_errors": Target("==", 0),
            "media_serve_peak_rss_mb": Target("<=", 200),
        },
    ),
    "credits": Benchmark(
        "bench.credits",
        "Credits: 1,000 concurrent reservations against a balance of 100",
        {
            "credits_accepted": Target("==", 100),
            "reservations_per_s": Target(">=", 2000),
        },
    ),
    "economy": Benchmark(
        "bench.economy",
        "Provider economy: polls per task and the submission rate",
        {
            "economy_polls_per_task_with_callbacks": Target("<=", 1),
            "economy_polls_over_bound": Target("<=", 0),
            "economy_max_submits_per_10s": Target("<=", 20),
            "economy_undelivered": Target("==", 0),
        },
    ),
    "rush": Benchmark(
        "bench.rush",
        "Rush hour: 500 /generate from 100 members in 10 s against a provider that refuses over its rate",
        {
            "rush_ack_p99_ms": Target("<=", 1000),
            "rush_provider_429": Target("==", 0),
            "rush_rate_vs_limit": Target(">=", 0.95),
            "rush_max_per_window": Target("<=", 20),
            "rush_first_wait_excess_windows": Target("<=", 1),
            "rush_duplicates": Target("==", 0),
            "rush_tracks_posted": Target("==", 1000),
        },
        in_full_run=False,  # 500 submissions at 20 per 10 s: over 4 minutes
    ),
    "scale": Benchmark(
        "bench.scale",
        "Scale-out: 1 vs. 2 bot processes on PostgreSQL (rush, kill -9 of the leader, reservations)",
        {
            "scale_ack_p99_ms_1p": Target("<=", 500),
            "scale_ack_p99_ms_2p": Target("<=", 500),
            "scale_rate_used_pct_1p": Target("==", 100),
            "scale_rate_used_pct_2p": Target("==", 100),
            "scale_rate_refusals_1p": Target("==", 0),
            "scale_rate_refusals_2p": Target("==", 0),
            "scale_rate_mean_pct_2p": Target(">=", 90),
            "scale_missing_or_double_1p": Target("==", 0),
            "scale_missing_or_double_2p": Target("==", 0),
            "scale_takeover_s": Target("<=", 5),
            "scale_takeover_refusals": Target("==", 0),
            "scale_takeover_missing_or_double": Target("==", 0),
            "scale_reservations_accepted": Target("==", 100),
            "scale_reservations_per_s_pg": Target(">=", 2000),  # as credits' reservations_per_s
            "scale_reservations_per_s_sqlite": Target(">=", 2000),
        },
    ),
    "idle": Benchmark(
        "bench.idle",
        "Idle RSS after startup with the cogs loaded",
        {"idle_rss_mb": Target("<=", 80)},
    ),
    "callback_to_post": Benchmark(
        "bench.callback_to_post",
        "Complete callback to both tracks posted (sequential songs)",
    ),
    "sandbox_media": Benchmark(
        "bench.sandbox_media",
        "The sandbox provider's synthesis cost per file",
    ),
}


def target_for(figure: str) -> Target | None:
    for spec in BENCHMARKS.values():
        if figure in spec.targets:
            return spec.targets[figure]
    return None


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        digits = 3 if abs(value) < 1 else 2 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
        return f"{value:.{digits}f}"
    return str(value)
