"""The studio's music operations, through the real bot and the kie.ai fake: /vocals, /instrumental, /mashup
and /replace (and its button). Each is validated before anything is sent, charged, and posted as tracks with
their buttons."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.interactions import (
    BOT_CHANNEL_PERMS,
    SEND_MESSAGES_IN_THREADS,
    guild_create,
    inject,
    modal_submit_for,
    settle,
    text_channel,
    thread_channel,
)

BOB = 4242
WAV = b"RIFF" + b"\0" * 4000


def upload(h: Harness, name: str = "beat.wav") -> dict[str, Any]:
    return {**h.discord.host_file(name, WAV, content_type="audio/wav"), "content_type": "audio/wav"}


async def modal_of(h: Harness, payload: dict[str, Any]) -> dict[str, Any]:
    callback = await h.discord.wait_for_callback(int(payload["id"]))
    assert callback.json["type"] == 9, callback.json
    await settle()  # discord.py listens for the form's answer once Discord has taken it
    return callback.json["data"]


def spent(rows: list[Any], operation: str) -> list[int]:
    return [row.amount for row in rows if row.kind == "reserve" and row.operation == operation]


async def test_vocals_over_an_uploaded_instrumental(harness: Harness) -> None:
    h = harness
    await h.bot.store.set_cost(DEFAULT_GUILD_ID, "add_vocals", 12)
    task_id = await h.finished(h.command("vocals", {"audio": upload(h), "style": "soulful female vocals",
                                                    "lyrics": "[Verse]\nhold the line"}), "add_vocals")
    body = h.kie.submissions_of("add_vocals")[-1].body
    assert body == {"uploadUrl": body["uploadUrl"], "prompt": "[Verse]\nhold the line", "title": "beat",
                    "style": "soulful female vocals", "negativeTags": "", "model": "V5",
                    "callBackUrl": body["callBackUrl"]}
    assert h.kie.task(task_id).upload_bytes == WAV  # Suno fetched the member's file
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2 and all(any(a["filename"].endswith(".mp3") for a in m["attachments"]) for m in tracks)
    rows = await h.bot.store.history(DEFAULT_GUILD_ID, DEFAULT_USER_ID, 10)
    assert spent(rows, "add_vocals") == [-12]


async def test_vocals_without_lyrics_opens_a_form_and_checks_the_model(harness: Harness) -> None:
    h = harness
    modal = await modal_of(h, h.command("vocals", {"audio": upload(h, "my_beat.mp3"), "style": "rap"}))
    submit = modal_submit_for(modal, {"Lyrics": "[Verse]\nbars", "Title": "My Beat, sung"})
    inject(h.bot, submit, fake=h.discord)
    assert "On it" in (await h.reply_to(submit))["content"]
    assert h.kie.submissions_of("add_vocals")[-1].body["title"] == "My Beat, sung"
    old = await h.reply_to(h.command("vocals", {"audio": upload(h), "style": "rap", "lyrics": "la", "model": "V4_5"}))
    assert "only with the V4.5+ or V5 model" in old["content"] and old["flags"] & 64
    assert len(h.kie.submissions_of("add_vocals")) == 1  # nothing sent for the refused one


async def test_an_instrumental_for_uploaded_vocals(harness: Harness) -> None:
    h = harness
    task_id = await h.finished(h.command("instrumental", {"audio": upload(h, "acapella.wav"),
                                                          "style": "warm acoustic guitar", "title": "Backing"}),
                               "add_instrumental")
    body = h.kie.submissions_of("add_instrumental")[-1].body
    assert (body["tags"], body["title"], body["model"], body["negativeTags"]) == (
        "warm acoustic guitar", "Backing", "V5", "")
    await h.kie.advance(task_id, "complete")
    assert len(await h.wait_for_tracks()) == 2


async def test_a_mashup_of_my_track_and_another_members(harness: Harness) -> None:
    h = harness
    mine_id, _ = await h.song("my sea shanty")
    bob = await h.finished(h.command("generate", {"prompt": "bob's disco"}, user_id=BOB), "generate")
    await h.kie.advance(bob, "complete")
    await h.wait_for_tracks(4)
    mine, theirs = h.kie.task(mine_id).tracks[0], h.kie.task(bob).tracks[1]
    task_id = await h.finished(h.command("mashup", {"track": mine.audio_id, "with": theirs.audio_id}), "mashup")
    body = h.kie.submissions_of("mashup")[-1].body
    assert body["uploadUrlList"] == [h.kie.audio_url(mine_id, 0), h.kie.audio_url(bob, 1)]
    assert body["customMode"] is False and body["prompt"].startswith("A mashup of \u201c")
    assert h.kie.task(task_id).upload_list == [h.kie.audio_bytes(mine_id, 0), h.kie.audio_bytes(bob, 1)]  # fetched
    same = await h.reply_to(h.command("mashup", {"track": mine.audio_id, "with": mine.audio_id}))
    assert "two different tracks" in same["content"]
    theirs_as_mine = await h.reply_to(h.command("mashup", {"track": theirs.audio_id, "with": mine.audio_id}))
    assert "belongs to" in theirs_as_mine["content"]  # the first track must be your own


async def offered(h: Harness, mine: str, user_id: int = DEFAULT_USER_ID) -> list[str]:
    """The tracks /mashup offers ``user_id`` to blend with their track ``mine``."""
    return await h.suggestions("mashup", {"track": mine, "with": ""}, "with", user_id=user_id)


async def bobs_song(h: Harness, prompt: str, thread: dict[str, Any]) -> str:
    """Bob's finished song, asked for (and posted) in ``thread``: its first track's audio id."""
    channel_id = int(thread["id"])
    task_id = await h.finished(h.command("generate", {"prompt": prompt}, user_id=BOB, channel_id=channel_id,
                                         channel=thread, app_permissions=BOT_CHANNEL_PERMS | SEND_MESSAGES_IN_THREADS),
                               "generate")
    await h.kie.advance(task_id, "complete")
    await h.discord.wait_for_message(channel_id, lambda m: "your song is ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    return h.kie.task(task_id).tracks[0].audio_id


async def test_a_private_threads_tracks_stay_in_it_and_an_archived_public_thread_follows_its_channel(
    harness: Harness,
) -> None:
    """The bot cannot know who is in a private thread: its tracks are offered to nobody else. A public
    thread's are offered to whoever reads its channel, also once the thread is archived (no longer cached)."""
    h = harness
    jam_thread, secret_thread = thread_channel(8080, h.channel_id, "jam"), \
        thread_channel(8181, h.channel_id, "dm", private=True)
    channels = [text_channel(h.channel_id, "music")]
    guild_create(h.bot, channels=channels, threads=[jam_thread, secret_thread])
    mine_id, _ = await h.song("my sea shanty")
    mine = h.kie.task(mine_id).tracks[0].audio_id
    jam = await bobs_song(h, "a jam session", jam_thread)
    secret = await bobs_song(h, "a song for one friend", secret_thread)
    assert jam in await offered(h, mine) and secret not in await offered(h, mine)
    guild_create(h.bot, channels=channels)  # both threads archived: the cache no longer holds them
    assert jam in await offered(h, mine) and secret not in await offered(h, mine)
    reply = await h.reply_to(h.command("karaoke", {"track": secret}))
    assert "can't find that track" in reply["content"]


