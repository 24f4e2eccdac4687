"""Tracking: lost callbacks are caught by polling, restarts resume, failures and timeouts are told."""

from __future__ import annotations

import asyncio

import pytest

from bot.models import MusicRequest, TaskState
from bot.store import NewTask
from bot.tracker import DELIVERY_LEASE, REDELIVERY_FIRST, SUBMIT_LEASE
from tests.cogs.test_credits import balance
from tests.conftest import BotFactory, Clock, Harness, post_json
from tests.support.faults import PollWatch

pytestmark = pytest.mark.both_databases


async def test_a_lost_callback_is_caught_by_polling(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await make_bot(poll_interval=0.5), discord_fake, kie, clock)
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete", deliver=False)  # the callback never arrives
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2
    assert h.kie.polls[task_id] >= 1
    assert h.kie.callback_results == []


async def test_no_polls_while_the_provider_calls_back(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await make_bot(poll_interval=60), discord_fake, kie, clock)
    _, task_id = await h.generate()
    for stage in ("text", "first"):
        clock.advance(120)  # within three intervals of the last news: no need to ask
        h.bot.tracker.wake()
        await h.kie.advance(task_id, stage)
        task = await h.bot.store.get_task(1)
        assert task is not None and task.next_poll_at == pytest.approx(clock() + 180, abs=5)
    clock.advance(120)
    await h.kie.advance(task_id, "complete")
    await h.wait_for_tracks()
    assert h.kie.polls.get(task_id, 0) == 1  # only the read that confirms the finished result
    _, quiet = await h.generate("a provider that went quiet")
    await h.kie.advance(quiet, "complete", deliver=False)
    clock.advance(181)  # nothing heard for three intervals: now it asks
    h.bot.tracker.wake()
    await h.wait_for_tracks(4)
    assert h.kie.polls[quiet] == 1


async def test_polling_respects_the_interval(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await make_bot(poll_interval=0.5), discord_fake, kie, clock)
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "first", deliver=False)
    await h.discord.wait_for_message(h.channel_id, lambda m: "\u2705 First track ready" in str(m["embeds"]))
    task = (await h.bot.store.pending_due(clock() + 10))[0]
    assert task.next_poll_at is not None and task.next_poll_at > clock()  # the next poll is scheduled ahead
    assert not any(call.code == 429 for call in h.kie.api_calls)  # never beyond 3 polls/s per task


