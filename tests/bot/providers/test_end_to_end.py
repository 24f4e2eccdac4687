"""The real bot on each provider: the same commands, the same messages, whichever provider the admin pays for.
The cogs never know which one is behind them; what differs (callbacks or polling, codes, models, what is on
offer) is the adapter's business."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from bot.core import ChorusBot
from bot.models import TaskKind, TaskState
from bot.providers import ADAPTERS
from bot.providers.kie import KIE, KieClient
from tests.conftest import BotFactory, Clock, Harness
from tests.support.cqt_fake import FakeCqt, boost_tags
from tests.support.discord_fake import (
    DEFAULT_GUILD_ID,
    DEFAULT_USER_ID,
    FakeDiscord,
    route,
)
from tests.support.interactions import (
    MODERATOR_PERMS,
    autocomplete,
    button_labels,
    component,
    inject,
)
from tests.support.kie_fake import FakeKie
from tests.support.sunoapi_fake import FakeSunoApi


@pytest.fixture
async def cqt() -> AsyncIterator[FakeCqt]:
    async with FakeCqt() as fake:
        yield fake


@pytest.fixture
async def sunoapi() -> AsyncIterator[FakeSunoApi]:
    async with FakeSunoApi() as fake:
        fake.auto_callbacks = False
        yield fake


async def on(make_bot: BotFactory, name: str, fake: FakeKie | FakeCqt, **overrides: object) -> ChorusBot:
    return await make_bot(provider=name, api_key=fake.api_key, api_base_url=fake.base_url,
                          fetch_allow_hosts={urlsplit(fake.base_url).netloc}, **overrides)


async def polled(h: Harness) -> None:
    """Let the tracker's next poll come due (CQTAI has no callbacks)."""
    h.clock.advance(3600)
    h.bot.tracker.wake()


COMMANDS = route("PUT", r"/applications/\d+/commands")


async def test_the_video_cqtai_makes_with_a_song_is_posted_instead_of_a_paid_export(
    make_bot: BotFactory, discord_fake: FakeDiscord, cqt: FakeCqt, clock: Clock
) -> None:
    h = Harness(await on(make_bot, "cqt", cqt), discord_fake, None, clock)  # type: ignore[arg-type]
    await h.reply_to(h.command("generate", {"prompt": "a song with a video"}))
    song = cqt.last_task_id
    cqt.complete(song)
    await polled(h)
    await h.wait_for_tracks()
    clip = cqt.task(song).result[0]
    reply = await h.reply_to(h.command("export", {"track": clip["id"], "format": "video"}))
    assert "so it costs nothing" in reply["content"]
    posted = await discord_fake.wait_for_message(h.channel_id, lambda m: "music video is ready" in (m["content"] or ""))
    upload = next(c for c in reversed(discord_fake.calls) if c.files and c.files[0].filename.endswith(".mp4"))
    assert upload.files[0].data == cqt.file_bytes(clip["video_url"]) and posted["attachments"]
    assert not [s for s in cqt.submissions if s.body.get("task") == "mp4"]  # no paid export
    rows = await h.bot.store.history(DEFAULT_GUILD_ID, DEFAULT_USER_ID, 10)
    assert not [row for row in rows if row.operation == "video"]  # and nothing charged


async def test_cqtai_hides_sound_effects_and_help_says_its_videos_are_free(
    make_bot: BotFactory, discord_fake: FakeDiscord, cqt: FakeCqt, clock: Clock
) -> None:
    """CQTAI lists sound effects but documents neither their task name nor their fields: /sfx is not offered
    there. Its songs come with their video, so /help does not quote the export's price for one."""
    h = Harness(await on(make_bot, "cqt", cqt), discord_fake, None, clock)  # type: ignore[arg-type]
    sync = await discord_fake.wait_for(COMMANDS)
    assert "sfx" not in {command["name"] for command in sync.json}
    text = str((await h.reply_to(h.command("help")))["embeds"][0]["fields"])
    assert "WAV **1**, video **free** for songs made here" in text and "/sfx" not in text


async def test_sunoapi_makes_sound_effects(
    make_bot: BotFactory, discord_fake: FakeDiscord, sunoapi: FakeSunoApi, clock: Clock
) -> None:
    h = Harness(await on(make_bot, "sunoapi", sunoapi), discord_fake, sunoapi, clock)
    task_id = await h.finished(h.command("sfx", {"prompt": "thunder rolling in the distance", "key": "Am"}), "sounds")
    assert sunoapi.submissions_of("sounds")[-1].sound.key == "Am"
    await sunoapi.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert "your sound is ready" in tracks[0]["content"] and tracks[0]["attachments"]
    reply = await h.reply_to(h.command("sfx", {"prompt": "x" * 501}))
    assert "Suno takes at most 500" in reply["content"] and len(sunoapi.submissions_of("sounds")) == 1


