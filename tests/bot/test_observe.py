"""What an operator sees: /healthz (gateway, database, the provider's last answer; nothing an outsider should
not see) and /metrics (Prometheus, optionally behind a bearer token), through the real bot."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BotFactory, Harness


async def _get(h: Harness, path: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"{h.bot.web.local_url}{path}",
                                                               headers=headers) as response:
        return response.status, await response.text()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthz_reports_the_database_the_gateway_and_the_provider_but_no_counts(harness: Harness) -> None:
    h = harness
    status, body = await _get(h, "/healthz")
    # Tests log in without a gateway connection: the bot is up, but "degraded" until the gateway connects.
    assert status == 200 and '"status": "degraded"' in body and '"gateway": "disconnected"' in body
    assert '"database": "ok"' in body and '"answered": false' in body
    await h.song()
    status, body = await _get(h, "/healthz")
    assert '"answered": true' in body and '"ok": true' in body
    assert "pending" not in body and "task" not in body  # nothing an outsider should count


async def test_healthz_is_unhealthy_when_the_database_is_gone(harness: Harness) -> None:
    await harness.bot.store.database.close()
    status, body = await _get(harness, "/healthz")
    assert status == 503 and '"database": "unreachable"' in body


async def test_metrics_count_what_happened(harness: Harness) -> None:
    h = harness
    await h.song()
    h.kie.fail_next_submit(429, "Request limit exceeded")
    h.command("generate", {"prompt": "a second song, refused for the rate"})  # back in line: no failure
    await h.discord.wait_for(lambda call: any(c.code == 429 for c in h.kie.api_calls))
    await h.bot.tracker.idle()
    status, text = await _get(h, "/metrics")
    assert status == 200
    samples = _samples(text)
    assert _value(samples, "chorus_submissions_total", outcome="accepted", code="") >= 1
    assert _value(samples, "chorus_submissions_total", outcome="not_now", code="429") == 1
    assert _value(samples, "chorus_callbacks_total", status="200") >= 1
    assert _value(samples, "chorus_status_reads_total", reason="confirm", outcome="ok") >= 1
    assert _value(samples, "chorus_tasks", kind="generate", state="succeeded") == 1
    assert _value(samples, "chorus_delivery_seconds_count") == 1
    assert _value(samples, "chorus_credits", kind="reserved") >= 2
    assert ("chorus_queue_length", ()) in samples and ("chorus_discord_rate_limited_total", ()) in samples


async def test_metrics_behind_a_token(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await make_bot(metrics_token="scrape-me"), discord_fake, kie, clock)
    assert (await _get(h, "/metrics"))[0] == 401
    assert (await _get(h, "/metrics", Authorization="Bearer wrong"))[0] == 401
    status, text = await _get(h, "/metrics", Authorization="Bearer scrape-me")
    assert status == 200 and "chorus_tasks" in text
