"""The kie client: validation before any request, parsing both shapes, error codes, safe retries — over real
HTTP against the loopback fake of kie.ai (tests/support/kie_fake.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.models import (
    CoverRequest,
    ExportRequest,
    ExtendRequest,
    LyricsRequest,
    MusicRequest,
    StemsRequest,
    TaskKind,
    TaskState,
)
from bot.providers import errors
from bot.providers.kie import (
    KIE,
    KieClient,
    MalformedCallback,
    RetryPolicy,
    request_body,
)
from bot.providers.kie_parsing import parse_callback, parse_status
from bot.providers.ratelimit import SlidingWindow
from bot.providers.validation import validate_request as validate_for
from tests.support.kie_fake import FakeKie, ManualClock

CALLBACK = "http://127.0.0.1:9/callbacks/token"
NO_WAIT = RetryPolicy(rate_limited=(0.0, 0.0), server_error=(0.0, 0.0), busy=(0.0, 0.0))


def validate_request(request: object) -> None:
    validate_for(request, KIE)  # type: ignore[arg-type]


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        fake.auto_callbacks = False
        yield fake


@pytest.fixture
async def client(kie: FakeKie) -> AsyncIterator[KieClient]:
    client = KieClient(api_key=kie.api_key, base_url=kie.base_url, retry=NO_WAIT)
    yield client
    await client.close()


# ----- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (MusicRequest(prompt="x" * 501), "501 characters; Suno takes at most 500"),
        (MusicRequest(prompt="   "), "Describe the song"),
        (MusicRequest(prompt="ok", model="V3_5"), "isn't available on kie.ai"),
        (MusicRequest(custom_mode=True, title="t" * 81, style="pop", prompt="la"), "title is 81"),
        (MusicRequest(custom_mode=True, title="T", style="s" * 201, prompt="la", model="V4"), "style (model V4) is 201"),
        (MusicRequest(custom_mode=True, title="T", style="s" * 1001, prompt="la"), "style (model V5) is 1001"),
        (MusicRequest(custom_mode=True, title="T", style="pop", prompt="l" * 3001, model="V4"), "lyrics (model V4) is 3001"),
        (MusicRequest(custom_mode=True, title="T", style="pop", prompt=""), "Write the lyrics"),
        (MusicRequest(custom_mode=True, title="", style="pop", prompt="la"), "title"),
        (MusicRequest(custom_mode=True, title="T", style="", prompt="la"), "style"),
    ],
)
async def test_invalid_input_is_refused_before_any_request(
    kie: FakeKie, client: KieClient, request_: MusicRequest, needle: str
) -> None:
    with pytest.raises(errors.InputError) as caught:
        await client.submit(request_, CALLBACK)
    assert needle.lower() in caught.value.user_message.lower()
    assert kie.api_calls == []


def test_limits_accept_the_documented_maximums() -> None:
    client_validate = validate_request
    client_validate(MusicRequest(prompt="x" * 500))
    client_validate(MusicRequest(custom_mode=True, title="t" * 80, style="s" * 1000, prompt="l" * 5000))
    client_validate(MusicRequest(custom_mode=True, title="t", style="s" * 200, prompt="l" * 3000, model="V4"))
    client_validate(MusicRequest(custom_mode=True, instrumental=True, title="t", style="ambient"))


# ----- submit -----------------------------------------------------------------------------------------------


async def test_simple_generate_sends_only_the_simple_mode_fields(kie: FakeKie, client: KieClient) -> None:
    task_id = await client.submit(MusicRequest(prompt="  a song about rain  ", instrumental=True), CALLBACK)
    assert task_id == kie.last_task_id
    assert kie.submissions[-1].body == {
        "customMode": False, "instrumental": True, "model": "V5", "callBackUrl": CALLBACK, "prompt": "a song about rain",
    }


async def test_custom_generate_sends_lyrics_style_title(kie: FakeKie, client: KieClient) -> None:
    request = MusicRequest(custom_mode=True, title="Rain", style="lo-fi", prompt="[Verse] drip", model="V4_5PLUS",
                           negative_tags="metal", vocal_gender="f")
    await client.submit(request, CALLBACK)
    assert kie.submissions[-1].body == {
        "customMode": True, "instrumental": False, "model": "V4_5PLUS", "callBackUrl": CALLBACK,
        "style": "lo-fi", "title": "Rain", "prompt": "[Verse] drip", "negativeTags": "metal", "vocalGender": "f",
    }


async def test_custom_instrumental_sends_no_lyrics(kie: FakeKie, client: KieClient) -> None:
    await client.submit(MusicRequest(custom_mode=True, instrumental=True, title="T", style="ambient"), CALLBACK)
    assert "prompt" not in kie.submissions[-1].body


@pytest.mark.parametrize(
    ("code", "msg", "kind", "needle"),
    [
        (401, "You do not have access permissions", errors.ProviderAuthError, "SUNO_API_KEY"),
        (402, "Insufficient credits", errors.InsufficientCredits, "out of credits"),
        (404, "Not found", errors.NotFound, "14 days"),
        (409, "Conflict", errors.Conflict, "already"),
        (422, "Validation error", errors.InvalidRequest, "rejected"),
        (451, "Failed to fetch the image", errors.InvalidRequest, "download"),
        (501, "Audio generation failed", errors.GenerationFailed, "could not generate"),
        (400, "The description contains artist name", errors.ContentRejected, "artist"),
        (400, "Song Description flagged for moderation", errors.ContentRejected, "content filter"),
    ],
)
async def test_submit_errors_become_typed_errors_with_advice(
    kie: FakeKie, client: KieClient, code: int, msg: str, kind: type, needle: str
) -> None:
    kie.fail_next_submit(code, msg)
    with pytest.raises(errors.ProviderError) as caught:
        await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    assert type(caught.value) is kind
    assert caught.value.code == code
    assert needle.lower() in caught.value.user_message.lower()
    assert len(kie.submissions) == 0  # not accepted, and never re-sent


async def test_a_bad_key_is_reported_as_configuration(kie: FakeKie) -> None:
    client = KieClient(api_key="wrong", base_url=kie.base_url, retry=NO_WAIT)
    try:
        with pytest.raises(errors.ProviderAuthError):
            await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    finally:
        await client.close()


@pytest.mark.parametrize(("code", "http_status"), [(429, 200), (455, 200), (500, 500)])
async def test_refusals_that_took_nothing_are_retried(kie: FakeKie, client: KieClient, code: int, http_status: int) -> None:
    kie.fail_next_submit(code, "try later", http_status=http_status)
    task_id = await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    assert [s.task_id for s in kie.submissions] == [task_id]
    assert len([c for c in kie.api_calls if c.method == "POST"]) == 2


async def test_retries_stop_and_report(kie: FakeKie, client: KieClient) -> None:
    for _ in range(3):
        kie.fail_next_submit(455, "maintenance")
    with pytest.raises(errors.Maintenance) as caught:
        await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    assert "maintenance" in caught.value.user_message
    assert len([c for c in kie.api_calls if c.method == "POST"]) == 3


async def test_a_failed_generation_answer_is_never_resubmitted(kie: FakeKie, client: KieClient) -> None:
    kie.fail_next_submit(501, "Audio generation failed")
    with pytest.raises(errors.GenerationFailed):
        await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    assert len([c for c in kie.api_calls if c.method == "POST"]) == 1


async def test_an_unreachable_provider_is_unavailable_not_a_crash() -> None:
    client = KieClient(api_key="k", base_url="http://127.0.0.1:9", retry=NO_WAIT)
    try:
        with pytest.raises(errors.ProviderUnavailable):
            await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    finally:
        await client.close()


async def test_submissions_stay_within_20_per_10_seconds() -> None:
    clock = ManualClock(0.0)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    window = SlidingWindow(20, 10.0, clock=clock, sleep=sleep)
    for _ in range(20):
        async with window.slot():
            pass
    assert waits == []
    clock.advance(4.0)
    async with window.slot():
        pass
    assert waits == [6.0]


async def test_a_submission_counts_from_its_answer_and_holds_its_slot_while_in_flight() -> None:
    clock = ManualClock(0.0)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    window = SlidingWindow(2, 10.0, clock=clock, sleep=sleep)
    await window.acquire()
    await window.acquire()
    third = asyncio.create_task(window.acquire())
    await asyncio.sleep(0)
    assert not third.done()  # both slots are in flight: nothing may go out yet
    clock.advance(3.0)
    window.release()  # the first answer arrives at t=3: the window counts it from there
    await asyncio.wait_for(third, 1)
    assert waits == [10.0]  # t=3 + 10 s, not t=0 + 10 s


# ----- polling and parsing ----------------------------------------------------------------------------------


async def test_record_info_is_read_at_every_stage(kie: FakeKie, client: KieClient) -> None:
    kie.clock = clock = ManualClock()
    task_id = await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    assert (await client.status(TaskKind.GENERATE, task_id)).state is TaskState.QUEUED
    await kie.advance(task_id, "text", deliver=False)
    assert (await client.status(TaskKind.GENERATE, task_id)).state is TaskState.TEXT
    await kie.advance(task_id, "first", deliver=False)
    clock.advance(1.0)  # the fake enforces the documented 3 polls per second per task
    first = await client.status(TaskKind.GENERATE, task_id)
    assert first.state is TaskState.FIRST and first.tracks[0].stream_url == kie.stream_url(task_id, 0)
    await kie.advance(task_id, "complete", deliver=False)
    done = await client.status(TaskKind.GENERATE, task_id)
    assert done.state is TaskState.SUCCEEDED
    assert [t.audio_url for t in done.tracks] == [kie.audio_url(task_id, 0), kie.audio_url(task_id, 1)]
    assert done.tracks[0].duration == kie.task(task_id).tracks[0].duration
    assert done.tracks[0].model_name


async def test_record_info_failure_carries_the_reason(kie: FakeKie, client: KieClient) -> None:
    task_id = await client.submit(MusicRequest(prompt="a song"), CALLBACK)
    await kie.fail(task_id, code=400, msg="Song Description flagged for moderation", status="SENSITIVE_WORD_ERROR",
                   deliver=False)
    update = await client.status(TaskKind.GENERATE, task_id)
    assert update.state is TaskState.FAILED
    assert "flagged" in (update.error_message or "")


def test_callback_and_record_info_give_the_same_tracks() -> None:
    snake = {"code": 200, "msg": "All generated successfully.", "data": {"callbackType": "complete", "task_id": "t1",
             "data": [{"id": "a1", "audio_url": "https://x/a.mp3", "stream_audio_url": "https://x/s", "image_url":
                       "https://x/i.jpeg", "prompt": "[Verse] la", "model_name": "chirp-v5", "title": "T", "tags": "pop",
                       "createTime": "2025-01-01 00:00:00", "duration": 198.44}]}}
    camel = {"taskId": "t1", "status": "SUCCESS", "response": {"sunoData": [{"id": "a1", "audioUrl": "https://x/a.mp3",
             "streamAudioUrl": "https://x/s", "imageUrl": "https://x/i.jpeg", "prompt": "[Verse] la", "modelName":
             "chirp-v5", "title": "T", "tags": "pop", "createTime": "2025-01-01 00:00:00", "duration": 198.44}]}}
    from_callback = parse_callback(TaskKind.GENERATE, snake)
    from_poll = parse_status(TaskKind.GENERATE, "t1", camel)
    assert from_callback == from_poll
    assert from_callback.tracks[0].duration == 198.44
    # A sound's "prompt" is its description, not lyrics: a Cover of it must not sing "[Verse] la".
    sound_callback, sound_poll = parse_callback(TaskKind.SOUND, snake), parse_status(TaskKind.SOUND, "t1", camel)
    assert sound_callback == sound_poll and sound_callback.tracks[0].lyrics == ""
    assert from_callback.tracks[0].lyrics == "[Verse] la"


def test_record_info_with_the_quickstart_data_shape() -> None:
    update = parse_status(TaskKind.GENERATE, "t", {"status": "SUCCESS", "response": {"data": [{"id": "a", "audio_url": "u"}]}})
    assert update.tracks[0].audio_url == "u"


@pytest.mark.parametrize(
    "body",
    [
        None, [], "text", {"code": 200}, {"code": 200, "data": []}, {"code": 200, "data": {"callbackType": "complete"}},
        {"code": 200, "data": {"callbackType": "complete", "task_id": "t", "data": []}},
        {"code": 200, "data": {"callbackType": "sideways", "task_id": "t", "data": []}},
        {"code": 200, "data": {"callbackType": "first", "task_id": "t", "data": "nope"}},
        {"data": {"callbackType": "first", "task_id": "t", "data": []}},
    ],
)
def test_malformed_callbacks_are_rejected(body: object) -> None:
    with pytest.raises(MalformedCallback):
        parse_callback(TaskKind.GENERATE, body)


@pytest.mark.parametrize("data", [None, []])
def test_error_callbacks_in_both_documented_shapes(data: object) -> None:
    update = parse_callback(TaskKind.GENERATE, {"code": 501, "msg": "Audio generation failed",
                             "data": {"callbackType": "error", "task_id": "t", "data": data}})
    assert update.state is TaskState.FAILED and update.error_code == 501


@pytest.mark.parametrize(
    ("code", "msg", "needle"),
    [
        (400, "Lyrics contained copyrighted material", "copyrighted"),
        (408, "Rate Limited - Timeout", "timed out"),
        (413, "Uploaded audio matches existing work of art", "existing work"),
        (500, "Internal error", "server error"),
        (501, "Audio generation failed", "could not generate"),
        (531, "Generation failed, credits refunded", "refunded"),
        (None, "SENSITIVE_WORD_ERROR", "content filter"),
    ],
)
def test_failure_codes_have_actionable_messages(code: int | None, msg: str, needle: str) -> None:
    assert needle in errors.error_for_code(code, msg, failure=True).user_message


def test_task_id_is_read_from_every_documented_place() -> None:
    for body in (
        {"code": 200, "data": {"callbackType": "text", "task_id": "a", "data": []}},
        {"code": 200, "data": {"callbackType": "text", "taskId": "a", "data": []}},
        {"code": 200, "taskId": "a", "data": {"callbackType": "text", "data": []}},
    ):
        assert parse_callback(TaskKind.GENERATE, body).task_id == "a"


# ----- the other operations (contract §2–4) ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (ExtendRequest(audio_id="a", default_params=True, prompt="la", style="pop", title="T"), "continue_at"),
        (ExtendRequest(audio_id="a", continue_at=0.0), "more than 0"),
        (ExtendRequest(audio_id="a", continue_at=200.0, source_duration=120.0, default_params=True, prompt="l",
                       style="s", title="t"), "less than the track's length (120 s)"),
        (ExtendRequest(audio_id="a", default_params=True, continue_at=5.0, style="s", title="t"), "lyrics"),
        (ExtendRequest(upload_url="https://x/a.mp3", prompt="la"), "continue_at"),
        (CoverRequest(upload_url="u", style="", title="t", prompt="la"), "style"),
        (CoverRequest(upload_url="u", custom_mode=False, prompt="x" * 501), "at most 500"),
        (LyricsRequest(prompt="x" * 201), "at most 200"),
        (LyricsRequest(prompt=" "), "about"),
        (StemsRequest(source_task_id="t", audio_id="a", mode="drums"), "vocals"),
        (ExportRequest(source_task_id="t", audio_id="a", format="video", author="x" * 51), "author"),
    ],
)
def test_every_operation_is_validated_before_any_request(request_: object, needle: str) -> None:
    with pytest.raises(errors.InputError) as caught:
        validate_request(request_)  # type: ignore[arg-type]
    assert needle.lower() in caught.value.user_message.lower()


def test_request_bodies_follow_the_contract() -> None:
    cb = "https://bot/callbacks/x"
    assert request_body(ExtendRequest(audio_id="a", model="V4"), cb) == {
        "defaultParamFlag": False, "model": "V4", "callBackUrl": cb, "audioId": "a"}
    assert request_body(ExtendRequest(upload_url="u", continue_at=3.0, prompt="la"), cb) == {
        "defaultParamFlag": False, "model": "V5", "callBackUrl": cb, "uploadUrl": "u", "instrumental": False,
        "continueAt": 3.0, "prompt": "la"}
    assert request_body(LyricsRequest(prompt=" rain "), cb) == {"prompt": "rain", "callBackUrl": cb}
    assert request_body(StemsRequest(source_task_id="t", audio_id="a", mode="all"), cb) == {
        "taskId": "t", "audioId": "a", "type": "split_stem", "callBackUrl": cb}
    assert request_body(ExportRequest(source_task_id="t", audio_id="a", format="video", author="Ann"), cb) == {
        "taskId": "t", "audioId": "a", "callBackUrl": cb, "author": "Ann"}
    assert request_body(CoverRequest(upload_url="u", custom_mode=False, prompt="jazz"), cb) == {
        "uploadUrl": "u", "customMode": False, "instrumental": False, "model": "V5", "callBackUrl": cb,
        "prompt": "jazz"}


@pytest.mark.parametrize("key", ["vocal_separation_info", "vocal_removal_info"])
def test_separation_callbacks_under_either_documented_key(key: str) -> None:
    update = parse_callback(TaskKind.STEMS, {"code": 200, "msg": "ok", "data": {"task_id": "t", key: {
        "instrumental_url": "https://x/i.mp3", "origin_url": "", "vocal_url": "https://x/v.mp3", "bass_url": None}}})
    assert update.state is TaskState.SUCCEEDED
    assert [(f.name, f.url) for f in update.files] == [("Vocals", "https://x/v.mp3"), ("Instrumental", "https://x/i.mp3")]


def test_separation_failure_and_record_info() -> None:
    failed = parse_callback(TaskKind.STEMS, {"code": 500, "msg": "Vocal separation failed",
                                             "data": {"task_id": "t", "vocal_separation_info": None}})
    assert failed.state is TaskState.FAILED and failed.error_code == 500
    polled = parse_status(TaskKind.STEMS, "t", {"taskId": "t", "successFlag": "SUCCESS", "response": {
        "vocalUrl": "https://x/v.mp3", "drumsUrl": "https://x/d.mp3", "pianoUrl": None}})
    assert [f.name for f in polled.files] == ["Vocals", "Drums"]
    pending = parse_status(TaskKind.STEMS, "t", {"successFlag": "PENDING", "response": None})
    assert pending.state is TaskState.QUEUED


@pytest.mark.parametrize("code", [200, 0])
def test_exports_accept_both_success_codes(code: int) -> None:
    video = parse_callback(TaskKind.VIDEO, {"code": code, "msg": "success",
                                            "data": {"task_id": "t", "video_url": "https://x/v.mp4"}})
    assert video.state is TaskState.SUCCEEDED and video.files[0].url == "https://x/v.mp4"
    wav = parse_callback(TaskKind.WAV, {"code": 200, "msg": "success",
                                        "data": {"audioWavUrl": "https://x/a.wav", "task_id": "t"}})
    assert wav.files[0].name == "WAV"
    assert parse_status(TaskKind.WAV, "t", {"successFlag": "GENERATE_WAV_FAILED"}).state is TaskState.FAILED
    assert parse_status(TaskKind.VIDEO, "t", {"successFlag": "SUCCESS", "response": {"videoUrl": "u"}}).files


def test_lyrics_keep_the_variants_that_worked() -> None:
    update = parse_callback(TaskKind.LYRICS, {"code": 200, "msg": "ok", "data": {"callbackType": "complete",
        "task_id": "t", "data": [{"text": "[Verse] hi", "title": "Hi", "status": "complete", "error_message": ""},
                                 {"text": "", "title": "", "status": "failed", "error_message": "flagged"}]}})
    assert [v.title for v in update.lyrics] == ["Hi"]
    none = parse_callback(TaskKind.LYRICS, {"code": 200, "msg": "ok", "data": {"callbackType": "complete",
        "task_id": "t", "data": [{"text": "", "status": "failed", "error_message": "flagged for moderation"}]}})
    assert none.state is TaskState.FAILED and "flagged" in (none.error_message or "")
    polled = parse_status(TaskKind.LYRICS, "t", {"status": "SUCCESS", "response": {"lyricsData": [
        {"text": "words", "title": "T", "status": "complete"}]}})
    assert polled.lyrics[0].text == "words"
    refused = parse_callback(TaskKind.LYRICS, {"code": 400, "msg": "Song Description flagged for moderation",
                                               "data": {"callbackType": "complete", "task_id": "t", "data": None}})
    assert refused.state is TaskState.FAILED and refused.error_code == 400