async def test_a_restart_with_a_pending_task_resumes_it(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    first = Harness(await make_bot(poll_interval=0.5), discord_fake, kie, clock)
    _, task_id = await first.generate()
    await first.bot.close()
    await kie.advance(task_id, "complete")  # delivered to a closed port: lost
    assert kie.callback_results[-1][2] != 200
    second = Harness(await make_bot(poll_interval=0.5), discord_fake, kie, clock)
    tracks = await second.wait_for_tracks()
    assert len(tracks) == 2
    assert "\u2705 Done" in second.messages()[0]["embeds"][0]["description"]


async def test_a_restart_accepts_the_pending_tasks_callbacks(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    first = Harness(await make_bot(), discord_fake, kie, clock)
    _, task_id = await first.generate()
    port = first.bot.settings.web_port
    await first.bot.close()
    second = Harness(await make_bot(web_port=port, public_base_url=f"http://127.0.0.1:{port}"), discord_fake, kie,
                     clock)
    assert (await kie.advance(task_id, "complete")).status == 200
    assert len(await second.wait_for_tracks()) == 2


def after_the_lease(h: Harness, clock: Clock) -> None:
    """Alone on SQLite, a restarted bot takes up what its last run left at once. On a shared database the
    work of a stopped process is taken up when its leases end (another process may still be doing it)."""
    if h.bot.settings.shared_database:
        clock.advance(max(SUBMIT_LEASE, REDELIVERY_FIRST, DELIVERY_LEASE) + 1)


async def test_a_finished_but_unposted_task_is_posted_after_a_restart(
    make_bot: BotFactory, discord_fake, kie, clock
) -> None:
    h = Harness(await make_bot(), discord_fake, kie, clock)
    _, task_id = await h.generate()
    # Discord fails the second track's message (an error that is not about the channel): the delivery is
    # cut short after the first, and resumed at the next start.
    posts = iter(range(100))
    discord_fake.fail_next(lambda call: bool(call.files) and next(posts) == 1, 400, 50035, "Invalid Form Body")
    await kie.advance(task_id, "complete")
    await h.bot.tracker.idle()
    assert len(h.track_messages()) == 1
    await h.bot.close()
    after_the_lease(h, clock)
    again = Harness(await make_bot(), discord_fake, kie, clock)
    tracks = await again.wait_for_tracks()
    assert len(tracks) == 2  # the first track is not posted twice
    assert "2 of 2" in tracks[1]["embeds"][0]["footer"]["text"]


async def test_an_error_callback_fails_the_task_and_tells_the_requester(harness: Harness) -> None:
    h = harness
    payload, task_id = await h.generate()
    await h.kie.fail(task_id, code=531, msg="Generation failed, credits refunded")
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    user_id = payload["member"]["user"]["id"]
    assert notice["content"].startswith(f"<@{user_id}>")
    assert "Try again" in notice["content"]
    await h.bot.tracker.idle()
    status = h.messages()[0]["embeds"][0]
    assert "\u274c Failed" in status["description"]
    assert h.track_messages() == []


async def test_a_failure_seen_by_polling_fails_the_task(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await make_bot(poll_interval=0.5), discord_fake, kie, clock)
    _, task_id = await h.generate()
    await h.kie.fail(task_id, code=400, msg="Song Description flagged for moderation", status="SENSITIVE_WORD_ERROR",
                     deliver=False)
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    assert "content filter" in notice["content"]


async def test_a_task_pending_for_30_minutes_is_failed_and_the_requester_told(harness: Harness) -> None:
    h = harness
    payload, task_id = await h.generate()
    h.clock.advance(31 * 60)
    h.bot.tracker.wake()
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    assert "30 minutes" in notice["content"]
    assert f"<@{payload['member']['user']['id']}>" in notice["content"]
    # A complete callback after the timeout changes nothing.
    assert (await h.kie.advance(task_id, "complete")).status == 200
    await h.bot.tracker.idle()
    assert h.track_messages() == []


async def test_a_submit_cut_off_by_a_restart_waits_then_is_refunded(make_bot: BotFactory, discord_fake, kie,
                                                                     clock) -> None:
    """The provider may have taken a submit the bot was stopped in the middle of: it stays unconfirmed for 15
    minutes (a callback at its path would adopt it), then is refunded with a message."""
    h = Harness(await make_bot(), discord_fake, kie, clock)
    task = await h.bot.store.create_task(
        NewTask("kie", "t" * 32, 1, h.channel_id, 42, MusicRequest(prompt="interrupted"), 10 * 1024 * 1024)
    )
    await h.bot.close()
    after_the_lease(h, clock)
    again = Harness(await make_bot(), discord_fake, kie, clock)
    stored = await again.bot.store.get_task(task.id)
    assert stored is not None and stored.state is TaskState.UNSURE
    clock.advance(15 * 60 + 1)
    again.bot.tracker.wake()
    notice = await again.discord.wait_for_message(again.channel_id, lambda m: "<@42>" in (m["content"] or ""))
    assert "never reported starting it within 15 minutes" in notice["content"]
    stored = await again.bot.store.get_task(task.id)
    assert stored is not None and stored.state is TaskState.FAILED


async def test_without_callbacks_a_cut_off_submit_is_failed_on_startup(make_bot: BotFactory, discord_fake, kie,
                                                                        clock) -> None:
    """Poll-only: no callback can ever name it, so waiting would only delay the refund."""
    h = Harness(await make_bot(public_base_url=None), discord_fake, kie, clock)
    task = await h.bot.store.create_task(
        NewTask("kie", "t" * 32, 1, h.channel_id, 42, MusicRequest(prompt="interrupted"), 10 * 1024 * 1024)
    )
    await h.bot.close()
    after_the_lease(h, clock)
    again = Harness(await make_bot(public_base_url=None), discord_fake, kie, clock)
    notice = await again.discord.wait_for_message(again.channel_id, lambda m: "<@42>" in (m["content"] or ""))
    assert "restarted" in notice["content"]
    stored = await again.bot.store.get_task(task.id)
    assert stored is not None and stored.state is TaskState.FAILED


async def test_a_lost_submit_answer_is_adopted_when_its_callback_comes(strict: Harness) -> None:
    """The submit's answer is lost (the connection dropped) but the provider took it: the member is told it is
    unconfirmed, credits stay reserved, and the first callback at the task's path is confirmed against the
    provider's record (which names that path) and adopted; the song is posted and paid for once."""
    h = strict
    h.kie.lose_next_submit_answer()
    reply = await h.reply_to(h.command("generate", {"prompt": "a song whose answer got lost"}))
    assert "didn't answer in time" in reply["content"] and "credits come back" in reply["content"]
    status = await h.discord.wait_for_message(h.channel_id, lambda m: "may or may not have started" in str(m))
    task = await h.bot.store.get_task(1)
    assert task is not None and task.state is TaskState.UNSURE and task.provider_task_id is None
    assert await balance(h) == 90
    task_id = h.kie.last_task_id
    await h.kie.advance(task_id, "text")
    await h.discord.wait_for_message(h.channel_id, lambda m: m["id"] == status["id"] and "Lyrics written" in str(m))
    await h.kie.advance(task_id, "complete")
    assert len(await h.wait_for_tracks()) == 2
    task = await h.bot.store.get_task(1)
    assert task is not None and task.provider_task_id == task_id and task.state is TaskState.SUCCEEDED
    assert await balance(h) == 90 and len(h.kie.submissions) == 1  # never sent twice


async def test_a_lost_submit_answer_with_no_callback_is_refunded_after_15_minutes(strict: Harness) -> None:
    h = strict
    h.kie.lose_next_submit_answer()
    await h.reply_to(h.command("generate", {"prompt": "never heard of again"}))
    h.clock.advance(15 * 60 + 1)
    h.bot.tracker.wake()
    notice = await h.discord.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    assert "never reported starting it" in notice["content"]
    assert await balance(h) == 100 and len(h.kie.submissions) == 1


async def test_a_forged_callback_cannot_adopt_another_task_for_an_unconfirmed_one(strict: Harness) -> None:
    """Naming a real task whose record calls back elsewhere changes nothing: the id is not adopted."""
    h = strict
    _, other = await h.generate("someone else's song")
    h.kie.lose_next_submit_answer()
    await h.reply_to(h.command("generate", {"prompt": "unconfirmed"}))
    unsure_url = h.kie.submissions[-1].body["callBackUrl"]
    await h.kie.advance(other, "complete", deliver=False)
    assert await post_json(unsure_url, h.kie.callback_body(other, "complete")) == 200
    await h.bot.tracker.idle()
    task = await h.bot.store.get_task(2)
    assert task is not None and task.state is TaskState.UNSURE and task.provider_task_id is None
    assert h.track_messages() == []


async def test_a_poll_only_kie_song_finished_with_callback_exception_is_posted(make_bot: BotFactory, discord_fake,
                                                                            kie, clock) -> None:
    """Poll-only, kie cannot call back (its callBackUrl never resolves), so its record says CALLBACK_EXCEPTION
    with the finished tracks: they are posted, not refunded."""
    h = Harness(await make_bot(public_base_url=None, poll_interval=0.5, generous=False), discord_fake, kie, clock)
    _, task_id = await h.generate()
    h.kie.finish_without_callback(task_id)
    assert len(await h.wait_for_tracks()) == 2
    task = await h.bot.store.get_task(1)
    assert task is not None and task.state is TaskState.SUCCEEDED and await balance(h) == 90


async def test_poll_errors_back_off_and_recover(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await make_bot(poll_interval=0.5), discord_fake, kie, clock)
    _, task_id = await h.generate()
    h.kie.fail_next_poll(500, "Internal error", http_status=500)
    await h.kie.advance(task_id, "complete", deliver=False)
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2
    polls = [call for call in h.kie.api_calls if "record-info" in call.path_qs]
    assert len(polls) >= 2 and polls[0].code == 500  # the failed poll, then the one that found the result


async def test_a_song_finished_during_a_long_downtime_is_posted_not_timed_out(
    make_bot: BotFactory, discord_fake, kie, clock
) -> None:
    first = Harness(await make_bot(), discord_fake, kie, clock)
    _, task_id = await first.generate()
    await first.bot.close()
    await kie.advance(task_id, "complete", deliver=False)
    clock.advance(2 * 60 * 60)  # the bot was down for two hours
    again = Harness(await make_bot(), discord_fake, kie, clock)
    assert len(await again.wait_for_tracks()) == 2
    assert not any("could not be made" in (m["content"] or "") for m in again.messages())


async def test_every_kind_of_task_is_polled_when_its_callback_is_lost(
    make_bot: BotFactory, discord_fake, kie, clock
) -> None:
    h = Harness(await make_bot(poll_interval=0.5), discord_fake, kie, clock)
    _, tracks = await h.song()
    wav = await h.finished(h.click(tracks[0], "WAV"), "wav")
    lyrics = await h.finished(h.command("lyrics", {"prompt": "tides"}), "lyrics")
    stems = await h.finished(h.command("stems", {"track": await h.audio_id(tracks[1])}), "separation")
    for task_id in (wav, lyrics, stems):
        await h.kie.advance(task_id, "complete", deliver=False)
    for ready in ("WAV is ready", "lyrics are ready", "stems are ready"):
        await h.discord.wait_for_message(h.channel_id, lambda m, ready=ready: ready in (m["content"] or ""))
    assert all(h.kie.polls[task_id] >= 1 for task_id in (wav, lyrics, stems))


async def test_a_callback_confirmed_before_the_lost_answer_keeps_the_task(strict: Harness) -> None:
    """The provider calls back while its answer to the submit is still on the way, then that answer is lost:
    the task the callback confirmed is kept (not refunded while the provider makes and bills it)."""
    h = strict
    answer_lost = asyncio.Event()
    taken = h.kie.lose_next_submit_answer(hold=answer_lost)
    payload = h.command("generate", {"prompt": "a race"})
    async with asyncio.timeout(10):
        await taken.wait()
    task_id = h.kie.last_task_id
    assert await post_json(h.kie.submissions[-1].body["callBackUrl"], h.kie.callback_body(task_id, "text")) == 200
    await h.bot.tracker.idle()
    task = await h.bot.store.get_task(1)
    assert task is not None and task.provider_task_id == task_id  # confirmed and adopted
    answer_lost.set()
    assert "On it" in (await h.reply_to(payload))["content"]
    await h.kie.advance(task_id, "complete")
    assert len(await h.wait_for_tracks()) == 2
    assert await balance(h) == 90 and len(h.kie.submissions) == 1


async def test_a_proxy_error_page_on_submit_is_never_sent_again(strict: Harness) -> None:
    """A 502 page from a proxy says nothing about whether the provider took the request: no retry (it could
    bill twice); the request waits, unconfirmed."""
    h = strict
    h.kie.fail_next_submit(502, "Bad Gateway", http_status=502, page="<html><h1>502 Bad Gateway</h1></html>")
    reply = await h.reply_to(h.command("generate", {"prompt": "behind a proxy"}))
    assert "didn't answer in time" in reply["content"]
    submits = [call for call in h.kie.api_calls if call.method == "POST"]
    assert len(submits) == 1
    task = await h.bot.store.get_task(1)
    assert task is not None and task.state is TaskState.UNSURE


async def test_callback_exception_without_tracks_is_still_being_made(make_bot: BotFactory, discord_fake, kie,
                                                                      clock) -> None:
    """kie may mark a task CALLBACK_EXCEPTION as soon as a stage's callback fails, before it is finished: that
    says nothing about the song, which is posted once its tracks are in the record."""
    h = Harness(await make_bot(public_base_url=None, poll_interval=0.5, generous=False), discord_fake, kie, clock)
    polls = PollWatch(h.bot.provider)
    _, task_id = await h.generate()
    await h.kie.fail(task_id, status="CALLBACK_EXCEPTION", deliver=False)
    await polls.wait_for(1)
    await h.bot.tracker.idle()
    task = await h.bot.store.get_task(1)
    assert task is not None and not task.state.terminal and await balance(h) == 90
    h.kie.finish_without_callback(task_id)
    assert len(await h.wait_for_tracks()) == 2
