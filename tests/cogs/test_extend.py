"""/extend and the Extend button, through the real bot against the kie.ai fake."""

from __future__ import annotations

from tests.conftest import Harness
from tests.support.interactions import autocomplete, inject, modal_submit_for, settle


async def test_autocomplete_lists_my_finished_tracks_newest_first(harness: Harness) -> None:
    h = harness
    first_id, _ = await h.song("an old song")
    h.clock.advance(60)
    second_id, _ = await h.song("a new song")
    other = autocomplete("extend", {"track": ""}, "track", user_id=999)
    inject(h.bot, other, fake=h.discord)
    assert (await h.discord.wait_for_callback(int(other["id"]))).json["data"]["choices"] == []
    payload = autocomplete("extend", {"track": ""}, "track")
    inject(h.bot, payload, fake=h.discord)
    callback = await h.discord.wait_for_callback(int(payload["id"]))
    assert callback.json["type"] == 8
    choices = callback.json["data"]["choices"]
    newest = h.kie.task(second_id).tracks
    assert [c["value"] for c in choices[:2]] == [t.audio_id for t in newest]
    assert choices[0]["name"].startswith(newest[0].title) and " \u00b7 20" in choices[0]["name"]
    assert len(choices) == 4
    typed = autocomplete("extend", {"track": newest[1].title[-6:]}, "track")
    inject(h.bot, typed, fake=h.discord)
    narrowed = (await h.discord.wait_for_callback(int(typed["id"]))).json["data"]["choices"]
    assert newest[1].audio_id in [c["value"] for c in narrowed]


async def test_extend_a_track_with_its_own_parameters(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    source = h.kie.task(source_id).tracks[0]
    task_id = await h.finished(h.command("extend", {"track": source.audio_id}), "extend")
    body = h.kie.submissions_of("extend")[-1].body
    assert body == {"defaultParamFlag": False, "model": "V5", "callBackUrl": body["callBackUrl"],
                    "audioId": source.audio_id}
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks(4)
    assert len(tracks) == 4 and all(len(m["components"]) == 3 for m in tracks[2:])  # with their buttons


async def test_new_parameters_fill_in_the_rest_from_the_track(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song(model="V4_5PLUS")
    source = h.kie.task(source_id).tracks[0]
    await h.finished(h.command("extend", {"track": source.audio_id, "continue_at": 60.5,
                                          "lyrics": "[Bridge]\nla la"}), "extend")
    body = h.kie.submissions_of("extend")[-1].body
    assert body["defaultParamFlag"] is True and body["continueAt"] == 60.5
    assert (body["prompt"], body["style"], body["title"], body["model"]) == (
        "[Bridge]\nla la", source.tags, source.title, "V4_5PLUS")


async def test_continue_at_beyond_the_track_is_refused_before_any_request(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    source = h.kie.task(source_id).tracks[0]
    reply = await h.reply_to(h.command("extend", {"track": source.audio_id, "continue_at": 400.0,
                                                  "lyrics": "la"}))
    assert "less than the track's length" in reply["content"] and reply["flags"] & 64
    assert h.kie.submissions_of("extend") == []


async def test_exactly_one_source(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    audio = h.discord.host_file("demo.mp3", b"ID3" + b"\0" * 2048, content_type="audio/mpeg")
    both = await h.reply_to(h.command("extend", {"track": h.kie.task(source_id).tracks[0].audio_id,
                                                 "audio": audio}))
    neither = await h.reply_to(h.command("extend", {}))
    assert "exactly one source" in both["content"] and "exactly one source" in neither["content"]
    assert h.kie.submissions_of("extend") == [] and h.kie.submissions_of("upload_extend") == []


async def test_the_model_must_match_the_track(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    reply = await h.reply_to(h.command("extend", {"track": h.kie.task(source_id).tracks[0].audio_id,
                                                  "model": "V4"}))
    assert "with the model that made it (V5" in reply["content"]


async def test_someone_elses_track_is_refused(harness: Harness) -> None:
    h = harness
    source_id, _ = await h.song()
    reply = await h.reply_to(h.command("extend", {"track": h.kie.task(source_id).tracks[0].audio_id},
                                       user_id=999))
    assert "belongs to" in reply["content"]


async def test_extend_an_uploaded_file(harness: Harness) -> None:
    h = harness
    data = b"ID3" + bytes(range(256)) * 40
    audio = h.discord.host_file("my demo.mp3", data, content_type="audio/mpeg")
    payload = h.command("extend", {"audio": {**audio, "content_type": "audio/mpeg"}, "continue_at": 42.0,
                                   "lyrics": "[Verse]\nnew words"})
    task_id = await h.finished(payload, "upload_extend")
    body = h.kie.submissions_of("upload_extend")[-1].body
    assert body["uploadUrl"] == audio["url"] and body["continueAt"] == 42.0 and body["defaultParamFlag"] is False
    assert h.kie.task(task_id).upload_size == len(data)  # the provider could fetch the upload


async def test_an_upload_needs_a_start_point(harness: Harness) -> None:
    h = harness
    audio = h.discord.host_file("demo.mp3", b"ID3" * 100, content_type="audio/mpeg")
    reply = await h.reply_to(h.command("extend", {"audio": {**audio, "content_type": "audio/mpeg"}}))
    assert "continue_at" in reply["content"]


async def test_a_file_that_is_not_audio_is_refused(harness: Harness) -> None:
    h = harness
    image = h.discord.host_file("cat.png", b"\x89PNG" * 10, content_type="image/png")
    reply = await h.reply_to(h.command("extend", {"audio": {**image, "content_type": "image/png"},
                                                  "continue_at": 5.0}))
    assert "isn't an audio file" in reply["content"]


async def test_the_extend_button_opens_a_prefilled_form(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song()
    source = h.kie.task(source_id).tracks[0]
    click = h.click(tracks[0], "Extend")
    modal = (await h.discord.wait_for_callback(int(click["id"]))).json
    assert modal["type"] == 9
    await settle()
    values = {c["label"]: c.get("value") for row in modal["data"]["components"] for c in row["components"]}
    assert values["Style"] == source.tags and values["Title"] == source.title
    submit = modal_submit_for(modal["data"], {"Continue from (seconds)": "30", "Lyrics for the new part": "[Outro]"})
    inject(h.bot, submit, fake=h.discord)
    await h.finished(submit, "extend")
    body = h.kie.submissions_of("extend")[-1].body
    assert body["defaultParamFlag"] is True and body["continueAt"] == 30 and body["prompt"] == "[Outro]"


async def test_an_unchanged_form_extends_with_the_tracks_parameters(harness: Harness) -> None:
    h = harness
    _, tracks = await h.song()
    click = h.click(tracks[1], "Extend")
    modal = (await h.discord.wait_for_callback(int(click["id"]))).json
    await settle()
    submit = modal_submit_for(modal["data"], {})
    inject(h.bot, submit, fake=h.discord)
    await h.finished(submit, "extend")
    assert h.kie.submissions_of("extend")[-1].body["defaultParamFlag"] is False
