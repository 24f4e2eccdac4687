"""Discord answers the bot's channel posts with rate limits, server errors and "Missing Permissions".

What the member must see: every message still appears exactly once (never twice, never lost), and the bot
does not hammer Discord with retries or fall over. discord.py 2.7 itself waits out a 429 (it needs the Via
header, which FakeDiscord sends) and sends a request that got a 500/502/504/524 again, up to 5 tries in all
(waiting 1, 3, 5, 7 s), with the same nonce; it does not repeat a 503 or any 4xx (nor the 5th 5xx in a row),
so what happens then is the bot's doing.

Not here: a 404 (deleted channel) or 403 while posting a finished result, and SIGTERM during a delivery
(covered with the work on bot/delivery.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Harness
from tests.support.discord_fake import (
    DEFAULT_GUILD_ID,
    DEFAULT_USER_ID,
    Call,
    route,
)
from tests.support.faults import balance, ledger

CHANNEL_POST = route("POST", r"/channels/\d+/messages")
MESSAGE_EDIT = route("PATCH", r"/channels/\d+/messages/\d+")


def track_post(call: Call) -> bool:
    """A track's message: a channel post with the audio file attached."""
    return CHANNEL_POST(call) and any(f.filename.endswith(".mp3") for f in call.files)


def status_post(call: Call) -> bool:
    """The status message posted when a request is accepted."""
    return CHANNEL_POST(call) and not call.files and "Sending to Suno" in str((call.json or {}).get("embeds"))


def _calls(h: Harness, match: Callable[[Call], bool]) -> list[Call]:
    return [c for c in h.discord.calls if match(c)]


def _status_messages(h: Harness) -> list[dict[str, Any]]:
    footers = [(m, (m["embeds"][0].get("footer") or {}).get("text", "")) for m in h.messages() if m["embeds"]]
    return [m for m, footer in footers if footer.startswith("Task #") and "\u00b7" not in footer]


def _ready_notices(h: Harness) -> list[dict[str, Any]]:
    return [m for m in h.messages() if "your song is ready" in (m["content"] or "")]


async def _song_is_posted_once(h: Harness, task_id: str) -> None:
    """Complete the song; both tracks appear exactly once, in order, and the status message says done."""
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks(2)
    assert len(h.track_messages()) == 2
    assert [t["embeds"][0]["footer"]["text"].split(" \u00b7 ")[1] for t in tracks] == ["track 1 of 2", "track 2 of 2"]
    assert len(_ready_notices(h)) == 1
    (status,) = _status_messages(h)
    assert "\u2705 Done" in status["embeds"][0]["description"]
    task = (await h.bot.store.recent_tasks(DEFAULT_GUILD_ID, DEFAULT_USER_ID, limit=1))[0]
    assert task.delivered_at is not None


# ----- 429: waited out, posted once ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "match", "is_global"),
    [
        ("the status message", status_post, False),
        ("a status edit", MESSAGE_EDIT, False),
        ("a track upload", track_post, False),
        ("a track upload, global limit", track_post, True),
    ],
)
async def test_a_rate_limited_post_is_waited_out_and_appears_once(
    harness: Harness, where: str, match: Callable[[Call], bool], is_global: bool
) -> None:
    h = harness
    h.discord.rate_limit_next(match, retry_after=0.05, times=2, is_global=is_global)
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "text")
    await _song_is_posted_once(h, task_id)
    limited = [c for c in _calls(h, match) if c.status == 429]
    assert len(limited) == 2, h.discord.describe_calls()  # the limit was met, and waited out
    assert len(_status_messages(h)) == 1
    assert all(c.status < 300 for c in _calls(h, match)[2:])


# ----- 5xx: repeated by discord.py (500/502/504/524) or not (503) --------------------------------------------


async def test_a_502_on_a_track_upload_is_repeated_and_the_track_appears_once(harness: Harness) -> None:
    h = harness
    h.discord.fail_next(track_post, 502, 0, "Bad Gateway")
    _, task_id = await h.generate()
    await _song_is_posted_once(h, task_id)
    uploads = _calls(h, track_post)
    assert [c.status for c in uploads] == [502, 200, 200]
    assert uploads[0].files[0].data == uploads[1].files[0].data  # the same file, sent again in full