async def test_cqtai_songs_are_polled_and_posted_like_any_other(
    make_bot: BotFactory, discord_fake: FakeDiscord, cqt: FakeCqt, clock: Clock
) -> None:
    h = Harness(await on(make_bot, "cqt", cqt), discord_fake, None, clock)  # type: ignore[arg-type]
    reply = await h.reply_to(h.command("generate", {"prompt": "a cheerful song about rain"}))
    assert "On it" in reply["content"]
    body = cqt.submissions[-1].body
    assert (body["task"], body["model"], body["prompt"]) == ("create", "v55", "a cheerful song about rain")
    assert "callBackUrl" not in body
    cqt.advance(cqt.last_task_id, "processing")
    await polled(h)
    cqt.complete(cqt.last_task_id)
    await polled(h)
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2
    assert button_labels(tracks[0]) == ["Extend", "Cover", "Re-roll", "Stems", "WAV", "Video", "Karaoke", "Like", "Info",
                                  "Delete"]
    uploads = [c for c in discord_fake.calls if route("POST", rf"/channels/{h.channel_id}/messages")(c) and c.files]
    clip = cqt.task(cqt.last_task_id).result[0]
    assert any(f.data == cqt.file_bytes(clip["audio_url"]) for call in uploads for f in call.files)
    task = await h.bot.store.get_task(1)
    assert task is not None and task.provider == "cqt" and task.state is TaskState.SUCCEEDED

    # The buttons work the same: stems of the first track, by its clip id.
    click = h.click(tracks[0], "Stems")
    await h.discord.wait_for_callback(int(click["id"]))
    choose = h.click(h.discord.original_response(int(click["id"])), "Vocals + instrumental")
    assert "On it" in (await h.reply_to(choose))["content"]
    assert cqt.submissions_of("gen_stem_two")[0].body == {"task": "gen_stem_two", "clipId": clip["id"]}
    cqt.complete(cqt.last_task_id)
    await polled(h)
    stems = await discord_fake.wait_for_message(h.channel_id, lambda m: "stems are ready" in (m["content"] or ""))
    assert sorted(a["filename"].rsplit("-", 1)[1] for a in stems["attachments"]) == ["Instrumental.mp3", "Vocals.mp3"]


async def test_sunoapi_callbacks_are_taken_unsigned_and_its_429_means_no_credits(
    make_bot: BotFactory, discord_fake: FakeDiscord, sunoapi: FakeSunoApi, clock: Clock
) -> None:
    h = Harness(await on(make_bot, "sunoapi", sunoapi), discord_fake, sunoapi, clock)
    _, task_id = await h.generate()
    delivered = await sunoapi.advance(task_id, "complete")
    assert delivered is not None and delivered.status == 200
    assert len(await h.wait_for_tracks()) == 2
    sunoapi.credits = 0
    payload = h.command("generate", {"prompt": "one more"})
    reply = await h.reply_to(payload)
    assert "out of credits" in reply["content"] and "On it" not in reply["content"]
    assert len(sunoapi.submissions) == 1  # a 429 there is not retried: it would only fail again
    refused = await h.bot.store.get_task(2)
    assert refused is not None and refused.state is TaskState.FAILED
    assert await h.bot.store.refund_of(refused.id) is not None  # the member's credits came back


async def test_the_model_suggestions_are_the_providers_own(
    make_bot: BotFactory, discord_fake: FakeDiscord, cqt: FakeCqt, kie: FakeKie, clock: Clock
) -> None:
    for bot, expected in (
        (await on(make_bot, "cqt", cqt), ["V5.5 (newest)", "V5", "V4.5+", "V4.5", "V4"]),
        (await on(make_bot, "kie", kie), ["V5 (newest)", "V4.5+", "V4.5 All", "V4.5", "V4"]),
    ):
        payload = autocomplete("generate", {"prompt": "x", "model": ""}, "model")
        inject(bot, payload, fake=discord_fake)
        choices = (await discord_fake.wait_for_callback(int(payload["id"]))).json["data"]["choices"]
        assert [choice["name"] for choice in choices] == expected
        await bot.close()


async def test_a_typed_model_is_understood_and_one_the_provider_lacks_is_refused(
    make_bot: BotFactory, discord_fake: FakeDiscord, cqt: FakeCqt, clock: Clock
) -> None:
    h = Harness(await on(make_bot, "cqt", cqt), discord_fake, None, clock)  # type: ignore[arg-type]
    await h.reply_to(h.command("generate", {"prompt": "rain", "model": "v4.5+"}))
    assert cqt.submissions[-1].body["model"] == "v45+"
    reply = await h.reply_to(h.command("generate", {"prompt": "rain", "model": "V4_5ALL"}))
    assert reply["content"].startswith("Model 'V4.5 All' isn't available on CQTAI. Pick one of: V5.5, V5, V4.5+")
    assert len(cqt.submissions) == 1


