"""No secret ever leaves the bot: the provider key, the Discord token, the webhook HMAC key and the per-task
callback paths appear in no Discord message or embed, no log line, no error stored in the database and no
/healthz or /metrics answer, whatever the provider answers.

The provider is driven through what makes errors carry secrets: an oversized header (aiohttp's error for it,
formatted with ``repr``, carries the request headers, ``Authorization: Bearer <key>`` among them), a refusal
and a failed task whose messages echo the key and the callback URL, a proxy error page, a dropped answer.
Everything the bot wrote is then scanned.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing

import aiohttp
import pytest

from tests.cogs.test_moderation import LOG_CHANNEL, channel, mod
from tests.conftest import BotFactory, Clock, Harness
from tests.support.discord_fake import FakeDiscord
from tests.support.kie_fake import FakeKie

HMAC_KEY = "hmac-key-that-must-never-show"
OVERSIZED = {"X-Debug": "x" * 9000}  # over aiohttp's 8190-byte header limit: the answer cannot be read


@pytest.fixture
async def h(make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock) -> Harness:
    kie.hmac_key = HMAC_KEY
    harness = Harness(await make_bot(webhook_hmac_key=HMAC_KEY, poll_interval=0.5), discord_fake, kie, clock)
    await mod(harness, "log-channel", {"channel": channel(LOG_CHANNEL)})  # refunds are reported there too
    return harness


async def test_provider_faults_never_put_a_secret_in_discord_the_logs_or_the_database(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # as the bot runs, with its own debug lines too
    caplog.set_level(logging.DEBUG, logger="bot")
    key = h.kie.api_key
    callback = f"{h.bot.settings.public_base_url}/callbacks/ABCDEFGH12345678"
    echo = f"invalid request from Bearer {key} (callBackUrl {callback})"

    h.kie.fail_next_submit(200, "success", headers=OVERSIZED)  # the answer is unreadable: unconfirmed
    await h.reply_to(h.command("generate", {"prompt": "an unreadable answer"}))
    h.kie.fail_next_submit(422, echo)  # a refusal quoting the key and a callback path
    await h.reply_to(h.command("generate", {"prompt": "a refusal that echoes"}))
    h.kie.fail_next_submit(502, "<html>Bad gateway</html>", http_status=502)
    await h.reply_to(h.command("generate", {"prompt": "a proxy error page"}))

    _, polled = await h.generate("polls that fail")
    h.kie.fail_next_poll(200, "success", headers=OVERSIZED)
    h.kie.fail_next_poll(500, echo, http_status=500)
    await h.kie.fail(polled, code=501, msg=echo, deliver=False)  # the record says why, quoting the secrets
    await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))

    _, finished = await h.generate("a song that works")
    await h.kie.advance(finished, "complete")
    await h.wait_for_tracks()
    h.clock.advance(16 * 60)  # the unconfirmed one is refunded
    h.bot.tracker.wake()
    await h.discord.wait_for_message(LOG_CHANNEL, lambda m: "unconfirmed" in str(m) or
                                     "never reported starting" in str(m))
    await h.bot.tracker.idle()
    refunds = [m for m in h.discord.channel_messages(LOG_CHANNEL) if "Refunded" in str(m["embeds"])]
    assert len(refunds) == 4, refunds  # every failure was reported, and refunded

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{h.bot.web.local_url}/healthz") as response:
            health = await response.text()
        async with session.get(f"{h.bot.web.local_url}/metrics") as response:
            metrics = await response.text()
    tokens = [task.callback_token for task in await _tasks(h)]
    secrets = [key, HMAC_KEY, h.bot.settings.discord_token, "ABCDEFGH12345678", *tokens]
    written = {
        "Discord": str([(call.path, call.json, [f.data for f in call.files]) for call in h.discord.calls]),
        "logs": caplog.text,
        "/healthz": health,
        "/metrics": metrics,
        "stored errors": str(_stored_texts(h)),
    }
    for where, text in written.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}…) in {where}"
    with closing(sqlite3.connect(h.bot.settings.database_path)) as db:
        everything = "\n".join(db.iterdump())
    for secret in (key, HMAC_KEY, h.bot.settings.discord_token):
        assert secret not in everything


async def _tasks(h: Harness) -> list:
    return [task for task_id in range(1, 10) if (task := await h.bot.store.get_task(task_id)) is not None]


def _stored_texts(h: Harness) -> list[tuple]:
    with closing(sqlite3.connect(h.bot.settings.database_path)) as db:
        return (db.execute("SELECT error_message, reason, unposted FROM tasks").fetchall()
                + db.execute("SELECT reason FROM ledger").fetchall()
                + db.execute("SELECT value FROM meta").fetchall())
