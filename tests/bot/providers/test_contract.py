"""One behaviour suite for every provider: the bot's real adapter against a fake of kie.ai, sunoapi.org and
CQTAI written from the contract, and against the built-in sandbox. Whatever the provider, a request gives the
same normalized result, and every refusal is read with that provider's own codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.models import (
    AddInstrumentalRequest,
    AddVocalsRequest,
    ArtRequest,
    CoverRequest,
    ExportRequest,
    ExtendRequest,
    LyricsRequest,
    MashupRequest,
    MidiRequest,
    MusicRequest,
    ReplaceRequest,
    SoundRequest,
    StemsRequest,
    TaskKind,
    TaskState,
    TaskUpdate,
)
from bot.providers import errors, open_provider
from bot.providers.base import PersonaSource, Unsupported
from bot.providers.cqt import CqtClient
from bot.providers.kie_parsing import MalformedCallback
from tests.support.cqt_fake import FakeCqt, boost_tags
from tests.support.providers import (
    FAKED,
    PROVIDERS,
    CqtDriver,
    Driver,
    KieDriver,
    download,
    driver_for,
)

IDEA = "a cheerful song about rain"


@pytest.fixture(params=PROVIDERS)
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    async with driver_for(request.param) as driver:
        yield driver


@pytest.fixture(params=FAKED)
async def faked(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    async with driver_for(request.param) as driver:
        yield driver


async def song(driver: Driver, **fields: object) -> tuple[str, TaskUpdate]:
    request = MusicRequest(**{"prompt": IDEA, "model": driver.adapter.capabilities.default_model, **fields})
    task_id = await driver.adapter.submit(request, driver.callback_url)
    return task_id, await driver.finish(request.kind, task_id)


# ----- results ------------------------------------------------------------------------------------------------


async def test_a_song_comes_back_as_playable_tracks(provider: Driver) -> None:
    task_id, update = await song(provider)
    assert update.state is TaskState.SUCCEEDED and update.task_id == task_id
    assert len(update.tracks) == 2 and len({track.audio_id for track in update.tracks}) == 2
    for track in update.tracks:
        assert track.title and track.duration and track.duration > 0
        assert await download(track.audio_url) and await download(track.image_url)


async def test_own_lyrics_style_and_title_reach_the_provider_in_its_own_words(faked: Driver) -> None:
    request = MusicRequest(custom_mode=True, title="Neon Rain", style="synth-pop", prompt="[Verse]\nla la",
                           model="V5", vocal_gender="f")
    task_id = await faked.adapter.submit(request, faked.callback_url)
    body = faked.body(task_id)
    if isinstance(faked, CqtDriver):  # contract §8: task, tags, makeInstrumental, CQTAI's model names
        assert body["task"] == "create" and body["model"] == "v50" and body["tags"] == "synth-pop"
        assert body["makeInstrumental"] is False and "style" not in body and "instrumental" not in body
    else:  # §2.1, shared by sunoapi.org (§7)
        assert body["model"] == "V5" and body["style"] == "synth-pop" and body["instrumental"] is False
        assert body["callBackUrl"] == faked.callback_url
    assert (body["title"], body["prompt"], body["customMode"], body["vocalGender"]) == (
        "Neon Rain", "[Verse]\nla la", True, "f")
    update = await faked.finish(request.kind, task_id)
    assert update.state is TaskState.SUCCEEDED and all(track.audio_url for track in update.tracks)


async def test_a_task_in_progress_is_not_finished(faked: Driver) -> None:
    request = MusicRequest(prompt=IDEA)
    task_id = await faked.adapter.submit(request, faked.callback_url)
    update = await faked.adapter.status(request.kind, task_id)
    assert update.task_id == task_id and not update.state.terminal


async def test_lyrics_come_back_as_variants(provider: Driver) -> None:
    request = LyricsRequest(prompt="a rainy Monday in Paris")
    task_id = await provider.adapter.submit(request, provider.callback_url)
    update = await provider.finish(TaskKind.LYRICS, task_id)
    assert update.state is TaskState.SUCCEEDED and update.lyrics
    assert all(variant.text.strip() for variant in update.lyrics)


@pytest.mark.parametrize(("mode", "expected"), [("vocals", {"Vocals", "Instrumental"}), ("all", {"Vocals", "Drums"})])
async def test_stems_come_back_named(provider: Driver, mode: str, expected: set[str]) -> None:
    task_id, made = await song(provider)
    request = StemsRequest(source_task_id=task_id, audio_id=made.tracks[0].audio_id, mode=mode,
                           source_provider=provider.name)
    stems_id = await provider.adapter.submit(request, provider.callback_url)
    update = await provider.finish(TaskKind.STEMS, stems_id)
    names = {file.name for file in update.files}
    assert update.state is TaskState.SUCCEEDED and expected <= names
    assert mode == "all" or names == expected
    assert await download(update.files[0].url)


@pytest.mark.parametrize(("fmt", "name"), [("wav", "WAV"), ("video", "Video")])
async def test_exports_come_back_as_one_file(provider: Driver, fmt: str, name: str) -> None:
    task_id, made = await song(provider)
    request = ExportRequest(source_task_id=task_id, audio_id=made.tracks[1].audio_id, format=fmt, author="Ann",
                            source_provider=provider.name)
    export_id = await provider.adapter.submit(request, provider.callback_url)
    update = await provider.finish(request.kind, export_id)
    assert update.state is TaskState.SUCCEEDED and [file.name for file in update.files] == [name]
    assert await download(update.files[0].url)


async def test_a_track_can_be_extended_and_covered(provider: Driver) -> None:
    _, made = await song(provider)
    source = made.tracks[0]
    model = provider.adapter.capabilities.default_model
    extend = ExtendRequest(audio_id=source.audio_id, source_duration=source.duration, model=model,
                           source_provider=provider.name)
    extended = await provider.finish(extend.kind, await provider.adapter.submit(extend, provider.callback_url))
    assert extended.state is TaskState.SUCCEEDED and extended.tracks
    assert source.audio_id not in {track.audio_id for track in extended.tracks}
    cover = CoverRequest(upload_url=source.audio_url, source_audio_id=source.audio_id, source_provider=provider.name,
                         style="acoustic bossa nova", title="Rain (cover)", instrumental=True, model=model)
    cover_id = await provider.adapter.submit(cover, provider.callback_url)
    covered = await provider.finish(cover.kind, cover_id)
    assert covered.state is TaskState.SUCCEEDED and covered.tracks
    if isinstance(provider, CqtDriver):  # CQTAI covers its own clip by id: no expiring URL to fetch
        body = provider.body(cover_id)
        assert (body["task"], body["clipId"]) == ("cover", source.audio_id) and "audioUrl" not in body
    elif isinstance(provider, KieDriver):
        assert provider.body(cover_id)["uploadUrl"] == source.audio_url


# ----- the studio -----------------------------------------------------------------------------------------------


async def test_studio_operations_come_back_as_tracks_and_files(provider: Driver) -> None:
    """Vocals, an instrumental, a mashup, a replaced section, cover art and MIDI on every provider that offers
    them (CQTAI documents none of them: refused by name, nothing sent)."""
    task_id, made = await song(provider)
    first, second = made.tracks
    requests = [
        AddVocalsRequest(upload_url=first.audio_url, prompt="[Verse]\nla la", style="soul", title="Sung", model="V5"),
        AddInstrumentalRequest(upload_url=first.audio_url, style="warm guitar", title="Backed", model="V5"),
        MashupRequest(upload_urls=(first.audio_url, second.audio_url), prompt="a blend of both", model="V5"),
        ReplaceRequest(source_task_id=task_id, audio_id=first.audio_id, start=6.0, end=13.0, prompt="new words",
                       style=first.tags or "pop", title=first.title, model=provider.adapter.capabilities.default_model,
                       source_duration=first.duration, source_provider=provider.name),
        ArtRequest(source_task_id=task_id, source_provider=provider.name),
    ]
    if isinstance(provider, CqtDriver):
        sent = len(provider.fake.submissions)
        for request in requests:
            with pytest.raises(Unsupported):
                await provider.adapter.submit(request, provider.callback_url)
        assert len(provider.fake.submissions) == sent
        return
    for request in requests:
        update = await provider.finish(request.kind, await provider.adapter.submit(request, provider.callback_url))
        assert update.state is TaskState.SUCCEEDED, request.kind
        assert (update.tracks and await download(update.tracks[0].audio_url)) if request.kind.makes_music \
            else (update.files and await download(update.files[0].url))
    stems = StemsRequest(source_task_id=task_id, audio_id=first.audio_id, mode="all", source_provider=provider.name)
    separation = await provider.adapter.submit(stems, provider.callback_url)
    await provider.finish(TaskKind.STEMS, separation)
    midi = MidiRequest(source_task_id=separation, source_provider=provider.name)
    update = await provider.finish(TaskKind.MIDI, await provider.adapter.submit(midi, provider.callback_url))
    assert update.state is TaskState.SUCCEEDED and update.midi and all(item["notes"] for item in update.midi)


async def test_a_sound_effect_comes_back_as_playable_tracks(provider: Driver) -> None:
    """A loop with its tempo and key where the provider makes sounds (kie.ai, sunoapi.org, the sandbox's real
    synthesized audio); CQTAI does not document how to ask for one: refused by name, nothing sent."""
    request = SoundRequest(prompt="a punchy 808 drum loop", loop=True, bpm=120, key="Am")
    if isinstance(provider, CqtDriver):
        with pytest.raises(Unsupported):
            await provider.adapter.submit(request, provider.callback_url)
        assert provider.fake.submissions == []
        return
    update = await provider.finish(TaskKind.SOUND, await provider.adapter.submit(request, provider.callback_url))
    assert update.state is TaskState.SUCCEEDED and update.tracks
    assert all(track.duration and track.duration <= 60 for track in update.tracks)
    audio = await download(update.tracks[0].audio_url)
    assert audio[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3") or audio[8:12] == b"WAVE"  # the sandbox serves WAV


async def test_tools_answer_at_once(provider: Driver) -> None:
    """A persona, timed lyrics and a style boost on every provider (CQTAI's are tasks, polled to their end)."""
    if isinstance(provider, CqtDriver):  # CQTAI runs them as tasks the adapter polls: done at the first look
        provider.fake.auto_complete_after_polls = 1
    task_id, made = await song(provider, custom_mode=True, title="Sing", style="pop",
                               prompt="[Verse]\nNeon rain on the window\nCity lights below")
    track = made.tracks[0]
    persona = await provider.adapter.create_persona(PersonaSource(task_id, track.audio_id, "Velvet", "warm alto",
                                                                  0.0, 10.0))
    words = await provider.adapter.timestamped_lyrics(task_id, track.audio_id)
    assert words and all(0 <= w.start <= w.end <= (track.duration or 1e9) for w in words)
    boosted = await provider.adapter.boost_style("pop, mysterious")
    if isinstance(provider, CqtDriver):  # what the provider made is what the bot took
        assert persona in provider.fake.personas and boosted == boost_tags("pop, mysterious")
    elif isinstance(provider, KieDriver):
        made_persona = provider.fake.persona_for(track.audio_id)
        assert made_persona is not None and persona == made_persona.persona_id
        assert boosted == provider.fake.style_result("pop, mysterious").result
    else:  # the sandbox: a persona it knows, a style that grew from the words given
        assert persona and "pop" in boosted.lower() and len(boosted) > len("pop, mysterious")


# ----- failures -----------------------------------------------------------------------------------------------


async def test_a_failed_task_tells_the_member_why(faked: Driver) -> None:
    request = MusicRequest(prompt=IDEA)
    task_id = await faked.adapter.submit(request, faked.callback_url)
    update = await faked.fail(request.kind, task_id, "Song Description flagged for moderation")
    assert update.state is TaskState.FAILED and update.task_id == task_id
    assert update.reason == errors.MODERATION_MESSAGE


async def test_the_sandbox_fails_on_request_too() -> None:
    async with driver_for("sandbox") as sandbox:
        request = MusicRequest(prompt="a song [sandbox:fail]")
        update = await sandbox.finish(request.kind, await sandbox.adapter.submit(request, sandbox.callback_url))
    assert update.state is TaskState.FAILED and update.reason


async def test_a_failure_reported_on_the_envelope_still_fails_the_task() -> None:
    async with driver_for("cqt") as driver:
        assert isinstance(driver, CqtDriver)
        task_id = await driver.adapter.submit(MusicRequest(prompt=IDEA), "")
        driver.fake.fail(task_id, msg="timeout", code=500)  # contract §8: "500 failed / timeout"
        update = await driver.adapter.status(TaskKind.GENERATE, task_id)
        assert update.state is TaskState.FAILED and update.error_code == 500 and update.reason


# Each provider's own reading of its codes (contract §5.1, §7, §8), with no words in msg to lean on.
REFUSALS = [
    ("kie", 402, errors.InsufficientCredits, False),
    ("kie", 429, errors.RateLimited, True),
    ("kie", 413, errors.InvalidRequest, False),
    ("sunoapi", 429, errors.InsufficientCredits, False),  # not a rate limit there
    ("sunoapi", 430, errors.RateLimited, True),
    ("sunoapi", 405, errors.RateLimited, True),
    ("sunoapi", 413, errors.InvalidRequest, False),
    ("cqt", 402, errors.InsufficientCredits, False),
    ("cqt", 429, errors.Busy, True),  # too many running tasks: wait for a slot
    ("cqt", 451, errors.ContentRejected, False),
    ("cqt", 401, errors.ProviderAuthError, False),
]


@pytest.mark.parametrize(("name", "code", "error", "retried"), REFUSALS)
async def test_refusals_are_read_with_the_providers_own_codes(
    name: str, code: int, error: type[errors.ProviderError], retried: bool
) -> None:
    async with driver_for(name) as driver:
        driver.refuse_next_submit(code, "")
        if retried:  # refused once, then taken: the member never notices
            await driver.adapter.submit(MusicRequest(prompt=IDEA), driver.callback_url)
            assert driver.submissions() == 1
            for _ in range(3):  # until the retries run out
                driver.refuse_next_submit(code, "")
        with pytest.raises(error) as caught:
            await driver.adapter.submit(MusicRequest(prompt=IDEA), driver.callback_url)
        assert caught.value.code == code and caught.value.user_message
        assert driver.submissions() == (1 if retried else 0)


@pytest.mark.parametrize("name", ["sunoapi", "cqt"])
async def test_an_empty_provider_account_says_so(name: str) -> None:
    async with driver_for(name) as driver:
        driver.fake.credits = 0  # type: ignore[attr-defined]
        with pytest.raises(errors.InsufficientCredits) as caught:
            await driver.adapter.submit(MusicRequest(prompt=IDEA), driver.callback_url)
        assert "out of credits" in caught.value.user_message


async def test_artist_names_are_refused_with_advice() -> None:
    for name in ("cqt", "sandbox"):  # the two that screen prompts themselves
        async with driver_for(name) as driver:
            with pytest.raises(errors.ContentRejected) as caught:
                await driver.adapter.submit(MusicRequest(prompt="a song like Taylor Swift"), driver.callback_url)
            assert caught.value.user_message == errors.ARTIST_MESSAGE


async def test_cqtai_waits_for_a_free_slot_instead_of_failing() -> None:
    async with FakeCqt() as fake:
        fake.max_running = 1
        waits: list[float] = []

        async def wait(seconds: float) -> None:  # the running task finishes while the bot waits
            waits.append(seconds)
            fake.complete(fake.last_task_id)

        client = CqtClient(api_key=fake.api_key, base_url=fake.base_url, sleep=wait)
        try:
            first = await client.submit(MusicRequest(prompt=IDEA), "")
            second = await client.submit(MusicRequest(prompt="another"), "")
        finally:
            await client.close()
        assert first != second and waits == [15.0]
        assert [s.task_id for s in fake.submissions] == [first, second]


# ----- what each provider offers ----------------------------------------------------------------------------


async def test_models_map_to_the_providers_names_and_others_are_refused(faked: Driver) -> None:
    capabilities = faked.adapter.capabilities
    for model, native in capabilities.models.items():
        task_id = await faked.adapter.submit(MusicRequest(prompt=IDEA, model=model), faked.callback_url)
        assert faked.body(task_id)["model"] == native
    missing = "V4_5ALL" if faked.name == "cqt" else "V5_5"
    before = faked.submissions()
    with pytest.raises(errors.InputError) as caught:
        await faked.adapter.submit(MusicRequest(prompt=IDEA, model=missing), faked.callback_url)
    assert capabilities.label in caught.value.user_message and capabilities.model_names() in caught.value.user_message
    assert faked.submissions() == before


async def test_an_operation_the_provider_lacks_is_refused_by_name(faked: Driver) -> None:
    capabilities = replace(faked.adapter.capabilities, kinds=faked.adapter.capabilities.kinds - {TaskKind.VIDEO})
    adapter = open_provider(faked.name, api_key="unused", base_url=faked.adapter.base_url)
    adapter.capabilities = capabilities
    try:
        with pytest.raises(Unsupported) as caught:
            await adapter.submit(ExportRequest(source_task_id="t", audio_id="a", format="video"), "")
    finally:
        await adapter.close()
    assert f"{capabilities.label}, the Suno provider this bot uses, does not offer music videos" in \
        caught.value.user_message
    assert faked.submissions() == 0


async def test_another_providers_track_is_not_sent_by_its_ids(faked: Driver) -> None:
    other = "cqt" if faked.name != "cqt" else "kie"
    with pytest.raises(errors.InputError) as caught:
        await faked.adapter.submit(StemsRequest(source_task_id="t", audio_id="a", source_provider=other), "")
    assert "This track was made with" in caught.value.user_message and "cover it" in caught.value.user_message
    assert faked.submissions() == 0


async def test_the_account_balance(provider: Driver) -> None:
    if provider.name == "cqt":  # no documented endpoint (contract §6): the moderator is told where to look
        with pytest.raises(errors.InputError, match="CQTAI console"):
            await provider.adapter.credits()
    elif isinstance(provider, KieDriver):  # read from each provider's own endpoint (§2 row 17, §7)
        provider.fake.credits = 4321
        assert await provider.adapter.credits() == 4321
    else:
        assert await provider.adapter.credits() > 0  # the sandbox's simulated account


async def test_callbacks_only_from_providers_that_send_them(faked: Driver) -> None:
    if faked.name == "cqt":
        with pytest.raises(MalformedCallback):
            faked.adapter.parse_callback(TaskKind.GENERATE, {"code": 200, "data": {"task_id": "x"}})
    for body in (None, [], {"code": 200}, {"code": 200, "data": {"callbackType": "complete", "task_id": "x"}}):
        with pytest.raises(MalformedCallback):
            faked.adapter.parse_callback(TaskKind.GENERATE, body)