async def test_what_a_provider_does_not_offer_is_hidden_and_refused_by_name(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_stems = replace(KIE, kinds=KIE.kinds - {TaskKind.STEMS})
    monkeypatch.setitem(ADAPTERS, "kie", (KieClient, no_stems))
    h = Harness(await on(make_bot, "kie", kie), discord_fake, kie, clock)
    sync = await discord_fake.wait_for(COMMANDS)
    assert "stems" not in {command["name"] for command in sync.json} and "export" in {c["name"] for c in sync.json}
    _, tracks = await h.song()
    assert button_labels(tracks[0]) == ["Extend", "Cover", "Replace section", "Re-roll", "WAV", "Video", "Karaoke", "Like",
                                  "Info", "Delete"]
    # A Stems button from before the switch still answers, privately and by name.
    old = component("chorus:stemsmode:1:0:vocals")
    inject(h.bot, old, fake=discord_fake)
    reply = await h.reply_to(old)
    assert reply["content"].startswith("kie.ai, the Suno provider this bot uses, does not offer stem separation.")
    assert kie.separations == []


async def test_switching_providers_refunds_what_was_running_and_keeps_old_tracks_honest(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, cqt: FakeCqt, clock: Clock
) -> None:
    first = Harness(await on(make_bot, "kie", kie), discord_fake, kie, clock)
    _, tracks = await first.song()
    await first.generate("still running when the admin switches")
    await first.bot.close()
    h = Harness(await on(make_bot, "cqt", cqt), discord_fake, None, clock)  # type: ignore[arg-type]
    notice = await discord_fake.wait_for_message(h.channel_id, lambda m: "switched" in (m["content"] or ""))
    assert "refunded" in notice["content"]
    running = await h.bot.store.get_task(2)
    assert running is not None and running.state is TaskState.FAILED
    assert await h.bot.store.refund_of(2) is not None
    reply = await h.reply_to(h.click(tracks[0], "Extend"))
    assert reply["content"].startswith("This track was made with kie.ai, and this bot now uses CQTAI")
    cover = h.click(tracks[0], "Cover")  # a cover only needs the audio, which any provider can fetch
    modal = await discord_fake.wait_for_callback(int(cover["id"]))
    assert modal.json["type"] == 9 and modal.json["data"]["title"] == "Cover this track"
    assert cqt.submissions == []


async def test_the_provider_balance_names_the_provider(
    make_bot: BotFactory, discord_fake: FakeDiscord, sunoapi: FakeSunoApi, cqt: FakeCqt, clock: Clock
) -> None:
    sunoapi.credits = 321
    for bot, expected in (
        (await on(make_bot, "sunoapi", sunoapi), "The bot's account on sunoapi.org has **321** credits left."),
        (await on(make_bot, "cqt", cqt), "CQTAI has no documented balance endpoint: check the balance in the CQTAI "
                                         "console (cqtai.com)."),
    ):
        h = Harness(bot, discord_fake, None, clock)  # type: ignore[arg-type]
        payload = h.command("mod", subcommand="provider-balance", permissions=MODERATOR_PERMS)
        assert (await h.reply_to(payload))["content"] == expected
        await bot.close()


async def test_cqtai_tools_run_as_tasks_to_their_end(
    make_bot: BotFactory, discord_fake: FakeDiscord, cqt: FakeCqt, clock: Clock
) -> None:
    """Style boost and karaoke on CQTAI: its upsample_tags and timeline tasks, polled until they finish."""
    h = Harness(await on(make_bot, "cqt", cqt), discord_fake, None, clock)  # type: ignore[arg-type]
    cqt.auto_complete_after_polls = 1
    payload = h.command("style", {"text": "pop, mysterious"}, subcommand="boost")
    call = await discord_fake.wait_for(lambda c: c.path.startswith("/webhooks/") and payload["token"] in c.path)
    assert boost_tags("pop, mysterious") in call.json["content"]  # what CQTAI's finished task answered
    assert [s.body["task"] for s in cqt.submissions] == ["upsample_tags"]
    sync = await discord_fake.wait_for(COMMANDS)
    assert {"persona", "karaoke", "style"} <= {command["name"] for command in sync.json}

    await h.reply_to(h.command("generate", {"prompt": "a ballad to sing along to"}))
    cqt.complete(cqt.last_task_id)
    await polled(h)
    await h.wait_for_tracks()
    clip = cqt.task(cqt.last_task_id).result[0]
    karaoke = await h.reply_to(h.command("karaoke", {"track": clip["id"]}))
    assert cqt.submissions[-1].body == {"task": "timeline", "clipId": clip["id"]}
    upload = next(c for c in reversed(discord_fake.calls) if c.files and c.files[0].filename.endswith(".lrc"))
    assert karaoke["embeds"][0]["description"] and upload.files[0].data.startswith(b"[")