async def test_another_members_track_from_a_channel_i_cannot_read_is_not_offered_or_taken(harness: Harness) -> None:
    """A song posted in the moderators' room is not listed to a member who cannot read that room, nor taken
    when its id is typed; its owner still finds it."""
    h = harness
    mods_room = 7070
    guild_create(h.bot, channels=[text_channel(h.channel_id, "music"), text_channel(mods_room, "mods", hidden=True)])
    mine_id, _ = await h.song("my sea shanty")
    bob = await h.finished(h.command("generate", {"prompt": "a secret demo"}, user_id=BOB, channel_id=mods_room),
                           "generate")
    await h.kie.advance(bob, "complete")
    await h.discord.wait_for_message(mods_room, lambda m: "your song is ready" in (m["content"] or ""))
    await h.bot.tracker.idle()
    mine, secret = h.kie.task(mine_id).tracks[0], h.kie.task(bob).tracks[0]
    assert secret.audio_id not in await offered(h, mine.audio_id) and mine.audio_id in await offered(h, mine.audio_id)
    assert secret.audio_id in await offered(h, mine.audio_id, BOB)  # his own
    reply = await h.reply_to(h.command("mashup", {"track": mine.audio_id, "with": secret.audio_id}))
    assert "can't find that track" in reply["content"] and h.kie.submissions_of("mashup") == []
    karaoke = await h.reply_to(h.command("karaoke", {"track": secret.audio_id}))
    assert "can't find that track" in karaoke["content"]


