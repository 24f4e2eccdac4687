"""The bot's Prometheus metrics (prometheus-client), in a registry of this bot's own (no global state).

Counted as they happen, in this process: submissions by outcome and provider code, callbacks by answer,
status reads of the provider, delivery latency, Discord 429s. Read from the database at each scrape (so they
are the whole bot's, whichever process is asked): tasks by kind and state, the queue's length and oldest
wait, credits reserved and refunded. Served at ``/metrics`` (see bot/observe.py).
"""

from __future__ import annotations

import logging

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.media import MediaStore
from bot.store import Store

DELIVERY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.submissions = Counter(
            "chorus_submissions", "Submissions sent to the provider, by outcome (accepted, not_now, refused, "
            "unconfirmed) and the provider's code", ["outcome", "code"], registry=registry)
        self.callbacks = Counter("chorus_callbacks", "Provider callbacks received, by the HTTP status answered",
                                 ["status"], registry=registry)
        self.status_reads = Counter("chorus_status_reads", "Reads of a task's record at the provider, by why "
                                    "(poll, confirm, timeout) and outcome", ["reason", "outcome"], registry=registry)
        self.delivery_seconds = Histogram("chorus_delivery_seconds", "From a task finishing at the provider to "
                                          "its result posted in Discord", buckets=DELIVERY_BUCKETS, registry=registry)
        self.discord_rate_limited = Counter("chorus_discord_rate_limited", "Discord 429 answers (discord.py waits "
                                            "and retries)", registry=registry)
        self.tasks = Gauge("chorus_tasks", "Tasks in the database, by kind and state", ["kind", "state"],
                           registry=registry)
        self.queue_length = Gauge("chorus_queue_length", "Requests waiting their turn to be sent",
                                  registry=registry)
        self.queue_oldest_wait = Gauge("chorus_queue_oldest_wait_seconds", "How long the oldest waiting request "
                                       "has waited", registry=registry)
        self.credits = Gauge("chorus_credits", "Credits over all time, from the ledger: reserved (spent on "
                             "requests) and refunded", ["kind"], registry=registry)
        self.media_bytes = Gauge("chorus_media_bytes", "Size of the kept copies of results in MEDIA_DIR (counted "
                                 "at most every 5 minutes)", registry=registry)
        self.media_files = Gauge("chorus_media_files", "Kept copies of results in MEDIA_DIR", registry=registry)

    async def refresh(self, store: Store, now: float, media: MediaStore | None = None) -> None:
        """Read the database's figures, and the media store's (before a scrape)."""
        self.tasks.clear()
        for kind, state, count in await store.count_by_kind_state():
            self.tasks.labels(kind=kind, state=state).set(count)
        waiting, oldest = await store.queue_stats()
        self.queue_length.set(waiting)
        self.queue_oldest_wait.set(max(0.0, now - oldest) if oldest is not None else 0.0)
        reserved, refunded = await store.credit_totals()
        self.credits.labels(kind="reserved").set(reserved)
        self.credits.labels(kind="refunded").set(refunded)
        if media is not None:
            usage = await media.total()
            self.media_bytes.set(usage.bytes)
            self.media_files.set(usage.files)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RateLimitCounter(logging.Handler):
    """Counts Discord's 429s: discord.py handles them itself (waits, retries) and only logs them."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.WARNING)
        self._metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        if "429" in str(record.msg):
            self._metrics.discord_rate_limited.inc()
