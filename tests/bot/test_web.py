"""The callback endpoint: idempotent, order-proof, and deaf to forged or malformed callbacks."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.callbacks import signature
from tests.conftest import BotFactory, Harness, post_json


async def _callback_url(h: Harness) -> str:
    return h.kie.submissions[-1].body["callBackUrl"]


async def test_each_task_has_its_own_unguessable_callback_path(harness: Harness) -> None:
    h = harness
    await h.generate("one")
    await h.generate("two")
    first, second = (s.body["callBackUrl"] for s in h.kie.submissions)
    assert first != second
    assert first.startswith(h.bot.settings.public_base_url + "/callbacks/")
    assert len(first.rsplit("/", 1)[1]) >= 32


async def test_a_stage_delivered_twice_posts_once(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete")
    await h.wait_for_tracks()
    again = await h.kie.resend(task_id, "complete")
    assert again.status == 200  # acknowledged, so the provider stops retrying
    await h.kie.resend(task_id, "first")
    await h.bot.tracker.idle()
    assert len(h.track_messages()) == 2
    assert sum(1 for m in h.messages() if "your song is ready" in (m["content"] or "")) == 1


async def test_complete_before_first_still_ends_in_one_result(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete")
    await h.wait_for_tracks()
    late = await h.kie.resend(task_id, "first")
    late_text = await h.kie.resend(task_id, "text")
    assert (late.status, late_text.status) == (200, 200)
    await h.bot.tracker.idle()
    assert len(h.track_messages()) == 2
    assert "\u2705 Done" in h.messages()[0]["embeds"][0]["description"]


async def test_callbacks_sent_straight_after_the_submit_answer_are_kept(harness: Harness) -> None:
    """The provider calls back at once (no delay between stages); the token alone identifies the task, so
    even a callback that beats the bot's bookkeeping of the submit answer lands."""
    h = harness
    h.kie.auto_callbacks = True
    await h.generate()
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2


async def test_unknown_tokens_are_refused_and_change_nothing(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate()
    base = h.bot.settings.public_base_url
    body = h.kie.callback_body(task_id, "complete")
    assert await post_json(f"{base}/callbacks/{'A' * 32}", body) == 404
    assert await post_json(f"{base}/callbacks/short", body) == 404
    await h.bot.tracker.idle()
    assert h.track_messages() == []
    assert (await h.bot.store.count_by_state()) == {"queued": 1}


async def test_a_callback_for_another_task_is_refused(harness: Harness) -> None:
    h = harness
    _, first = await h.generate("first")
    first_url = await _callback_url(h)
    _, second = await h.generate("second")
    assert await post_json(first_url, h.kie.callback_body(second, "complete")) == 400
    await h.bot.tracker.idle()
    assert h.track_messages() == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"code": 200, "msg": "ok", "data": {"callbackType": "complete", "task_id": "TASK", "data": []}}',
        b'{"code": 200, "msg": "ok", "data": {"callbackType": "nonsense", "task_id": "TASK", "data": []}}',
        b'{"msg": "no code", "data": {"callbackType": "complete", "task_id": "TASK", "data": []}}',
    ],
)
async def test_malformed_bodies_get_400_and_change_nothing(harness: Harness, body: bytes) -> None:
    h = harness
    _, task_id = await h.generate()
    url = await _callback_url(h)
    assert await post_json(url, data=body.replace(b"TASK", task_id.encode()),
                       headers={"Content-Type": "application/json"}) == 400
    assert (await h.bot.store.count_by_state()) == {"queued": 1}


async def test_oversized_bodies_are_refused(harness: Harness) -> None:
    h = harness
    await h.generate()
    url = await _callback_url(h)
    assert await post_json(url, data=b"{" + b" " * (300 * 1024) + b"}", headers={"Content-Type": "application/json"}) == 413


# ----- webhook signatures (contract §5.5) ------------------------------------------------------------------


@pytest.fixture
async def signed(make_bot: BotFactory, discord_fake, kie, clock) -> Harness:
    kie.hmac_key = "hmac-test-key"
    return Harness(await make_bot(webhook_hmac_key="hmac-test-key"), discord_fake, kie, clock)


async def test_signed_callbacks_are_accepted(signed: Harness) -> None:
    _, task_id = await signed.generate()
    delivery = await signed.kie.advance(task_id, "complete")
    assert delivery.status == 200
    assert len(await signed.wait_for_tracks()) == 2


