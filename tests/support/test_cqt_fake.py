"""Tests of the CQTAI fake itself (tests/support/cqt_fake.py), over real loopback HTTP."""

from __future__ import annotations

import itertools
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.cqt_fake import (
    ApiCall,
    FakeCqt,
    ManualClock,
    aligned_words,
    downbeats,
)

SUBMIT = "/api/cqt/generator/suno"
INFO = "/api/cqt/info/suno"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
CLIP_KEYS = {
    "id", "title", "status", "audio_url", "image_url", "image_large_url",
    "video_url", "model_name", "metadata", "created_at",
}  # fmt: skip


@pytest.fixture
async def cqt() -> AsyncIterator[FakeCqt]:
    async with FakeCqt() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def auth(fake: FakeCqt) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.api_key}"}


def create_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "create",
        "model": "v55",
        "customMode": False,
        "makeInstrumental": False,
        "prompt": "a calm piano tune about rain",
    }
    body.update(extra)
    return body


def custom_body(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"title": "Rain", "tags": "piano, calm", "prompt": "[Verse]\nrain on the roof"}
    return create_body(customMode=True, **{**fields, **extra})


async def post(
    http: aiohttp.ClientSession, fake: FakeCqt, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{fake.base_url}{SUBMIT}", json=body, headers=auth(fake) if headers is None else headers) as r:
        return r.status, await r.json()


async def submit(http: aiohttp.ClientSession, fake: FakeCqt, body: dict[str, Any]) -> str:
    status, payload = await post(http, fake, body)
    assert (status, payload["code"], payload["msg"]) == (200, 200, "success"), payload
    assert isinstance(payload["data"], str)
    return payload["data"]


async def reject(http: aiohttp.ClientSession, fake: FakeCqt, body: Any) -> tuple[int, str]:
    before = len(fake.tasks)
    status, payload = await post(http, fake, body)
    assert status == 200 and payload["data"] is None, payload
    assert len(fake.tasks) == before
    return payload["code"], payload["msg"]


async def info(
    http: aiohttp.ClientSession, fake: FakeCqt, task_id: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with http.get(
        f"{fake.base_url}{INFO}", params={"id": task_id}, headers=auth(fake) if headers is None else headers
    ) as r:
        return r.status, await r.json()


async def info_data(http: aiohttp.ClientSession, fake: FakeCqt, task_id: str) -> dict[str, Any]:
    status, payload = await info(http, fake, task_id)
    assert (status, payload["code"], payload["msg"]) == (200, 200, "success"), payload
    return payload["data"]


async def song(http: aiohttp.ClientSession, fake: FakeCqt, **extra: Any) -> tuple[str, list[dict[str, Any]]]:
    """A finished create task: (task id, its clips)."""
    task_id = await submit(http, fake, create_body(**extra))
    fake.complete(task_id)
    return task_id, (await info_data(http, fake, task_id))["result"]


async def get_bytes(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes, str]:
    async with http.get(url) as r:
        return r.status, await r.read(), r.content_type


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- auth and envelope


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
async def test_auth_failure_envelope(cqt: FakeCqt, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    expected = {"code": 401, "msg": "Unauthorized", "data": None}
    assert await post(http, cqt, create_body(), headers) == (200, expected)
    assert await info(http, cqt, "abc", headers) == (200, expected)
    assert cqt.submissions == [] and cqt.tasks == {}
    assert [(c.method, c.http_status, c.code) for c in cqt.api_calls] == [("POST", 200, 401), ("GET", 200, 401)]


async def test_create_accepted_with_bare_string_id_and_queued_info(http: aiohttp.ClientSession) -> None:
    clock = ManualClock(500.0)
    wall = ManualClock(1_700_000_000.0)  # 2023-11-14 22:13:20 UTC
    async with FakeCqt(api_key="k", clock=clock, wall_clock=wall) as cqt:
        body = create_body()
        status, payload = await post(http, cqt, body)
        assert status == 200
        assert payload == {"code": 200, "msg": "success", "data": cqt.last_task_id}
        task_id = payload["data"]
        assert [(s.task_id, s.body, s.at, s.task) for s in cqt.submissions] == [(task_id, body, 500.0, "create")]
        assert cqt.submissions_of("create") == cqt.submissions and cqt.submissions_of("lyrics") == []
        assert cqt.credits == 10_000 - 30
        assert cqt.task(task_id).task == "create" and cqt.task(task_id).status == "queued"

        assert await info_data(http, cqt, task_id) == {
            "id": task_id,
            "taskType": "create",
            "status": "queued",
            "errorMsg": None,
            "param": body,
            "result": None,
            "createTime": "2023-11-14 22:13:20",
            "completeTime": None,
        }
        assert cqt.polls == {task_id: 1}
        assert cqt.api_calls[-1] == ApiCall("GET", f"{INFO}?id={task_id}", 200, 200)


async def test_lifecycle_processing_streams_then_succeeded(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.wall_clock = wall = ManualClock(1_700_000_000.0)
    task_id = await submit(http, cqt, custom_body(model="v45+", vocalGender="f", styleWeight=0.5))
    cqt.advance(task_id)
    data = await info_data(http, cqt, task_id)
    assert data["status"] == "processing"
    assert len(data["result"]) == 2
    streaming_ids = [clip["id"] for clip in data["result"]]
    for clip in data["result"]:
        assert clip["status"] == "streaming" and clip["audio_url"] == "" and clip["metadata"]["duration"] is None

    wall.advance(65)
    cqt.complete(task_id)
    data = await info_data(http, cqt, task_id)
    assert (data["status"], data["errorMsg"], data["completeTime"]) == ("succeeded", None, "2023-11-14 22:14:25")
    clips = data["result"]
    assert [c["id"] for c in clips] == streaming_ids and len(set(streaming_ids)) == 2
    for n, clip in enumerate(clips):
        assert set(clip) == CLIP_KEYS
        assert clip["status"] == "complete"
        assert clip["title"] == "Rain"
        assert clip["model_name"] == "chirp-v45plus"
        assert clip["audio_url"] == cqt.file_url(task_id, f"{n}.mp3")
        assert clip["image_url"] == cqt.file_url(task_id, f"{n}.jpeg")
        assert clip["image_large_url"] == cqt.file_url(task_id, f"{n}_large.jpeg")
        assert clip["video_url"] == cqt.file_url(task_id, f"{n}.mp4")
        assert clip["metadata"]["tags"] == "piano, calm"
        assert clip["metadata"]["prompt"] == "[Verse]\nrain on the roof"
        assert clip["metadata"]["type"] == "gen"
        assert isinstance(clip["metadata"]["duration"], float)
        assert clip["created_at"] == "2023-11-14T22:13:20.000Z"
        assert cqt.clip(clip["id"]) == (cqt.task(task_id), clip)

    with pytest.raises(ValueError):
        cqt.advance(task_id, "processing")
    with pytest.raises(ValueError):
        cqt.fail(task_id)
    cqt.complete(task_id)  # idempotent once succeeded


async def test_advance_rejects_terminal_statuses(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    task_id = await submit(http, cqt, create_body())
    with pytest.raises(ValueError):
        cqt.advance(task_id, "succeeded")
    cqt.advance(task_id, "processing")
    cqt.advance(task_id, "queued")
    assert cqt.task(task_id).status == "queued"


async def test_non_custom_and_instrumental_results(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    _, clips = await song(http, cqt, model="v40")
    assert clips[0]["title"] == "A Calm Piano Tune"
    assert "a calm piano tune about rain" in clips[0]["metadata"]["prompt"]
    assert clips[0]["model_name"] == "chirp-v40"
    _, clips = await song(http, cqt, customMode=True, makeInstrumental=True, title="T", tags="ambient", prompt="")
    assert [c["metadata"]["prompt"] for c in clips] == ["", ""]


# --------------------------------------------------------------------------- every task type


async def test_every_task_type_accepted_and_result_shape(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    src_task, src = await song(http, cqt, model="v50")
    clip_id, src_duration = src[0]["id"], src[0]["metadata"]["duration"]
    upload_url = src[1]["audio_url"]  # the fake fetches its own file over HTTP

    bodies: dict[str, dict[str, Any]] = {
        "create": custom_body(),
        "extend": {"task": "extend", "model": "v50", "clipId": clip_id, "continueAt": 30.5},
        "cover": custom_body(task="cover", clipId=clip_id),
        "upload_extend": {"task": "upload_extend", "model": "v55", "audioUrl": upload_url, "continueAt": 12},
        "upload_cover": custom_body(task="upload_cover", audioUrl=upload_url),
        "gen_stem_two": {"task": "gen_stem_two", "clipId": clip_id},
        "gen_stem_all": {"task": "gen_stem_all", "clipId": clip_id},
        "lyrics": {"task": "lyrics", "prompt": "a song about autumn leaves"},
        "wav": {"task": "wav", "clipId": clip_id},
        "mp4": {"task": "mp4", "clipId": clip_id},
    }
    credits = cqt.credits
    ids: dict[str, str] = {}
    for kind, body in bodies.items():
        ids[kind] = await submit(http, cqt, body)
        cqt.complete(ids[kind])
    assert credits - cqt.credits == 30 * 5 + 60 + 150 + 2 * 3
    assert [s.task for s in cqt.submissions[1:]] == list(bodies)
    assert [u.status for u in cqt.uploads] == [200, 200]
    assert cqt.task(ids["upload_cover"]).upload_bytes == cqt.file_bytes(upload_url)

    results = {}
    for kind, task_id in ids.items():
        data = await info_data(http, cqt, task_id)
        assert (data["taskType"], data["status"], data["param"]) == (kind, "succeeded", bodies[kind])
        results[kind] = data["result"]

    for kind in ("create", "extend", "cover", "upload_extend", "upload_cover"):
        assert len(results[kind]) == 2 and all(set(c) == CLIP_KEYS for c in results[kind]), kind
    extended = results["extend"]
    assert all(c["metadata"]["duration"] > src_duration for c in extended)
    assert all(c["title"] == src[0]["title"] for c in extended)
    assert extended[0]["metadata"]["continue_clip_id"] == clip_id
    assert all(c["id"] not in {s["id"] for s in src} for c in extended)
    assert all(c["metadata"]["duration"] > cqt.upload_duration for c in results["upload_extend"])
    assert results["upload_extend"][0]["model_name"] == "chirp-v55"

    two = results["gen_stem_two"]
    assert [c["title"] for c in two] == [f"{src[0]['title']} (Vocals)", f"{src[0]['title']} (Instrumental)"]
    assert [c["metadata"]["stem_type_group_name"] for c in two] == ["Vocals", "Instrumental"]
    every = results["gen_stem_all"]
    names = [c["metadata"]["stem_type_group_name"] for c in every]
    assert names == [
        "Vocals", "Backing Vocals", "Drums", "Bass", "Guitar", "Keyboard",
        "Percussion", "Strings", "Synth", "FX", "Brass", "Woodwinds",
    ]  # fmt: skip
    for clip, name in zip(every, names, strict=True):
        assert clip["title"] == f"{src[0]['title']} ({name})"
        assert clip["metadata"]["stem_task"] == "twelve"
        assert clip["metadata"]["duration"] == src_duration
        assert clip["audio_url"].startswith(f"{cqt.base_url}/files/{ids['gen_stem_all']}/")
    assert every[1]["audio_url"].endswith("/backing_vocals.mp3")

    assert [set(v) for v in results["lyrics"]] == [{"title", "text", "status"}] * 2
    assert all(v["status"] == "complete" and "autumn leaves" in v["text"] for v in results["lyrics"])
    assert results["wav"] == {"wav_file_url": cqt.file_url(ids["wav"], "audio.wav")}
    assert results["mp4"] == {"video_url": cqt.file_url(ids["mp4"], "video.mp4")}

    # Stem clips are clips too: they can be exported.
    await submit(http, cqt, {"task": "wav", "clipId": every[0]["id"]})
    assert cqt.clip(src[0]["id"])[0].task_id == src_task


async def test_lyrics_object_shape(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.lyrics_shape = "object"
    task_id = await submit(http, cqt, {"task": "lyrics", "prompt": "autumn"})
    cqt.complete(task_id)
    result = (await info_data(http, cqt, task_id))["result"]
    assert set(result) == {"title", "text"} and "autumn" in result["text"]


async def test_export_clip_shape(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    _, clips = await song(http, cqt)
    cqt.export_shape = "clip"
    wav_id = await submit(http, cqt, {"task": "wav", "clipId": clips[0]["id"]})
    mp4_id = await submit(http, cqt, {"task": "mp4", "clipId": clips[1]["id"]})
    cqt.complete(wav_id)
    cqt.complete(mp4_id)
    wav = (await info_data(http, cqt, wav_id))["result"]
    mp4 = (await info_data(http, cqt, mp4_id))["result"]
    assert [(c["id"], c["audio_url"]) for c in wav] == [(clips[0]["id"], cqt.file_url(wav_id, "audio.wav"))]
    assert [(c["id"], c["video_url"]) for c in mp4] == [(clips[1]["id"], cqt.file_url(mp4_id, "video.mp4"))]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({"model": "v55"}, "task is required"),
        ({"task": "remaster"}, "unsupported task: remaster"),
        ({"task": "generate"}, "unsupported task: generate"),
        (create_body(model=None), "model is required"),
        (create_body(model="V5"), "model must be one of v55, v50, v45+, v45, v40"),
        (create_body(model="v45-lite"), "model must be one of"),
        (create_body(customMode="true"), "customMode must be a boolean"),
        (create_body(makeInstrumental=1), "makeInstrumental must be a boolean"),
        (create_body(prompt=""), "prompt is required in non-custom mode"),
        (create_body(prompt="p" * 401), "prompt exceeds 400 characters"),
        (create_body(prompt=5), "prompt must be a string"),
        (custom_body(title=""), "title is required in custom mode"),
        (custom_body(title="t" * 81), "title exceeds 80"),
        (custom_body(tags=None), "tags is required in custom mode"),
        (custom_body(model="v40", tags="t" * 201), "tags exceeds 200 characters for v40"),
        (custom_body(tags="t" * 1001), "tags exceeds 1000 characters for v55"),
        (custom_body(prompt=""), "prompt (lyrics) is required in custom mode"),
        (custom_body(model="v40", prompt="l" * 3001), "prompt exceeds 3000 characters for v40"),
        (custom_body(prompt="l" * 5001), "prompt exceeds 5000 characters for v55"),
        (create_body(vocalGender="male"), "vocalGender must be 'm' or 'f'"),
        (create_body(styleWeight="high"), "styleWeight must be a number"),
        (create_body(weirdnessConstraint=True), "weirdnessConstraint must be a number"),
        (create_body(instrumental=True), "unknown field: instrumental"),
        (create_body(style="pop"), "unknown field: style"),
        ({"task": "extend", "model": "v55", "audioId": "x", "continueAt": 5}, "unknown field: audioId"),
        ({"task": "upload_cover", "model": "v55", "uploadUrl": "http://x/a.mp3"}, "unknown field: uploadUrl"),
        ({"task": "extend", "model": "v55", "continueAt": 5}, "clipId is required"),
        ({"task": "extend", "clipId": "x", "continueAt": 5}, "model is required"),
        ({"task": "wav"}, "clipId is required"),
        ({"task": "gen_stem_two", "clipId": 7}, "clipId must be a string"),
        ({"task": "lyrics", "prompt": " "}, "prompt is required"),
        ({"task": "upload_cover", "model": "v55", "prompt": "x"}, "audioUrl is required"),
        ({"task": "upload_cover", "model": "v55", "audioUrl": "ftp://x/a.mp3"}, "audioUrl must be an http(s) URL"),
        ({"task": "upload_extend", "model": "v55", "audioUrl": "http://x/a"}, "continueAt is required"),
        ({"task": "upload_extend", "model": "v55", "audioUrl": "http://x/a", "continueAt": 0}, "continueAt must be"),
        ({"task": "upload_extend", "model": "v55", "audioUrl": "http://x/a", "continueAt": "5"}, "continueAt must"),
        ({"task": "extend", "model": "v55", "clipId": "c", "continueAt": 5, "title": "t" * 81}, "title exceeds 80"),
    ],
)
async def test_validation_errors(cqt: FakeCqt, http: aiohttp.ClientSession, body: dict[str, Any], msg: str) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    code, got = await reject(http, cqt, body)
    assert code == 400
    assert got.startswith(msg), got
    assert cqt.submissions == [] and cqt.credits == 10_000 and cqt.uploads == []


async def test_limits_at_the_boundary_are_accepted(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    await submit(http, cqt, create_body(prompt="p" * 400))
    await submit(http, cqt, custom_body(model="v40", title="t" * 80, tags="t" * 200, prompt="l" * 3000))
    await submit(http, cqt, custom_body(tags="t" * 1000, prompt="l" * 5000, callBackUrl="http://ignored"))
    await submit(http, cqt, create_body(customMode=None, makeInstrumental=None))  # both default to false


async def test_invalid_json(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{cqt.base_url}{SUBMIT}", data=b"{nope", headers=auth(cqt)) as r:
        assert (r.status, (await r.json())["code"]) == (200, 400)
    assert await reject(http, cqt, ["create"]) == (400, "invalid JSON body: expected an object")


async def test_clip_checks(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    _, clips = await song(http, cqt)
    duration = clips[0]["metadata"]["duration"]
    unknown_clip = [
        {"task": "extend", "model": "v55", "clipId": "nope", "continueAt": 10},
        custom_body(task="cover", clipId="nope"),
        *({"task": kind, "clipId": "nope"} for kind in ("gen_stem_two", "gen_stem_all", "wav", "mp4")),
    ]
    for body in unknown_clip:
        assert await reject(http, cqt, body) == (400, "clip not found")
    extend = {"task": "extend", "model": "v55", "clipId": clips[0]["id"]}
    code, msg = await reject(http, cqt, {**extend, "continueAt": duration})
    assert (code, msg.startswith("continueAt must be less than")) == (400, True)
    await submit(http, cqt, {**extend, "continueAt": duration - 0.5})

    # Clips of a failed task are not usable.
    failed_id = await submit(http, cqt, create_body())
    failed_clip = cqt.task(failed_id).clips[0]["id"]
    cqt.fail(failed_id)
    assert await reject(http, cqt, {"task": "wav", "clipId": failed_clip}) == (400, "clip not found")


async def test_upload_extend_continue_at_bounded_by_upload_duration(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    _, clips = await song(http, cqt)
    cqt.upload_duration = 20.0
    body = {"task": "upload_extend", "model": "v55", "audioUrl": clips[0]["audio_url"], "continueAt": 20}
    code, msg = await reject(http, cqt, body)
    assert code == 400 and msg.startswith("continueAt must be less than")


async def test_upload_fetch_failures(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    missing = f"{cqt.base_url}/files/nope/0.mp3"
    refused = f"http://127.0.0.1:{closed_port()}/a.mp3"
    for url in (missing, refused):
        body = custom_body(task="upload_cover", audioUrl=url)
        assert await reject(http, cqt, body) == (400, "audio download failed")
    assert [(u.url, u.status) for u in cqt.uploads] == [(missing, 404), (refused, 0)]
    assert cqt.credits == 10_000


# --------------------------------------------------------------------------- limits and moderation


async def test_concurrency_limit_and_finishing_frees_a_slot(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = 2
    first = await submit(http, cqt, create_body())
    second = await submit(http, cqt, {"task": "lyrics", "prompt": "x"})
    cqt.advance(second)
    assert await reject(http, cqt, create_body()) == (429, "Task limit reached")
    assert len(cqt.submissions) == 2 and cqt.credits == 10_000 - 32

    cqt.complete(first)
    third = await submit(http, cqt, create_body())
    assert await reject(http, cqt, create_body()) == (429, "Task limit reached")
    cqt.fail(second)
    await submit(http, cqt, create_body())
    assert cqt.running_count() == 2
    assert third in cqt.tasks

    cqt.max_running = None
    for _ in range(3):
        await submit(http, cqt, {"task": "lyrics", "prompt": "x"})


async def test_insufficient_credits_and_refund_on_failure(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.credits = 29
    assert await reject(http, cqt, create_body()) == (402, "insufficient credits")
    lyrics = await submit(http, cqt, {"task": "lyrics", "prompt": "x"})
    assert cqt.credits == 27
    cqt.credits = 30
    task_id = await submit(http, cqt, create_body())
    assert cqt.credits == 0
    assert await reject(http, cqt, {"task": "lyrics", "prompt": "x"}) == (402, "insufficient credits")
    cqt.fail(task_id, "boom")
    cqt.fail(task_id, "boom again")  # refunded once
    assert cqt.credits == 30
    cqt.complete(lyrics)
    assert cqt.credits == 30


@pytest.mark.parametrize(
    "body",
    [
        create_body(prompt="a song like Taylor Swift would sing"),
        create_body(prompt="in the style of DRAKE"),
        custom_body(tags="pop, drake"),
        custom_body(title="Taylor Swift tribute"),
        {"task": "lyrics", "prompt": "lyrics for drake"},
    ],
)
async def test_blocked_artist_names(cqt: FakeCqt, http: aiohttp.ClientSession, body: dict[str, Any]) -> None:
    assert await reject(http, cqt, body) == (451, "artist name not allowed")
    assert cqt.credits == 10_000


async def test_blocked_words_match_whole_words_and_are_configurable(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    await submit(http, cqt, create_body(prompt="a mandrake root ballad", negativeTags="drake"))
    cqt.blocked_words = set()
    await submit(http, cqt, create_body(prompt="like drake"))
    cqt.moderated_words = {"badword"}
    assert await reject(http, cqt, create_body(prompt="a BadWord song")) == (451, "content moderation")


# --------------------------------------------------------------------------- scripted failures


async def test_fail_next_submit(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.fail_next_submit(500, "timeout", http_status=503, data={"x": 1})
    assert await post(http, cqt, create_body()) == (503, {"code": 500, "msg": "timeout", "data": {"x": 1}})
    cqt.fail_next_submit(429, "Task limit reached", task="lyrics")
    await submit(http, cqt, create_body())  # not a lyrics task: the canned answer waits
    assert await post(http, cqt, {"task": "lyrics", "prompt": "x"}) == (
        200,
        {"code": 429, "msg": "Task limit reached", "data": None},
    )
    await submit(http, cqt, {"task": "lyrics", "prompt": "x"})
    assert [s.task for s in cqt.submissions] == ["create", "lyrics"]
    assert [c.http_status for c in cqt.api_calls] == [503, 200, 200, 200]
    with pytest.raises(ValueError):
        cqt.fail_next_submit(400, "x", task="generate")


async def test_fail_next_poll(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    task_id = await submit(http, cqt, create_body())
    cqt.fail_next_poll(500, "failed", http_status=502)
    assert await info(http, cqt, task_id) == (502, {"code": 500, "msg": "failed", "data": None})
    assert cqt.polls == {}
    assert (await info_data(http, cqt, task_id))["status"] == "queued"
    assert cqt.polls == {task_id: 1}


async def test_failed_task_info(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.wall_clock = ManualClock(1_700_000_000.0)
    task_id = await submit(http, cqt, create_body())
    cqt.advance(task_id)
    cqt.fail(task_id, "generation failed")
    data = await info_data(http, cqt, task_id)
    assert (data["status"], data["errorMsg"], data["result"]) == ("failed", "generation failed", None)
    assert data["completeTime"] == "2023-11-14 22:13:20"
    assert cqt.task(task_id).error_msg == "generation failed"

    other = await submit(http, cqt, create_body())
    cqt.fail(other, "timeout", code=500)
    status, payload = await info(http, cqt, other)
    assert (status, payload["code"], payload["msg"], payload["data"]["status"]) == (200, 500, "timeout", "failed")


async def test_info_unknown_missing_id_and_unknown_paths(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    assert await info(http, cqt, "nope") == (200, {"code": 404, "msg": "task not found", "data": None})
    async with http.get(f"{cqt.base_url}{INFO}", headers=auth(cqt)) as r:
        assert (await r.json())["msg"] == "id is required"
    async with http.get(f"{cqt.base_url}/api/cqt/v2/sunoinfo?id=x", headers=auth(cqt)) as r:
        assert (r.status, (await r.json())["code"]) == (404, 404)
    async with http.get(f"{cqt.base_url}{SUBMIT}", headers=auth(cqt)) as r:
        assert r.status == 404
    assert cqt.api_calls[-2:] == [
        ApiCall("GET", "/api/cqt/v2/sunoinfo?id=x", 404, 404),
        ApiCall("GET", SUBMIT, 404, 404),
    ]
    assert cqt.polls == {}


@pytest.mark.parametrize("n", [1, 3])
async def test_auto_complete_after_polls(cqt: FakeCqt, http: aiohttp.ClientSession, n: int) -> None:
    cqt.auto_complete_after_polls = n
    task_id = await submit(http, cqt, create_body())
    statuses = [(await info_data(http, cqt, task_id))["status"] for _ in range(n + 1)]
    assert statuses == ["processing"] * (n - 1) + ["succeeded"] * 2
    assert cqt.polls[task_id] == n + 1
    # Slot freed by the auto completion.
    assert cqt.running_count() == 0


# --------------------------------------------------------------------------- files


async def test_served_files_and_downloads(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.audio_size, cqt.image_size, cqt.file_size = 5000, 700, 3000
    task_id, clips = await song(http, cqt)
    stems = await submit(http, cqt, {"task": "gen_stem_two", "clipId": clips[0]["id"]})
    wav = await submit(http, cqt, {"task": "wav", "clipId": clips[0]["id"]})
    mp4 = await submit(http, cqt, {"task": "mp4", "clipId": clips[0]["id"]})
    for t in (stems, wav, mp4):
        cqt.complete(t)
    stem_url = (await info_data(http, cqt, stems))["result"][0]["audio_url"]
    wav_url = (await info_data(http, cqt, wav))["result"]["wav_file_url"]
    mp4_url = (await info_data(http, cqt, mp4))["result"]["video_url"]

    expected = [
        (clips[0]["audio_url"], b"ID3", 5000, "audio/mpeg"),
        (clips[0]["image_url"], b"\xff\xd8\xff", 700, "image/jpeg"),
        (clips[1]["image_large_url"], b"\xff\xd8\xff", 700, "image/jpeg"),
        (clips[1]["video_url"], b"\x00\x00\x00\x18ftyp", 3000, "video/mp4"),
        (stem_url, b"ID3", 5000, "audio/mpeg"),
        (wav_url, b"RIFF", 3000, "audio/wav"),
        (mp4_url, b"\x00\x00\x00\x18ftyp", 3000, "video/mp4"),
    ]
    for url, prefix, size, content_type in expected:
        status, data, got_type = await get_bytes(http, url)
        assert (status, data[: len(prefix)], len(data), got_type) == (200, prefix, size, content_type), url
        assert data == cqt.file_bytes(url) == cqt.file_bytes(url.removeprefix(cqt.base_url))
    assert cqt.file_bytes(wav_url)[8:12] == b"WAVE"
    assert (await get_bytes(http, clips[0]["audio_url"]))[1] == cqt.file_bytes(clips[0]["audio_url"])  # stable
    assert cqt.downloads == [e[0] for e in expected] + [clips[0]["audio_url"]]
    assert cqt.file_bytes(clips[0]["audio_url"]) != cqt.file_bytes(clips[1]["audio_url"])

    for bad in (f"/files/{task_id}/2.mp3", f"/files/{task_id}/0.wav", "/files/nope/0.mp3", f"/files/{wav}/video.mp4"):
        assert (await get_bytes(http, f"{cqt.base_url}{bad}"))[0] == 404
        with pytest.raises(KeyError):
            cqt.file_bytes(bad)
    with pytest.raises(KeyError):
        cqt.file_url(task_id, "9.mp3")
    assert len(cqt.downloads) == len(expected) + 1
    assert not [c for c in cqt.api_calls if c.path_qs.startswith("/files")]

    cqt.set_file_bytes(clips[0]["audio_url"], b"ID3tiny")
    assert (await get_bytes(http, clips[0]["audio_url"]))[1] == b"ID3tiny"


async def test_clip_lookup_unknown(cqt: FakeCqt) -> None:
    with pytest.raises(KeyError):
        cqt.clip("nope")
    with pytest.raises(KeyError):
        cqt.task("nope")
    with pytest.raises(LookupError):
        _ = cqt.last_task_id
    with pytest.raises(ValueError):
        cqt.submissions_of("generate")


# --------------------------------------------------------------------------- tasks added from C-APIFOX / C-PAGES

LYRICS = (
    "[Verse 1]\nRed eyes from the long night\nrain on the roof and the street light\n"
    "[Chorus]\nhold on hold on to the morning\nwe were young and we were singing\n"
    "[Verse 2]\ncold coffee on the table\nwaiting for a sign we were able\n"
    "[Outro]\nhold on hold on\n"
)


async def lyric_song(http: aiohttp.ClientSession, fake: FakeCqt, **extra: Any) -> tuple[str, list[dict[str, Any]]]:
    """A finished custom-mode create task with LYRICS: (task id, its clips)."""
    task_id = await submit(http, fake, custom_body(prompt=LYRICS, **extra))
    fake.complete(task_id)
    return task_id, (await info_data(http, fake, task_id))["result"]


def replace_body(task_id: str, clip_id: str, **extra: Any) -> dict[str, Any]:
    """C-APIFOX's replace_section example, on our clip."""
    body: dict[str, Any] = {
        "task": "replace_section",
        "taskId": task_id,
        "clipId": clip_id,
        "tags": "piano, bright",
        "title": "Rain (sunny edit)",
        "infillLyrics": "sun on the roof and a brand new day",
        "rangeStartS": 7.56,
        "rangeEndS": 15.98,
    }
    body.update(extra)
    return body


def persona_body(task_id: str, clip_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "persona",
        "taskId": task_id,
        "clipId": clip_id,
        "name": "Nova",
        "description": "first persona",
    }
    body.update(extra)
    return body


async def finished(http: aiohttp.ClientSession, fake: FakeCqt, body: dict[str, Any]) -> tuple[str, Any]:
    """Submit, complete, and read back: (task id, result)."""
    task_id = await submit(http, fake, body)
    fake.complete(task_id)
    data = await info_data(http, fake, task_id)
    assert (data["taskType"], data["status"], data["param"]) == (body["task"], "succeeded", body)
    return task_id, data["result"]


async def test_replace_section_then_merge(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    cqt.wall_clock = ManualClock(1_700_000_000.0)
    song_id, clips = await lyric_song(http, cqt, model="v45")
    source = clips[0]
    duration = source["metadata"]["duration"]
    credits = cqt.credits

    body = replace_body(song_id, source["id"], rangeStartS=60.0, rangeEndS=90.0)
    section_id = await submit(http, cqt, body)
    assert cqt.credits == credits - 30
    assert cqt.task(section_id).source_clip_id == source["id"]
    cqt.advance(section_id)
    streaming = (await info_data(http, cqt, section_id))["result"]
    assert [c["status"] for c in streaming] == ["streaming", "streaming"]
    cqt.complete(section_id)
    segments = (await info_data(http, cqt, section_id))["result"]
    assert len(segments) == 2 and [c["id"] for c in segments] == cqt.segments(section_id)
    assert [c["id"] for c in streaming] == cqt.segments(section_id)
    for n, segment in enumerate(segments):
        assert set(segment) == CLIP_KEYS
        assert (segment["title"], segment["status"], segment["model_name"]) == (
            "Rain (sunny edit)",
            "complete",
            "chirp-v45",
        )
        assert segment["audio_url"] == cqt.file_url(section_id, f"{n}.mp3")
        assert segment["video_url"] == ""
        meta = segment["metadata"]
        assert meta["type"] == "infill" and meta["infill"] is True
        assert (meta["infill_start_s"], meta["infill_end_s"], meta["duration"]) == (60.0, 90.0, 30.0)
        assert meta["edited_clip_id"] == source["id"]
        assert meta["edit_session_id"] == segment["id"]
        assert (meta["tags"], meta["prompt"]) == ("piano, bright", "sun on the roof and a brand new day")
    assert (await get_bytes(http, segments[0]["audio_url"]))[:2] == (200, cqt.file_bytes(segments[0]["audio_url"]))
    assert (await get_bytes(http, f"{cqt.base_url}/files/{section_id}/0.mp4"))[0] == 404

    merge = {"task": "replace_merge", "clipId": source["id"], "editSessionId": segments[1]["id"]}
    merge_id, merged = await finished(http, cqt, merge)
    assert cqt.credits == credits - 30 - 2
    assert cqt.task(merge_id).segment_id == segments[1]["id"]
    assert len(merged) == 1
    clip = merged[0]
    assert set(clip) == CLIP_KEYS and clip["id"] not in {source["id"], *cqt.segments(section_id)}
    assert (clip["title"], clip["metadata"]["tags"], clip["metadata"]["duration"]) == (
        "Rain (sunny edit)",
        "piano, bright",
        duration,
    )
    assert clip["metadata"]["type"] == "concat"
    assert (clip["metadata"]["edited_clip_id"], clip["metadata"]["edit_session_id"]) == (
        source["id"],
        segments[1]["id"],
    )
    assert clip["video_url"] == cqt.file_url(merge_id, "0.mp4")
    assert (await get_bytes(http, clip["video_url"]))[0] == 200

    # The merged lyrics: the source's words timed outside 60–90 s, the infill in between.
    words = cqt.timeline(source["id"])
    before = "".join(w["word"] for w in words if w["end_s"] <= 60.0)
    after = "".join(w["word"] for w in words if w["start_s"] >= 90.0)
    assert before and after
    assert clip["metadata"]["prompt"] == before + "sun on the roof and a brand new day\n" + after

    # The merged song is a song: it can be edited again, exported, made into a persona.
    await submit(http, cqt, replace_body(merge_id, clip["id"]))
    await submit(http, cqt, {"task": "timeline", "clipId": clip["id"]})
    await submit(http, cqt, persona_body(merge_id, clip["id"]))


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        ({"taskId": None}, "taskId is required"),
        ({"taskId": " "}, "taskId is required"),
        ({"clipId": None}, "clipId is required"),
        ({"tags": None}, "tags is required"),
        ({"title": ""}, "title is required"),
        ({"infillLyrics": None}, "infillLyrics is required"),
        ({"infillLyrics": "  "}, "infillLyrics is required"),
        ({"infillLyrics": 3}, "infillLyrics must be a string"),
        ({"rangeStartS": None}, "rangeStartS is required"),
        ({"rangeEndS": None}, "rangeEndS is required"),
        ({"rangeStartS": "7.5"}, "rangeStartS must be a number"),
        ({"rangeEndS": True}, "rangeEndS must be a number"),
        ({"rangeStartS": -1}, "rangeStartS must be 0 or more"),
        ({"rangeStartS": 20, "rangeEndS": 20}, "rangeEndS must be greater than rangeStartS"),
        ({"title": "t" * 81}, "title exceeds 80"),
    ],
)
async def test_replace_section_shape_errors(
    cqt: FakeCqt, http: aiohttp.ClientSession, change: dict[str, Any], msg: str
) -> None:
    body = {k: v for k, v in {**replace_body("t", "c"), **change}.items() if v is not None}
    code, got = await reject(http, cqt, body)
    assert (code, got.startswith(msg)) == (400, True), got
    assert cqt.credits == 10_000


async def test_replace_section_references_and_range(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    song_id, clips = await lyric_song(http, cqt)
    other_id, other = await lyric_song(http, cqt)
    clip_id, duration = clips[0]["id"], clips[0]["metadata"]["duration"]
    pending = await submit(http, cqt, custom_body())
    stems_id, stems = await finished(http, cqt, {"task": "gen_stem_two", "clipId": clip_id})

    cases = [
        (replace_body("nope", clip_id), "task not found"),
        (replace_body(song_id, "nope"), "clip not found"),
        (replace_body(other_id, clip_id), "clipId is not a clip of taskId"),
        (replace_body(pending, cqt.task(pending).clips[0]["id"]), f"task {pending} has not succeeded"),
        (replace_body(stems_id, stems[0]["id"]), "clipId must be a song clip"),
        (replace_body(song_id, clip_id, rangeStartS=150.0, rangeEndS=duration + 0.01), "rangeEndS must not exceed"),
        (replace_body(song_id, clip_id, rangeStartS=10.0, rangeEndS=15.99), "the range must be 6–60 s long"),
        (replace_body(song_id, clip_id, rangeStartS=10.0, rangeEndS=70.01), "the range must be 6–60 s long"),
        (replace_body(song_id, clip_id, tags="t" * 1001), "tags exceeds 1000 characters for v55"),
    ]
    for body, msg in cases:
        code, got = await reject(http, cqt, body)
        assert (code, got.startswith(msg)) == (400, True), (body, got)

    # Bounds (kie's, UNCONFIRMED for CQTAI) are inclusive, and the knobs move them.
    credits = cqt.credits
    await submit(http, cqt, replace_body(song_id, clip_id, rangeStartS=10.0, rangeEndS=16.0))
    await submit(http, cqt, replace_body(other_id, other[1]["id"], rangeStartS=0, rangeEndS=60))
    assert cqt.credits == credits - 60
    cqt.replace_min_s = 1.0
    await submit(http, cqt, replace_body(song_id, clip_id, rangeStartS=10.0, rangeEndS=12.0))

    # At most half the clip.
    cqt.durations = (30.0, 30.0)
    short_id, short = await lyric_song(http, cqt, model="v40")
    code, got = await reject(http, cqt, replace_body(short_id, short[0]["id"], rangeStartS=0, rangeEndS=15.5))
    assert (code, got) == (400, "the range must be at most 50% of the clip (30.0 s; got 15.5 s)")
    await submit(http, cqt, replace_body(short_id, short[0]["id"], rangeStartS=14.5, rangeEndS=29.5))
    code, got = await reject(http, cqt, replace_body(short_id, short[0]["id"], tags="t" * 201))
    assert (code, got.startswith("tags exceeds 200 characters for v40")) == (400, True)
    cqt.replace_max_fraction = 1.0
    cqt.replace_max_s = 30.0
    await submit(http, cqt, replace_body(short_id, short[0]["id"], rangeStartS=0, rangeEndS=30))

    # infillLyrics is screened like lyrics.
    code, _ = await reject(http, cqt, replace_body(song_id, clip_id, infillLyrics="sing like drake"))
    assert code == 451


async def test_replace_merge_references(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    song_id, clips = await lyric_song(http, cqt)
    _, segments = await finished(http, cqt, replace_body(song_id, clips[0]["id"]))
    pending_section = await submit(http, cqt, replace_body(song_id, clips[0]["id"]))
    other_section, _ = await finished(http, cqt, replace_body(song_id, clips[1]["id"]))

    def merge(clip_id: str, session: str | None) -> dict[str, Any]:
        body = {"task": "replace_merge", "clipId": clip_id, "editSessionId": session}
        return {k: v for k, v in body.items() if v is not None}

    cases = [
        (merge(clips[0]["id"], None), "editSessionId is required"),
        (merge(clips[0]["id"], ""), "editSessionId is required"),
        (merge("nope", segments[0]["id"]), "clip not found"),
        (merge(clips[0]["id"], "nope"), "edit session not found"),
        (merge(clips[0]["id"], clips[1]["id"]), "edit session not found"),  # a song, not a segment
        (merge(clips[0]["id"], cqt.segments(pending_section)[0]), "edit session not ready"),
        (merge(clips[0]["id"], cqt.segments(other_section)[0]), "editSessionId is a segment of another clip"),
    ]
    for body, msg in cases:
        code, got = await reject(http, cqt, body)
        assert (code, got.startswith(msg)) == (400, True), (body, got)
    await submit(http, cqt, merge(clips[0]["id"], segments[0]["id"]))
    with pytest.raises(ValueError):
        cqt.segments(song_id)


async def test_persona_then_persona_id_on_song_tasks(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    song_id, clips = await lyric_song(http, cqt)
    credits = cqt.credits
    persona_task = await submit(http, cqt, persona_body(song_id, clips[0]["id"]))
    assert cqt.credits == credits - 2
    persona_id = cqt.task(persona_task).new_persona_id
    assert persona_id is not None and cqt.personas == {}
    # Not usable before the persona task has succeeded.
    assert await reject(http, cqt, custom_body(personaId=persona_id)) == (400, "persona not found")

    cqt.complete(persona_task)
    data = await info_data(http, cqt, persona_task)
    assert data["result"] == {
        "id": persona_id,
        "name": "Nova",
        "description": "first persona",
        "root_clip_id": clips[0]["id"],
        "image_s3_id": clips[0]["image_url"],
    }
    persona = cqt.personas[persona_id]
    assert (persona.name, persona.clip_id, persona.task_id) == ("Nova", clips[0]["id"], persona_task)

    upload_url = clips[1]["audio_url"]
    bodies = [
        custom_body(personaId=persona_id),
        create_body(personaId=persona_id),
        {"task": "extend", "model": "v55", "clipId": clips[0]["id"], "continueAt": 30, "personaId": persona_id},
        custom_body(task="cover", clipId=clips[1]["id"], personaId=persona_id),
        {"task": "upload_extend", "model": "v55", "audioUrl": upload_url, "continueAt": 12, "personaId": persona_id},
        custom_body(task="upload_cover", audioUrl=upload_url, personaId=persona_id),
        {"task": "inspiration", "model": "v55", "playlistId": "p1", "personaId": persona_id},
    ]
    for body in bodies:
        task_id = await submit(http, cqt, body)
        assert cqt.task(task_id).persona_id == persona_id
        assert (await info_data(http, cqt, task_id))["param"]["personaId"] == persona_id
    assert cqt.task(song_id).persona_id is None

    for body in bodies:
        for unknown in ("nope", ""):
            assert await reject(http, cqt, {**body, "personaId": unknown}) == (400, "persona not found"), body
    assert await reject(http, cqt, custom_body(personaId=7)) == (400, "personaId must be a string")


async def test_persona_shapes_failures_and_add_persona(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    song_id, clips = await lyric_song(http, cqt)
    cqt.persona_shape = "kie"
    task_id, result = await finished(http, cqt, persona_body(song_id, clips[1]["id"], name="Echo"))
    assert result == {"personaId": cqt.task(task_id).new_persona_id, "name": "Echo", "description": "first persona"}
    # kie's one-persona-per-clip rule is not applied (UNCONFIRMED for CQTAI).
    await submit(http, cqt, persona_body(song_id, clips[1]["id"]))

    credits = cqt.credits
    failed = await submit(http, cqt, persona_body(song_id, clips[0]["id"]))
    cqt.fail(failed, "persona failed")
    assert cqt.credits == credits and cqt.task(failed).new_persona_id not in cqt.personas

    cqt.persona_shape = "bogus"
    bad = await submit(http, cqt, persona_body(song_id, clips[0]["id"]))
    with pytest.raises(ValueError):
        cqt.complete(bad)

    made = cqt.add_persona("Direct", "made by the test", clip_id=clips[0]["id"])
    assert cqt.personas[made].task_id is None and cqt.personas[made].clip_id == clips[0]["id"]
    created = await submit(http, cqt, custom_body(personaId=cqt.add_persona()))
    assert cqt.task(created).persona_id in cqt.personas
    with pytest.raises(KeyError):
        cqt.add_persona(clip_id="nope")


async def test_persona_validation(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    song_id, clips = await lyric_song(http, cqt)
    pending = await submit(http, cqt, custom_body())
    stems_id, stems = await finished(http, cqt, {"task": "gen_stem_two", "clipId": clips[0]["id"]})
    cases = [
        ({k: v for k, v in persona_body(song_id, clips[0]["id"]).items() if k != "taskId"}, "taskId is required"),
        (persona_body(song_id, clips[0]["id"], name=" "), "name is required"),
        (persona_body(song_id, clips[0]["id"], description=""), "description is required"),
        (persona_body(song_id, clips[0]["id"], name=1), "name must be a string"),
        ({k: v for k, v in persona_body(song_id, "").items() if k != "clipId"}, "clipId is required"),
        (persona_body("nope", clips[0]["id"]), "task not found"),
        (persona_body(song_id, "nope"), "clip not found"),
        (persona_body(pending, cqt.task(pending).clips[0]["id"]), f"task {pending} has not succeeded"),
        (persona_body(pending, clips[0]["id"]), f"task {pending} has not succeeded"),
        (persona_body(stems_id, stems[0]["id"]), "clipId must be a song clip"),
    ]
    for body, msg in cases:
        code, got = await reject(http, cqt, body)
        assert (code, got.startswith(msg)) == (400, True), (body, got)


async def test_upsample_tags(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    credits = cqt.credits
    task_id = await submit(http, cqt, {"task": "upsample_tags", "prompt": "cpop"})
    assert cqt.credits == credits - 2
    assert (await info_data(http, cqt, task_id))["result"] is None
    cqt.complete(task_id)
    result = (await info_data(http, cqt, task_id))["result"]
    assert set(result) == {"upsampled_tags", "request_id"}
    assert result["upsampled_tags"].startswith("cpop, ") and len(result["upsampled_tags"]) > 40
    for body, expected in [
        ({"task": "upsample_tags"}, (400, "prompt is required")),
        ({"task": "upsample_tags", "prompt": " "}, (400, "prompt is required")),
        ({"task": "upsample_tags", "prompt": ["pop"]}, (400, "prompt must be a string")),
        ({"task": "upsample_tags", "prompt": "like Drake"}, (451, "artist name not allowed")),
    ]:
        assert await reject(http, cqt, body) == expected


def test_aligned_words_follow_the_documented_shape() -> None:
    words = aligned_words("[Verse 1]\nRed eyes from the long night\n", 20.0)
    assert [w["word"] for w in words] == ["[Verse 1]\nRed ", "eyes ", "from ", "the ", "long ", "night\n"]
    assert all(set(w) == {"word", "success", "start_s", "end_s", "p_align"} for w in words)
    assert all(w["success"] is True and w["p_align"] == 0.99 for w in words)
    assert (words[0]["start_s"], words[-1]["end_s"]) == (1.0, 18.4)
    assert all(a["end_s"] < b["start_s"] for a, b in itertools.pairwise(words))
    assert aligned_words("", 100.0) == aligned_words(" \n", 100.0) == []
    assert aligned_words("\n[Intro]\n[Verse]\nla la\n[Outro]", 10.0)[0]["word"] == "[Intro]\n[Verse]\nla "


async def test_timeline_and_downbeats(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    _, clips = await lyric_song(http, cqt)
    _, instrumental = await song(http, cqt, customMode=True, makeInstrumental=True, title="T", tags="ambient")
    _, stems = await finished(http, cqt, {"task": "gen_stem_two", "clipId": clips[0]["id"]})
    credits = cqt.credits

    task_id, result = await finished(http, cqt, {"task": "timeline", "clipId": clips[0]["id"]})
    assert cqt.task(task_id).source_clip_id == clips[0]["id"]
    words = result["aligned_words"]
    assert words == cqt.timeline(clips[0]["id"])
    assert "".join(w["word"] for w in words) == LYRICS
    assert words[0]["word"] == "[Verse 1]\nRed " and words[-1]["word"] == "on\n"
    assert 0 < words[0]["start_s"] and words[-1]["end_s"] < clips[0]["metadata"]["duration"]
    assert (await finished(http, cqt, {"task": "timeline", "clipId": instrumental[0]["id"]}))[1] == {
        "aligned_words": []
    }
    assert (await finished(http, cqt, {"task": "timeline", "clipId": stems[0]["id"]}))[1] == {"aligned_words": []}

    _, result = await finished(http, cqt, {"task": "downbeats", "clipId": clips[0]["id"]})
    beats = result["downbeats"]
    assert set(result) == {"downbeats"}
    assert beats[:5] == [[0.0, 1], [0.5, 2], [1.0, 3], [1.5, 4], [2.0, 1]]
    assert len(beats) == 397 and beats[-1][0] < clips[0]["metadata"]["duration"]  # 198.44 s at 120 bpm
    cqt.downbeats_bpm = 60.0
    _, result = await finished(http, cqt, {"task": "downbeats", "clipId": clips[1]["id"]})
    assert result["downbeats"] == downbeats(clips[1]["metadata"]["duration"], 60.0)
    assert result["downbeats"][1] == [1.0, 2]
    assert credits - cqt.credits == 2 * 5

    for kind in ("timeline", "downbeats"):
        assert await reject(http, cqt, {"task": kind}) == (400, "clipId is required")
        assert await reject(http, cqt, {"task": kind, "clipId": "nope"}) == (400, "clip not found")


async def test_inspiration(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    body: dict[str, Any] = {"task": "inspiration", "model": "v50", "playlistId": "119573ff-8e", "prompt": "night drive"}
    credits = cqt.credits
    _, clips = await finished(http, cqt, body)
    assert cqt.credits == credits - 30
    assert len(clips) == 2 and all(set(c) == CLIP_KEYS for c in clips)
    assert clips[0]["title"] == "Night Drive" and clips[0]["model_name"] == "chirp-v50"
    assert "night drive" in clips[0]["metadata"]["prompt"]
    _, clips = await finished(
        http, cqt, {"task": "inspiration", "model": "v55", "playlistId": "p", "artistClipId": clips[0]["id"]}
    )
    assert clips[0]["title"] == "Inspiration"

    cases: list[tuple[dict[str, Any], str]] = [
        ({"playlistId": None}, "playlistId is required"),
        ({"playlistId": ""}, "playlistId is required"),
        ({"model": None}, "model is required"),
        ({"model": "v3"}, "model must be one of"),
        ({"artistClipId": "nope"}, "artist clip not found"),
        ({"styleWeight": 1.5}, "styleWeight must be between 0 and 1"),
    ]
    for bad, msg in cases:
        code, got = await reject(http, cqt, {k: v for k, v in {**body, **bad}.items() if v is not None})
        assert (code, got.startswith(msg)) == (400, True), got
    cqt.playlist_ids = {"known"}
    assert await reject(http, cqt, body) == (400, "playlist not found")
    await submit(http, cqt, {**body, "playlistId": "known"})


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        ({"styleWeight": 1.01}, "styleWeight must be between 0 and 1 (got 1.01)"),
        ({"styleWeight": -0.01}, "styleWeight must be between 0 and 1"),
        ({"weirdnessConstraint": 2}, "weirdnessConstraint must be between 0 and 1"),
        ({"audioWeight": -1}, "audioWeight must be between 0 and 1"),
        ({"audioWeight": "0.5"}, "audioWeight must be a number"),
        ({"vocalGender": "F"}, "vocalGender must be 'm' or 'f'"),
        ({"vocalGender": ""}, "vocalGender must be 'm' or 'f'"),
    ],
)
async def test_create_option_ranges(cqt: FakeCqt, http: aiohttp.ClientSession, extra: dict[str, Any], msg: str) -> None:
    for body in (custom_body(**extra), {"task": "extend", "model": "v55", "clipId": "c", "continueAt": 5, **extra}):
        code, got = await reject(http, cqt, body)
        assert (code, got.startswith(msg)) == (400, True), got


async def test_create_options_recorded(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    options = {"vocalGender": "m", "styleWeight": 0, "weirdnessConstraint": 1, "audioWeight": 0.655}
    task_id, clips = await song(http, cqt, customMode=True, title="T", tags="pop", **options)
    task = cqt.task(task_id)
    assert (task.vocal_gender, task.style_weight, task.weirdness_constraint, task.audio_weight) == ("m", 0, 1, 0.655)
    sliders = {"style_weight": 0, "weirdness_constraint": 1, "audio_weight": 0.655}
    assert [c["metadata"]["control_sliders"] for c in clips] == [sliders, sliders]

    extend_id = await submit(
        http, cqt, {"task": "extend", "model": "v55", "clipId": clips[0]["id"], "continueAt": 10, "styleWeight": 0.3}
    )
    assert (cqt.task(extend_id).style_weight, cqt.task(extend_id).vocal_gender) == (0.3, None)
    assert cqt.task(extend_id).clips[0]["metadata"]["control_sliders"] == {"style_weight": 0.3}

    plain_id, plain = await song(http, cqt)
    plain_task = cqt.task(plain_id)
    assert (plain_task.vocal_gender, plain_task.style_weight, plain_task.audio_weight) == (None, None, None)
    assert "control_sliders" not in plain[0]["metadata"]


async def test_created_clips_carry_free_video(cqt: FakeCqt, http: aiohttp.ClientSession) -> None:
    cqt.max_running = None
    cqt.file_size = 4000
    credits = cqt.credits
    task_id, clips = await song(http, cqt)
    for n, clip in enumerate(clips):
        assert clip["video_url"] == cqt.file_url(task_id, f"{n}.mp4") == cqt.clip(clip["id"])[1]["video_url"]
        status, data, content_type = await get_bytes(http, clip["video_url"])
        assert (status, data[:8], len(data), content_type) == (200, b"\x00\x00\x00\x18ftyp", 4000, "video/mp4")
        assert "wav_file_url" not in clip and "wav_url" not in clip
    assert cqt.credits == credits - 30  # the auto-generated video costs nothing more
    for kind in ("extend", "cover"):
        body = {"task": kind, "model": "v55", "clipId": clips[0]["id"], "continueAt": 5, "prompt": "x"}
        _, made = await finished(http, cqt, body)
        assert all(c["video_url"].endswith(f"/{n}.mp4") for n, c in enumerate(made))
    _, inspired = await finished(http, cqt, {"task": "inspiration", "model": "v55", "playlistId": "p"})
    assert (await get_bytes(http, inspired[1]["video_url"]))[0] == 200
    _, stems = await finished(http, cqt, {"task": "gen_stem_two", "clipId": clips[0]["id"]})
    assert {c["video_url"] for c in stems} == {""}


NEW_TASKS = ("replace_section", "replace_merge", "persona", "upsample_tags", "timeline", "downbeats", "inspiration")


async def new_task_bodies(http: aiohttp.ClientSession, fake: FakeCqt) -> dict[str, dict[str, Any]]:
    """A valid body of each task added from C-APIFOX / C-PAGES (uses no concurrency slot once built)."""
    song_id, clips = await lyric_song(http, fake)
    _, segments = await finished(http, fake, replace_body(song_id, clips[0]["id"]))
    return {
        "replace_section": replace_body(song_id, clips[1]["id"]),
        "replace_merge": {"task": "replace_merge", "clipId": clips[0]["id"], "editSessionId": segments[0]["id"]},
        "persona": persona_body(song_id, clips[0]["id"]),
        "upsample_tags": {"task": "upsample_tags", "prompt": "cpop"},
        "timeline": {"task": "timeline", "clipId": clips[0]["id"]},
        "downbeats": {"task": "downbeats", "clipId": clips[0]["id"]},
        "inspiration": {"task": "inspiration", "model": "v55", "playlistId": "p"},
    }


@pytest.mark.parametrize("kind", NEW_TASKS)
async def test_new_tasks_billing_refund_and_limits(cqt: FakeCqt, http: aiohttp.ClientSession, kind: str) -> None:
    body = (await new_task_bodies(http, cqt))[kind]
    cost = {"replace_section": 30, "inspiration": 30}.get(kind, 2)
    assert cqt.costs[kind] == cost

    # Concurrency: every task type takes a slot and is refused at the limit.
    cqt.max_running = 1
    blocker = await submit(http, cqt, {"task": "lyrics", "prompt": "x"})
    credits = cqt.credits
    assert await reject(http, cqt, body) == (429, "Task limit reached")
    assert cqt.credits == credits
    cqt.complete(blocker)
    task_id = await submit(http, cqt, body)
    assert cqt.running_count() == 1
    assert await reject(http, cqt, {"task": "lyrics", "prompt": "x"}) == (429, "Task limit reached")
    assert cqt.credits == credits - cost
    assert cqt.submissions_of(kind)[-1].task_id == task_id

    # Refunded on failure; refused without the credits.
    cqt.fail(task_id, "failed")
    assert cqt.credits == credits and (await info_data(http, cqt, task_id))["status"] == "failed"
    cqt.credits = cost - 1
    assert await reject(http, cqt, body) == (402, "insufficient credits")
    cqt.costs[kind] = 0
    await submit(http, cqt, body)
    assert cqt.credits == cost - 1

    # Scripted failures can target the new task types.
    cqt.max_running = None
    cqt.fail_next_submit(500, "timeout", task=kind)
    assert await post(http, cqt, body) == (200, {"code": 500, "msg": "timeout", "data": None})


@pytest.mark.parametrize(
    "kind",
    ["add_instrumental", "add_vocals", "use_styles_lyrics", "mashup", "sample", "sfx", "sound", "sound_effect",
     "remaster", "cover_image", "video", "custom_model", "upload", "merge", "concat"],
)  # fmt: skip
async def test_undocumented_tasks_are_unsupported(cqt: FakeCqt, http: aiohttp.ClientSession, kind: str) -> None:
    assert await reject(http, cqt, {"task": kind, "clipId": "c", "prompt": "thunder"}) == (
        400,
        f"unsupported task: {kind}",
    )
    with pytest.raises(ValueError):
        cqt.fail_next_submit(400, "x", task=kind)
