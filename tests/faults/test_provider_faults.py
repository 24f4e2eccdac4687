"""The provider misbehaves while a song is being made: record-info answers 5xx, a maintenance code, a proxy's
HTML error page, or nothing at all (the request hangs past the client's timeout).

What the member must see: the song still arrives exactly once (from a later poll or from the callback), the
credits stay reserved (not refunded, not charged twice) while the task is pending, and a task the provider
never finishes is failed after 30 minutes with a message and a refund. Time is moved with the bot's Clock,
never waited out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.models import Task, TaskState
from bot.providers.errors import Maintenance, ProviderError, ProviderUnavailable
from bot.tracker import MAX_POLL_BACKOFF
from tests.conftest import BotFactory, Clock, Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID, FakeDiscord
from tests.support.faults import (
    FlakyKie,
    PollWatch,
    balance,
    ledger,
    shorten_provider_timeout,
)

POLL_INTERVAL = 0.5
BACKOFF = min(POLL_INTERVAL * 4, MAX_POLL_BACKOFF)  # what the tracker waits after a failed poll
CLIENT_TIMEOUT = 0.3  # the provider client's per-request timeout once a fault is armed (30 s in production)
COST = 10  # a /generate at the product's default cost
ALLOWANCE = 100  # the product's default allowance


@pytest.fixture
async def kie() -> AsyncIterator[FlakyKie]:
    """The kie.ai fake, able to hang a poll or answer it like a broken proxy (overrides conftest's)."""
    async with FlakyKie() as fake:
        fake.auto_callbacks = False
        try:
            yield fake
        finally:
            fake.release()


@pytest.fixture
async def h(make_bot: BotFactory, discord_fake: FakeDiscord, kie: FlakyKie, clock: Clock) -> Harness:
    """A server with the product's default credits, polling every 0.5 s."""
    return Harness(await make_bot(generous=False, poll_interval=POLL_INTERVAL), discord_fake, kie, clock)


def _fail_500(kie: FlakyKie) -> None:
    kie.fail_next_poll(500, "Internal Server Error", http_status=500)


def _maintenance(kie: FlakyKie) -> None:
    kie.fail_next_poll(455, "System maintenance")


def _server_error_in_body(kie: FlakyKie) -> None:
    kie.fail_next_poll(500, "Server exception, please try again later")


def _proxy_page(kie: FlakyKie) -> None:
    kie.proxy_error_next_poll()


def _hang(kie: FlakyKie) -> None:
    kie.hang_next_poll()


FAULTS: dict[str, Callable[[FlakyKie], None]] = {
    "http-500": _fail_500,
    "code-455-maintenance": _maintenance,
    "code-500-in-envelope": _server_error_in_body,
    "html-502-from-a-proxy": _proxy_page,
    "hangs-past-the-client-timeout": _hang,
}
# How the provider client reads each fault (checked, so a test cannot pass without meeting its fault).
EXPECTED: dict[str, tuple[type[ProviderError], str]] = {
    "http-500": (ProviderUnavailable, "Internal Server Error"),
    "code-455-maintenance": (Maintenance, "System maintenance"),
    "code-500-in-envelope": (ProviderUnavailable, "Server exception"),
    "html-502-from-a-proxy": (ProviderUnavailable, "HTTP 502 with a non-JSON body"),
    "hangs-past-the-client-timeout": (ProviderUnavailable, "TimeoutError"),
}


async def _arm(h: Harness, fault: str) -> None:
    """Script ``fault`` for the next poll; from now on the bot gives up on a provider request after 0.3 s (armed
    after the submit, so only polls run on the short timeout)."""
    await shorten_provider_timeout(h.bot.provider, CLIENT_TIMEOUT)
    FAULTS[fault](h.kie)


async def _task(h: Harness) -> Task:
    (task,) = await h.bot.store.recent_tasks(DEFAULT_GUILD_ID, DEFAULT_USER_ID, limit=1)
    return task


def _poll_now(h: Harness, seconds: float) -> None:
    """Move the bot's clock to the next due poll and let the tracker look."""
    h.clock.advance(seconds)
    h.bot.tracker.wake()


def _ready_notices(h: Harness) -> list[dict]:
    return [m for m in h.messages() if "your song is ready" in (m["content"] or "")]


async def _first_poll_fails(h: Harness, polls: PollWatch, fault: str) -> Task:
    """Trigger the first poll, which meets ``fault``; returns the task once the tracker has handled it."""
    _poll_now(h, POLL_INTERVAL)
    (outcome,) = await polls.wait_for(1)
    error_class, detail = EXPECTED[fault]
    assert isinstance(outcome, error_class) and detail in str(outcome), repr(outcome)
    await h.bot.tracker.idle()
    return await _task(h)


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_failed_poll_backs_off_and_a_later_poll_still_delivers_the_song_once(h: Harness, fault: str) -> None:
    polls = PollWatch(h.bot.provider)
    db = h.bot.settings.database_path
    payload, task_id = await h.generate()
    user = payload["member"]["user"]["id"]
    assert balance(db, user) == ALLOWANCE - COST
    await _arm(h, fault)
    await h.kie.advance(task_id, "complete", deliver=False)  # Suno finished, but the callback was lost

    task = await _first_poll_fails(h, polls, fault)
    # Still pending, polled again only after a back-off longer than the usual interval; nothing refunded.
    assert task.state is TaskState.QUEUED
    assert task.next_poll_at is not None
    assert task.next_poll_at - h.clock() > BACKOFF - 0.5 > POLL_INTERVAL
    assert [kind for kind, *_ in ledger(db, user)] == ["allowance", "reserve"]
    assert balance(db, user) == ALLOWANCE - COST
    assert h.track_messages() == []

    _poll_now(h, BACKOFF)
    tracks = await h.wait_for_tracks(2)
    assert len(polls.outcomes) == 2 and polls.outcomes[1].state is TaskState.SUCCEEDED
    assert [t["embeds"][0]["title"] for t in tracks] == [t.title for t in h.kie.task(task_id).tracks]
    assert len(_ready_notices(h)) == 1
    assert "\u2705 Done" in h.messages()[0]["embeds"][0]["description"]

    # The lost callback turning up late changes nothing: still exactly one result, charged once.
    assert (await h.kie.resend(task_id, "complete")).status == 200
    await h.bot.tracker.idle()
    assert len(h.track_messages()) == 2 and len(_ready_notices(h)) == 1
    assert [kind for kind, *_ in ledger(db, user)] == ["allowance", "reserve", "commit"]
    assert balance(db, user) == ALLOWANCE - COST


async def test_the_callback_still_delivers_while_polls_are_failing(h: Harness) -> None:
    polls = PollWatch(h.bot.provider)
    db = h.bot.settings.database_path
    payload, task_id = await h.generate()
    user = payload["member"]["user"]["id"]
    await _arm(h, "http-500")
    await _first_poll_fails(h, polls, "http-500")

    # During the back-off the provider calls back: the song is posted at once (after one read that confirms
    # it), not after the next poll.
    assert (await h.kie.advance(task_id, "complete")).status == 200
    tracks = await h.wait_for_tracks(2)
    assert len(tracks) == 2 and len(_ready_notices(h)) == 1
    assert len(polls.outcomes) == 2
    task = await _task(h)
    assert task.state is TaskState.SUCCEEDED
    # A finished task is not polled any more, and nothing more is posted when its poll would have been due.
    _poll_now(h, BACKOFF)
    await h.bot.tracker.idle()
    assert len(polls.outcomes) == 2
    assert len(h.track_messages()) == 2 and len(_ready_notices(h)) == 1
    assert [kind for kind, *_ in ledger(db, user)] == ["allowance", "reserve", "commit"]


@pytest.mark.parametrize("last_look", ["http-500", "hangs-past-the-client-timeout"])
async def test_a_task_the_provider_never_finishes_is_refunded_after_30_minutes(h: Harness, last_look: str) -> None:
    polls = PollWatch(h.bot.provider)
    db = h.bot.settings.database_path
    payload, _ = await h.generate()
    user = payload["member"]["user"]["id"]
    await _arm(h, "http-500")
    task = await _first_poll_fails(h, polls, "http-500")
    assert task.state is TaskState.QUEUED
    assert balance(db, user) == ALLOWANCE - COST  # reserved while pending, not refunded

    # 31 minutes later the provider is still broken (the tracker's last look fails or hangs): the task is
    # failed, the member is mentioned with the reason, and the credits come back, naming why.
    FAULTS[last_look](h.kie)
    _poll_now(h, 31 * 60)
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    await h.bot.tracker.idle()
    assert notice["content"].startswith(f"<@{user}>")
    assert "30 minutes" in notice["content"]
    error_class, detail = EXPECTED[last_look]
    assert len(polls.outcomes) == 2
    assert isinstance(polls.outcomes[1], error_class) and detail in str(polls.outcomes[1])
    task = await _task(h)
    assert task.state is TaskState.FAILED
    assert "\u274c Failed" in h.messages()[0]["embeds"][0]["description"]
    rows = ledger(db, user)
    assert [kind for kind, *_ in rows] == ["allowance", "reserve", "refund"]
    refund = rows[-1]
    assert refund[1] == COST and refund[2] == task.id and "30 minutes" in refund[3]
    assert balance(db, user) == ALLOWANCE
    assert h.track_messages() == []