@pytest.mark.parametrize(
    "headers",
    [
        {},  # unsigned
        {"X-Webhook-Timestamp": "NOW", "X-Webhook-Signature": "bm90IHRoZSBzaWduYXR1cmU="},  # wrong signature
        {"X-Webhook-Timestamp": "OLD", "X-Webhook-Signature": "SIGNED_OLD"},  # replayed after the 300 s window
        {"X-Webhook-Timestamp": "NOW", "X-Webhook-Signature": "OTHER_TASK"},  # signature of another task
    ],
)
async def test_forged_signatures_are_refused(signed: Harness, headers: dict[str, str]) -> None:
    h = signed
    _, task_id = await h.generate()
    now, old = str(int(time.time())), str(int(time.time()) - 301)
    replacements = {"NOW": now, "OLD": old, "SIGNED_OLD": signature("hmac-test-key", task_id, old),
                    "OTHER_TASK": signature("hmac-test-key", "someone-else", now)}
    headers = {key: replacements.get(value, value) for key, value in headers.items()}
    status = await post_json(await _callback_url(h), h.kie.callback_body(task_id, "complete"), headers=headers)
    assert status == 401
    await h.bot.tracker.idle()
    assert h.track_messages() == []
    assert (await h.bot.store.count_by_state()) == {"queued": 1}


def test_signature_matches_the_documented_formula() -> None:
    # base64(HMAC-SHA256(key, "taskId.timestamp")), computed independently
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(hmac.new(b"k", b"abc.1700000000", hashlib.sha256).digest()).decode()
    assert signature("k", "abc", "1700000000") == expected


# ----- a callback is a wake-up, not the truth ---------------------------------------------------------------


async def test_a_replayed_signature_with_another_body_posts_only_what_the_provider_made(signed: Harness) -> None:
    """kie signs only "task_id.timestamp": whoever saw one callback can send a "complete" with their own URLs
    inside the window. The bot posts what the provider's own record says, never the callback's links."""
    h = signed
    _, task_id = await h.generate()
    forged = h.kie.callback_body(task_id, "complete")
    for item in forged["data"]["data"]:
        item["audio_url"] = f"{h.kie.base_url}/files/{task_id}/attacker.mp3"
        item["title"] = "Forged"
    headers = h.kie.signed_headers(task_id)
    assert await post_json(await _callback_url(h), forged, headers=headers) == 200  # validly signed
    await h.bot.tracker.idle()
    assert h.track_messages() == []  # the provider's record says it is still being made
    assert (await h.bot.store.count_by_state()) == {"queued": 1}
    await h.kie.advance(task_id, "complete", deliver=False)
    assert await post_json(await _callback_url(h), forged, headers=headers) == 200  # replayed once it is done
    tracks = await h.wait_for_tracks()
    assert [t["embeds"][0]["title"] for t in tracks] == [t.title for t in h.kie.task(task_id).tracks]
    audio = [f for call in h.discord.calls if call.files for f in call.files if f.filename.endswith(".mp3")]
    assert [f.data for f in audio] == [h.kie.audio_bytes(task_id, 0), h.kie.audio_bytes(task_id, 1)]


async def test_a_forged_failure_refunds_nothing_while_the_provider_is_still_working(harness: Harness) -> None:
    """An "error" callback the provider did not send would refund a song the provider still bills."""
    h = harness
    _, task_id = await h.generate()
    forged = {"code": 501, "msg": "Audio generation failed",
              "data": {"callbackType": "error", "task_id": task_id, "data": None}}
    assert await post_json(await _callback_url(h), forged) == 200
    await h.bot.tracker.idle()
    assert (await h.bot.store.count_by_state()) == {"queued": 1}
    assert not any("could not be made" in (m["content"] or "") for m in h.messages())


async def test_repeated_finished_callbacks_cost_one_read(harness: Harness) -> None:
    """Duplicates (also at the same moment) and late stages: one read of the provider's record per finished
    task, and one post."""
    h = harness
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete", deliver=False)
    url = await _callback_url(h)
    body = h.kie.callback_body(task_id, "complete")
    assert await asyncio.gather(*(post_json(url, body) for _ in range(5))) == [200] * 5
    await h.wait_for_tracks()
    for stage in ("complete", "first", "text"):
        assert (await h.kie.resend(task_id, stage)).status == 200
    await h.bot.tracker.idle()
    assert h.kie.polls[task_id] == 1
    assert len(h.track_messages()) == 2


async def test_a_forged_stage_moves_the_checklist_but_shows_none_of_its_links(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate()
    forged = h.kie.callback_body(task_id, "first")
    forged["data"]["data"] = [{"id": "x", "audio_url": "https://phishing.example/listen",
                               "stream_audio_url": "https://phishing.example/listen", "title": "Listen here"}]
    assert await post_json(await _callback_url(h), forged) == 200
    status = await h.discord.wait_for_message(h.channel_id, lambda m: "First track ready" in str(m["embeds"]))
    assert "phishing.example" not in str(status) and (await h.bot.store.tracks(1)) == []