async def test_replace_a_section_checked_before_sending(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song("a song with a weak second verse")
    source = h.kie.task(source_id).tracks[0]
    for start, end, problem in ((10, 13, "6 to 60 seconds"), (10, 75, "6 to 60 seconds"),
                                (10, source.duration + 5, "must end by then"),
                                (30, 10, "must end after it starts")):
        reply = await h.reply_to(h.command("replace", {"track": source.audio_id, "start": start, "end": end,
                                                       "lyrics": "new words"}))
        assert problem in reply["content"], (start, end, reply["content"])
    assert h.kie.submissions_of("replace_section") == []
    task_id = await h.finished(h.command("replace", {"track": source.audio_id, "start": 20.5, "end": 40,
                                                     "lyrics": "[Verse 2]\nbetter words"}), "replace_section")
    body = h.kie.submissions_of("replace_section")[-1].body
    assert (body["taskId"], body["audioId"], body["infillStartS"], body["infillEndS"]) == (
        source_id, source.audio_id, 20.5, 40)
    assert body["prompt"] == "[Verse 2]\nbetter words" and body["tags"] == source.tags and body["title"] == source.title
    await h.kie.advance(task_id, "complete")
    assert len(await h.wait_for_tracks(3)) == 3  # the edited take, with its buttons


async def test_the_replace_section_button_opens_a_prefilled_form(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song()
    source = h.kie.task(source_id).tracks[1]
    modal = await modal_of(h, h.click(tracks[1], "Replace section"))
    submit = modal_submit_for(modal, {"From (seconds of %.0f)" % source.duration: "12", "To (seconds; 6 to 60 s later)": "30",
                                      "New lyrics for the section": "la la la"})
    inject(h.bot, submit, fake=h.discord)
    assert "On it" in (await h.reply_to(submit))["content"]
    body = h.kie.submissions_of("replace_section")[-1].body
    assert (body["infillStartS"], body["infillEndS"], body["tags"]) == (12, 30, source.tags)


async def test_new_cover_art_is_posted_and_asked_for_only_once(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song("a song that needs a new look")
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    task_id = await h.finished(h.command("art", {"track": audio_id}), "cover_image")
    assert h.kie.submissions_of("cover_image")[-1].body["taskId"] == source_id
    await h.kie.advance(task_id, "complete")
    posted = await h.discord.wait_for_message(h.channel_id, lambda m: "cover art is ready" in (m["content"] or ""))
    pngs = [a for a in posted["attachments"] if a["filename"].endswith(".png")]
    assert len(pngs) == 2
    again = await h.reply_to(h.command("art", {"track": audio_id}))
    assert "made before" in again["content"]  # re-posted, not asked for (nor billed) again
    assert len(h.kie.submissions_of("cover_image")) == 1