async def test_a_502_that_hid_a_successful_upload_does_not_post_the_track_twice(harness: Harness) -> None:
    """Discord made the message but the bot got a 502: discord.py sends it again with the same nonce (and
    enforce_nonce), and Discord answers with the message it already made."""
    h = harness
    h.discord.lose_answer_next(track_post)
    _, task_id = await h.generate()
    await _song_is_posted_once(h, task_id)
    uploads = _calls(h, track_post)
    assert [c.status for c in uploads] == [502, 200, 200]
    assert uploads[0].json["nonce"] == uploads[1].json["nonce"] and uploads[1].json["enforce_nonce"] is True


async def test_a_503_on_a_track_upload_is_retried_later_and_the_track_appears_once(harness: Harness) -> None:
    h = harness
    h.discord.fail_next(track_post, 503, 0, "Service Unavailable")
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete")
    await h.discord.wait_for(lambda c: track_post(c) and c.status == 503)
    await h.bot.tracker.idle()
    # Whatever back-off the bot uses, a few minutes later (bot clock) it has posted the song, once.
    for _ in range(3):
        h.clock.advance(120)
        h.bot.tracker.wake()
    await h.discord.wait_for_message(h.channel_id, lambda m: len(h.track_messages()) >= 2, timeout=0.5)
    await h.bot.tracker.idle()
    assert len(h.track_messages()) == 2 and len(_ready_notices(h)) == 1
    assert [c.status for c in _calls(h, track_post)] == [503, 200, 200]


# ----- 403 on the bot's own posts: told once, never retried in a loop -------------------------------------------


async def test_a_403_on_the_status_message_is_explained_privately_and_not_retried(strict: Harness) -> None:
    h = strict
    h.discord.fail_next(status_post, 403, 50013, "Missing Permissions")
    payload = h.command("generate", {"prompt": "a song for a locked channel"})
    reply = await h.reply_to(payload)
    await h.bot.tracker.idle()
    assert "can't post in this channel" in reply["content"]
    assert "a song for a locked channel" in str(reply)  # their prompt comes back to copy
    assert reply["flags"] & 64
    assert [c.status for c in _calls(h, CHANNEL_POST)] == [403]  # one attempt, no retry
    assert h.kie.submissions == []  # nothing was sent to Suno
    rows = ledger(h.bot.settings.database_path, DEFAULT_USER_ID)
    assert [kind for kind, *_ in rows] == ["allowance", "reserve", "refund"]  # and nothing was spent
    assert balance(h.bot.settings.database_path, DEFAULT_USER_ID) == 100
    assert (await h.bot.store.count_by_state()) == {"failed": 1}

    # Once the channel lets the bot post again, the next request works.
    _, task_id = await h.generate()
    await _song_is_posted_once(h, task_id)
    assert balance(h.bot.settings.database_path, DEFAULT_USER_ID) == 90


async def test_403s_on_status_edits_are_not_retried_and_the_song_still_arrives(harness: Harness) -> None:
    h = harness
    h.discord.fail_next(MESSAGE_EDIT, 403, 50013, "Missing Permissions", times=1000)
    _, task_id = await h.generate()
    await h.bot.tracker.idle()
    await h.kie.advance(task_id, "text")
    await h.bot.tracker.idle()
    await h.kie.advance(task_id, "first")
    await h.bot.tracker.idle()
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks(2)
    assert len(tracks) == 2 and len(_ready_notices(h)) == 1
    # One attempt per change the member would have seen (queued, lyrics, first track, done): no retry loop.
    edits = _calls(h, MESSAGE_EDIT)
    assert [c.status for c in edits] == [403] * 4
    task = (await h.bot.store.recent_tasks(DEFAULT_GUILD_ID, DEFAULT_USER_ID, limit=1))[0]
    assert task.delivered_at is not None
