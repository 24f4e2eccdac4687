"""Tests of the kie.ai fake itself (tests/support/kie_fake.py), over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.kie_fake import FakeKie, ManualClock

GUARD = 5.0  # upper bound for waiting on an event; never a timing assertion


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """Tiny callback endpoint: records every POST and answers {"status":"received"}."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)

    async def next(self) -> Received:
        return await asyncio.wait_for(self.queue.get(), GUARD)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        item = Received(dict(request.headers), await request.json())
        rec.received.append(item)
        rec.queue.put_nowait(item)
        return web.json_response({"status": "received"})

    app = web.Application()
    app.router.add_post("/callback", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    rec.url = f"http://127.0.0.1:{port}/callback"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def auth(fake: FakeKie) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.api_key}"}


def simple_body(callback: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customMode": False,
        "instrumental": False,
        "model": "V5",
        "callBackUrl": callback,
        "prompt": "a calm piano tune about rain",
    }
    body.update(extra)
    return body


async def post_generate(
    http: aiohttp.ClientSession, fake: FakeKie, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{fake.base_url}/api/v1/generate", json=body, headers=auth(fake)) as resp:
        payload: dict[str, Any] = await resp.json()
        return resp.status, payload


async def record_info(http: aiohttp.ClientSession, fake: FakeKie, task_id: str) -> dict[str, Any]:
    async with http.get(
        f"{fake.base_url}/api/v1/generate/record-info", params={"taskId": task_id}, headers=auth(fake)
    ) as resp:
        assert resp.status == 200
        payload: dict[str, Any] = await resp.json()
        return payload


async def submit(http: aiohttp.ClientSession, fake: FakeKie, callback: str, **extra: Any) -> str:
    status, payload = await post_generate(http, fake, simple_body(callback, **extra))
    assert status == 200 and payload["code"] == 200, payload
    return str(payload["data"]["taskId"])


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
async def test_auth_failure_envelope(kie: FakeKie, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    expected = {"code": 401, "msg": "You do not have access permissions", "data": None}
    async with http.post(f"{kie.base_url}/api/v1/generate", json=simple_body("http://x/cb"), headers=headers) as r:
        assert (r.status, await r.json()) == (200, expected)
    async with http.get(f"{kie.base_url}/api/v1/generate/record-info?taskId=abc", headers=headers) as r:
        assert (r.status, await r.json()) == (200, expected)
    async with http.get(f"{kie.base_url}/api/v1/chat/credit", headers=headers) as r:
        assert (r.status, await r.json()) == (200, expected)
    assert kie.submissions == []


async def test_credit(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.credits = 42
    async with http.get(f"{kie.base_url}/api/v1/chat/credit", headers=auth(kie)) as r:
        assert await r.json() == {"code": 200, "msg": "success", "data": 42}


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "drop", "fragment"),
    [
        ({}, "callBackUrl", "callBackUrl is required"),
        ({}, "customMode", "customMode is required"),
        ({}, "model", "model is required"),
        ({"model": "V3_5"}, None, "model must be one of"),
        ({"customMode": "yes"}, None, "customMode must be a boolean"),
        ({"prompt": "x" * 501}, None, "prompt exceeds 500"),
        ({"prompt": ""}, None, "prompt is required"),
        ({"customMode": True, "title": "T"}, None, "style is required"),
        ({"customMode": True, "style": "pop"}, None, "title is required"),
        ({"customMode": True, "style": "pop", "title": "T", "prompt": ""}, None, "prompt (lyrics) is required"),
        ({"customMode": True, "style": "s" * 201, "title": "T", "model": "V4"}, None, "style exceeds 200"),
        ({"customMode": True, "style": "pop", "title": "T" * 81}, None, "title exceeds 80"),
        ({"customMode": True, "style": "pop", "title": "T", "prompt": "l" * 5001}, None, "prompt exceeds 5000"),
        ({"customMode": True, "style": "pop", "title": "T", "prompt": "l" * 3001, "model": "V4"}, None, "3000"),
        ({"styleWeight": 1.5}, None, "styleWeight must be a number between 0 and 1"),
        ({"vocalGender": "x"}, None, "vocalGender"),
    ],
)
async def test_validation_errors(
    kie: FakeKie, http: aiohttp.ClientSession, change: dict[str, Any], drop: str | None, fragment: str
) -> None:
    body = simple_body("http://127.0.0.1:1/cb", **change)
    if drop:
        del body[drop]
    status, payload = await post_generate(http, kie, body)
    assert status == 200
    assert payload["code"] == 422
    assert fragment in payload["msg"]
    assert kie.submissions == []


async def test_accepts_custom_instrumental_without_prompt_and_long_v5_style(
    kie: FakeKie, http: aiohttp.ClientSession
) -> None:
    kie.auto_callbacks = False
    body = {
        "customMode": True,
        "instrumental": True,
        "model": "V5",
        "callBackUrl": "http://127.0.0.1:1/cb",
        "style": "s" * 1000,
        "title": "T" * 80,
    }
    status, payload = await post_generate(http, kie, body)
    assert (status, payload["code"], payload["msg"]) == (200, 200, "success")
    task_id = payload["data"]["taskId"]
    assert [(s.task_id, s.body) for s in kie.submissions] == [(task_id, body)]


async def test_invalid_json_is_400(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{kie.base_url}/api/v1/generate", data=b"{nope", headers=auth(kie)) as r:
        assert (await r.json())["code"] == 400


# --------------------------------------------------------------------------- scripted failures


async def test_fail_next_submit_then_success(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    kie.fail_next_submit(402, "insufficient credits")
    kie.fail_next_submit(500, "server error", http_status=500)
    kie.fail_next_submit(400, "The description contains artist name")

    assert await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb")) == (
        200,
        {"code": 402, "msg": "insufficient credits", "data": None},
    )
    assert await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb")) == (
        500,
        {"code": 500, "msg": "server error", "data": None},
    )
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert payload["msg"] == "The description contains artist name"
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert payload["code"] == 200
    assert len(kie.submissions) == 1
    assert [c.code for c in kie.api_calls] == [402, 500, 400, 200]


# --------------------------------------------------------------------------- callbacks


def assert_snake_track(track: dict[str, Any], *, audio_filled: bool = True) -> None:
    assert set(track) == {
        "id", "audio_url", "stream_audio_url", "image_url", "prompt",
        "model_name", "title", "tags", "createTime", "duration",
    }  # fmt: skip
    assert track["audio_url"].endswith(".mp3") if audio_filled else track["audio_url"] == ""
    assert track["image_url"].endswith(".jpeg")
    assert track["model_name"] == "chirp-v5"
    assert isinstance(track["duration"], float)


async def test_auto_callbacks_arrive_in_order(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id = await submit(http, kie, receiver.url)
    got = [await receiver.next() for _ in range(3)]
    await kie.drain()

    assert [g.body["data"]["callbackType"] for g in got] == ["text", "first", "complete"]
    for g in got:
        assert g.body["code"] == 200
        assert g.body["data"]["task_id"] == task_id
        assert "X-Webhook-Signature" not in g.headers
    text, first, complete = (g.body["data"]["data"] for g in got)
    assert text == []
    assert len(first) == 1
    assert_snake_track(first[0], audio_filled=False)
    assert len(complete) == 2
    for track in complete:
        assert_snake_track(track)
    assert got[2].body["msg"] == "All generated successfully."
    assert complete[0]["id"] != complete[1]["id"]
    assert first[0]["id"] == complete[0]["id"]
    assert kie.callback_results == [(task_id, "text", 200), (task_id, "first", 200), (task_id, "complete", 200)]
    assert (await record_info(http, kie, task_id))["data"]["status"] == "SUCCESS"


async def test_auto_failure_plan(kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    kie.fail_next_task(531, "generation failed, credits refunded", after="text")
    task_id = await submit(http, kie, receiver.url)
    await kie.drain()
    assert [r.body["data"]["callbackType"] for r in receiver.received] == ["text", "error"]
    assert receiver.received[1].body == {
        "code": 531,
        "msg": "generation failed, credits refunded",
        "data": {"callbackType": "error", "task_id": task_id, "data": None},
    }
    assert kie.task(task_id).status == "GENERATE_AUDIO_FAILED"


async def test_manual_advance_record_info_shapes(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    body = simple_body(receiver.url)
    task_id = await submit(http, kie, receiver.url)

    async def poll() -> dict[str, Any]:
        clock.advance(1.0)
        payload = await record_info(http, kie, task_id)
        assert payload["code"] == 200 and payload["msg"] == "success"
        data: dict[str, Any] = payload["data"]
        return data

    data = await poll()
    assert set(data) == {
        "taskId", "parentMusicId", "param", "response", "status",
        "type", "operationType", "errorCode", "errorMessage",
    }  # fmt: skip
    assert data["taskId"] == task_id
    assert json.loads(data["param"]) == body
    assert data["response"] == {"taskId": task_id, "sunoData": []}
    assert (data["status"], data["errorCode"], data["errorMessage"]) == ("PENDING", None, None)
    assert data["operationType"] == "generate"

    assert await kie.advance(task_id, "text") == (200, '{"status": "received"}')
    data = await poll()
    assert (data["status"], data["response"]["sunoData"]) == ("TEXT_SUCCESS", [])

    await kie.advance(task_id, "first")
    data = await poll()
    assert data["status"] == "FIRST_SUCCESS"
    [track] = data["response"]["sunoData"]
    assert set(track) == {
        "id", "audioUrl", "streamAudioUrl", "imageUrl", "prompt",
        "modelName", "title", "tags", "createTime", "duration",
    }  # fmt: skip
    assert track["audioUrl"] == ""
    assert track["streamAudioUrl"] == kie.stream_url(task_id, 0)

    assert await kie.advance(task_id, "complete", deliver=False) is None
    data = await poll()
    assert data["status"] == "SUCCESS"
    tracks = data["response"]["sunoData"]
    assert [t["audioUrl"] for t in tracks] == [kie.audio_url(task_id, 0), kie.audio_url(task_id, 1)]
    assert [t["id"] for t in tracks] == [t.audio_id for t in kie.task(task_id).tracks]

    assert [r.body["data"]["callbackType"] for r in receiver.received] == ["text", "first"]
    assert kie.polls == {task_id: 4}


async def test_fail_resend_and_callback_body(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    task_id = await submit(http, kie, receiver.url)
    await kie.advance(task_id, "text")
    await kie.resend(task_id, "text")
    delivery = await kie.fail(task_id, code=400, msg="Song Description flagged for moderation",
                              status="SENSITIVE_WORD_ERROR")  # fmt: skip
    assert delivery is not None and delivery.status == 200

    assert receiver.received[0].body == receiver.received[1].body
    assert receiver.received[2].body == {
        "code": 400,
        "msg": "Song Description flagged for moderation",
        "data": {"callbackType": "error", "task_id": task_id, "data": None},
    }
    assert kie.callback_body(task_id, "error") == receiver.received[2].body
    data = (await record_info(http, kie, task_id))["data"]
    assert (data["status"], data["errorCode"], data["errorMessage"]) == (
        "SENSITIVE_WORD_ERROR",
        400,
        "Song Description flagged for moderation",
    )
    # A late "complete" still gets delivered but the failed status sticks.
    await kie.advance(task_id, "complete")
    assert kie.task(task_id).status == "SENSITIVE_WORD_ERROR"
    assert [stage for _, stage, _ in kie.callback_results] == ["text", "text", "error", "complete"]


async def test_unreachable_callback_is_status_zero(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")
    delivery = await kie.advance(task_id, "text")
    assert delivery is not None and delivery.status == 0
    assert kie.callback_results == [(task_id, "text", 0)]


async def test_unknown_task_is_404_envelope(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    payload = await record_info(http, kie, "deadbeef")
    assert payload["code"] == 404 and payload["data"] is None
    assert kie.polls == {}


# --------------------------------------------------------------------------- webhook signing


async def test_hmac_headers_verify(http: aiohttp.ClientSession, receiver: Receiver) -> None:
    key = "s3cret-key"
    async with FakeKie(hmac_key=key, wall_clock=lambda: 1_700_000_000.5) as kie:
        kie.auto_callbacks = False
        task_id = await submit(http, kie, receiver.url)
        await kie.advance(task_id, "complete")
        await kie.fail(task_id)

    for got in receiver.received:
        ts = got.headers["X-Webhook-Timestamp"]
        assert ts == "1700000000"
        signed = f"{got.body['data']['task_id']}.{ts}".encode()
        expected = base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest()).decode()
        assert hmac.compare_digest(got.headers["X-Webhook-Signature"], expected)
        assert kie.sign(task_id, ts) == expected
    assert len(receiver.received) == 2


# --------------------------------------------------------------------------- files


async def test_file_serving(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")

    async with http.get(kie.audio_url(task_id, 0)) as r:
        assert r.status == 200
        assert r.content_type == "audio/mpeg"
        assert r.headers["Content-Length"] == str(20 * 1024)
        first = await r.read()
    async with http.get(kie.audio_url(task_id, 0)) as r:
        assert await r.read() == first  # deterministic
    async with http.get(kie.audio_url(task_id, 1)) as r:
        assert await r.read() != first
    async with http.get(kie.image_url(task_id, 1)) as r:
        assert r.content_type == "image/jpeg"
        assert int(r.headers["Content-Length"]) == len(await r.read()) > 0
    async with http.get(kie.stream_url(task_id, 0)) as r:
        assert (r.content_type, await r.read()) == ("audio/mpeg", first)

    kie.set_audio(task_id, 1, b"custom")
    async with http.get(kie.audio_url(task_id, 1)) as r:
        assert await r.read() == b"custom"
    for bad in (f"/files/{task_id}/2.mp3", f"/files/{task_id}/0.wav", "/files/nope/0.mp3", f"/stream/{task_id}/x"):
        async with http.get(kie.base_url + bad) as r:
            assert r.status == 404

    assert kie.downloads == [
        f"/files/{task_id}/0.mp3",
        f"/files/{task_id}/0.mp3",
        f"/files/{task_id}/1.mp3",
        f"/files/{task_id}/1.jpeg",
        f"/stream/{task_id}/0",
        f"/files/{task_id}/1.mp3",
    ]


async def test_audio_size_for_next_tasks(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    kie.audio_size = 11 * 1024 * 1024
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")
    async with http.get(kie.audio_url(task_id, 0)) as r:
        assert r.headers["Content-Length"] == str(11 * 1024 * 1024)
        assert len(await r.read()) == 11 * 1024 * 1024


# --------------------------------------------------------------------------- rate limits


async def test_submit_rate_limit_with_injected_clock(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    for _ in range(20):
        await submit(http, kie, "http://127.0.0.1:1/cb")
        clock.advance(0.1)
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert (status, payload["code"]) == (200, 429)
    assert len(kie.submissions) == 20

    clock.advance(8.0)  # 10.0 s after the first accepted request: one slot frees up
    await submit(http, kie, "http://127.0.0.1:1/cb")
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert payload["code"] == 429


async def test_poll_rate_limit_with_injected_clock(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")
    other = await submit(http, kie, "http://127.0.0.1:1/cb")

    codes = [(await record_info(http, kie, task_id))["code"] for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert (await record_info(http, kie, other))["code"] == 200  # per task, not per account
    clock.advance(1.0)
    assert (await record_info(http, kie, task_id))["code"] == 200
    assert kie.polls == {task_id: 5, other: 1}
