"""The callback endpoint under fuzzed input: hundreds of bodies, content types, task ids and tokens that are
not a valid callback for the task, generated from a fixed seed (``random.Random(SEED)``, no dependencies).

What must hold for every one of them: the bot answers (a 2xx or 4xx, never a 5xx or a dropped connection),
and nothing changes: the database (tasks, tracks, the credit ledger, everything) is identical before and
after, and nothing is posted to Discord. Afterwards the real callback still delivers the song.

A failure lists every offending case by name, so one run shows all of them.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import string
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.conftest import Harness
from tests.support.faults import CommitWatch, snapshot

SEED = 20_240_611
MAX_BODY = 256 * 1024  # the endpoint's documented limit

# Keys the bot's callback parser looks at: random objects use them often, so the fuzz gets close to the shape.
KEYS = ("code", "msg", "data", "callbackType", "callback_type", "task_id", "taskId", "id", "audio_url",
        "audioUrl", "title", "duration", "status", "error", "vocal_separation_info", "prompt")
STAGES = ("text", "first", "complete", "error")


@dataclass
class Case:
    """One request: the task's own callback URL unless ``path`` is given."""

    name: str
    body: bytes = b""
    content_type: str | None = "application/json"
    method: str = "POST"
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    expect: tuple[int, ...] = ()  # the only acceptable answers, when the kind of case decides it


# ----- random values ----------------------------------------------------------------------------------------


def _text(rng: random.Random, longest: int = 24) -> str:
    alphabet = string.printable + "\u00e9\u4e2d\U0001f3b5\u202e\x00"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


def _scalar(rng: random.Random) -> Any:
    return rng.choice([
        lambda: None, lambda: True, lambda: False, lambda: 0, lambda: -1, lambda: 200, lambda: 2**63,
        lambda: -(2**70), lambda: rng.randint(-10**6, 10**6), lambda: rng.uniform(-1e6, 1e6), lambda: 1e308,
        lambda: 200.0, lambda: "", lambda: "200", lambda: "complete", lambda: "SUCCESS", lambda: _text(rng),
    ])()


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value of a random type, nested up to 4 levels."""
    roll = rng.random()
    if depth >= 4 or roll < 0.45:
        return _scalar(rng)
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(KEYS) if rng.random() < 0.7 else _text(rng, 8): _value(rng, depth + 1)
            for _ in range(rng.randint(0, 5))}


def _wrong(rng: random.Random, *, allowed: Callable[[Any], bool]) -> Any:
    """A random value of a type the field must not have (``allowed`` says which values would be valid)."""
    while True:
        value = _value(rng, depth=rng.randint(2, 4))
        if not allowed(value):
            return value


def _is_code(value: Any) -> bool:
    """What a provider code can be: a 64-bit integer (what the database stores), or one in ASCII digits."""
    if isinstance(value, str):
        text = value.strip()
        digits = text.removeprefix("-")
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
            return False
        value = int(text)
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _is_id(value: Any) -> bool:  # a non-empty string or an integer: read as an id
    return (isinstance(value, str) and value != "") or (isinstance(value, int) and not isinstance(value, bool))


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# ----- the cases --------------------------------------------------------------------------------------------


def cases(rng: random.Random, valid: dict[str, Any], task_id: str, other: dict[str, dict[str, Any]],
          other_token: str) -> Iterator[Case]:
    """Every fuzz case. ``valid`` is the task's real "complete" callback; ``other`` holds the other task's
    callbacks by stage; ``other_token`` is the other task's callback token."""
    yield from _random_documents(rng)
    yield from _wrong_types(rng, valid)
    yield from _missing_fields(rng, valid)
    yield from _wrong_task_ids(rng, valid, task_id, other)
    yield from _unknown_tokens(rng, valid, other_token)
    yield from _huge_bodies(rng, valid)
    yield from _not_json(rng, valid)
    yield from _wrong_content_types(rng, valid)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        yield Case(f"method {method}", _dumps(valid), method=method, expect=(405,))


def _random_documents(rng: random.Random) -> Iterator[Case]:
    for n in range(120):
        yield Case(f"random JSON document #{n}", _dumps(_value(rng)))
    for n in range(30):  # the envelope's shape, with random insides
        document = {"code": _value(rng, 3), "msg": _value(rng, 3),
                    "data": {"callbackType": rng.choice(STAGES + ("", "done")), "task_id": _text(rng, 32),
                             "data": _value(rng, 1)}}
        yield Case(f"random envelope #{n}", _dumps(document))


# Where the parser requires something, and what would be acceptable there.
_REQUIRED: dict[str, Callable[[Any], bool]] = {
    "code": _is_code,
    "data": lambda v: isinstance(v, dict),
    "data.task_id": lambda v: False,  # any other task id is refused, so every value is fair
    "data.callbackType": lambda v: v in ("text", "first", "complete", "error"),
    "data.data": lambda v: False,  # the complete stage needs a list holding at least one track with an id
    "data.data[*].id": _is_id,
}


def _with(body: dict[str, Any], path: str, value: Any = None, *, remove: bool = False) -> dict[str, Any]:
    """A copy of ``body`` with ``path`` ("data.data[*].id": in every track) replaced or removed."""
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    targets: list[Any] = [changed]
    for part in parents:
        if part == "data[*]":
            targets = [item for t in targets for item in t["data"]]
        else:
            targets = [t[part] for t in targets]
    for target in targets:
        if remove:
            target.pop(last, None)
        else:
            target[last] = copy.deepcopy(value)
    return changed


def _wrong_types(rng: random.Random, valid: dict[str, Any]) -> Iterator[Case]:
    for path, allowed in _REQUIRED.items():
        for n in range(20):
            value = _wrong(rng, allowed=allowed)
            if path == "data.data" and isinstance(value, list):  # a list, but without a usable track
                value = [v for v in value if not isinstance(v, dict)] + [{"title": "no id", "audio_url": ""}]
            yield Case(f"{path} = {json.dumps(value)[:60]}", _dumps(_with(valid, path, value)))
    for value in (None, [], {}, [None], [[]], ["id"]):
        yield Case(f"data.data = {value!r}", _dumps(_with(valid, "data.data", value)))
    # Codes that are not codes: beyond 64 bits, not ASCII digits, or not a number at all.
    for code in (2**63, -(2**63) - 1, 10**30, "9" * 30, "9" * 5000, "\u00b2", "--5", "-0x1", "1e3", 200.0, True):
        yield Case(f"code = {json.dumps(code)[:40]}", _dumps(_with(valid, "code", code)))


def _missing_fields(rng: random.Random, valid: dict[str, Any]) -> Iterator[Case]:
    for path in _REQUIRED:
        yield Case(f"without {path}", _dumps(_with(valid, path, remove=True)))
    for n in range(20):
        paths = rng.sample(list(_REQUIRED), rng.randint(2, len(_REQUIRED)))
        body = valid
        for path in sorted(paths, key=len, reverse=True):
            try:
                body = _with(body, path, remove=True)
            except (KeyError, TypeError):
                continue
        yield Case(f"without {', '.join(sorted(paths))}", _dumps(body))
    yield Case("only the envelope", _dumps({"code": 200, "msg": "ok"}))
    yield Case("only data", _dumps({"data": valid["data"]}))


def _wrong_task_ids(rng: random.Random, valid: dict[str, Any], task_id: str,
                    other: dict[str, dict[str, Any]]) -> Iterator[Case]:
    for stage, body in other.items():  # the other task's real callbacks, sent to this task's address
        yield Case(f"the other task's {stage} callback", _dumps(body), expect=(400,))
    lookalikes = {task_id.upper(), f" {task_id}", f"{task_id} ", task_id[:-1], task_id + "0", task_id[::-1],
                  task_id.replace(task_id[0], "f" if task_id[0] != "f" else "e", 1), ""}
    lookalikes.discard(task_id)
    for n, wrong in enumerate(sorted(lookalikes) + [_text(rng, 40) for _ in range(10)]):
        for stage in ("complete", "error"):
            body = _with(_with(valid, "data.task_id", wrong), "data.callbackType", stage)
            if stage == "error":
                body["code"] = 501
            yield Case(f"{stage} for task id {wrong!r} (#{n})", _dumps(body), expect=(400,))
    # The id moved to where the parser also looks, but still another task's.
    yield Case("taskId at the top for another task", _dumps({**_with(valid, "data.task_id", remove=True),
                                                             "taskId": next(iter(other.values()))["data"]["task_id"]}),
               expect=(400,))


def _unknown_tokens(rng: random.Random, valid: dict[str, Any], other_token: str) -> Iterator[Case]:
    body = _dumps(valid)
    tokens = ["A" * 32, "short", "x" * 129, "x" * 5000, other_token[:-1], other_token + "x",
              other_token.upper() if other_token.upper() != other_token else other_token.lower() + "Q",
              "..%2F..%2Fhealthz", "%00" * 20, quote("\u00e9" * 20), "a" * 15, "-" * 16, "_" * 128]
    tokens += ["".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(rng.randint(16, 128)))
               for _ in range(20)]
    for n, token in enumerate(tokens):
        yield Case(f"unknown token #{n} ({token[:20]}…)", body, path=f"/callbacks/{token}", expect=(404,))
    for path in ("/callbacks/", "/callbacks", "/callbacks//", f"/callbacks/{other_token}/extra", "/callback/x" * 3):
        yield Case(f"path {path[:40]}", body, path=path)


def _huge_bodies(rng: random.Random, valid: dict[str, Any]) -> Iterator[Case]:
    padded = copy.deepcopy(valid)
    padded["data"]["data"][0]["prompt"] = "la " * (MAX_BODY // 3 + 1000)  # a real callback, too large
    too_large = (413,)
    yield Case("a complete callback over 256 KiB", _dumps(padded), expect=too_large)
    yield Case("a complete callback over 256 KiB, chunked", _dumps(padded), chunked=True, expect=too_large)
    yield Case("1 MiB of random bytes", rng.randbytes(1024 * 1024), expect=too_large)
    yield Case("1 MiB of random bytes, chunked", rng.randbytes(1024 * 1024), chunked=True, expect=too_large)
    yield Case("a JSON string of 300 KiB", _dumps("x" * 300 * 1024), expect=too_large)
    bomb = gzip.compress(b"[" + b"0," * (2 * 1024 * 1024) + b"0]")
    yield Case("gzip that inflates to 4 MiB", bomb, headers={"Content-Encoding": "gzip"}, expect=too_large)
    yield Case("gzip header with garbage", rng.randbytes(2000), headers={"Content-Encoding": "gzip"})


def _not_json(rng: random.Random, valid: dict[str, Any]) -> Iterator[Case]:
    text = _dumps(valid)
    for n in range(30):
        yield Case(f"random bytes #{n}", rng.randbytes(rng.randint(1, 4096)))
    for n in range(20):
        cut = rng.randint(1, len(text) - 1)
        yield Case(f"valid callback cut at byte {cut}", text[:cut])
    for n in range(10):
        at = rng.randint(0, len(text) - 1)
        yield Case(f"valid callback with invalid UTF-8 at {at}", text[:at] + b"\xff\xfe\xc3" + text[at:])
    yield Case("empty body", b"")
    yield Case("whitespace", b" \n\t ")
    yield Case("UTF-16 encoded", json.dumps(valid).encode("utf-16"))
    yield Case("UTF-8 BOM before a valid callback", b"\xef\xbb\xbf" + text)
    yield Case("NaN", b"NaN")
    yield Case("a number with 5000 digits", b"1" * 5000)
    yield Case("code with 5000 digits", text.replace(b'"code": 200', b'"code": ' + b"9" * 5000, 1))
    yield Case("single quotes", text.replace(b'"', b"'"))
    yield Case("trailing garbage", text + b"}}")
    yield Case("two documents", text + text)
    yield Case("duplicate data key, the last one wrong", text[:-1] + b', "data": 5}')
    yield Case("JSON with comments", b"/* hi */" + text)
    for depth in (1_000, 50_000, 100_000):
        yield Case(f"arrays nested {depth} deep", b"[" * depth + b"]" * depth)
        yield Case(f"objects nested {depth} deep", b'{"data":' * depth + b"1" + b"}" * depth)
    yield Case("data nested 20000 deep in a valid envelope",
               text.replace(b'"data": [', b'"data": ' + b"[" * 20_000 + b"[", 1)[:MAX_BODY - 1])


def _wrong_content_types(rng: random.Random, valid: dict[str, Any]) -> Iterator[Case]:
    malformed = _dumps(_with(valid, "data.task_id", remove=True))
    form = b"code=200&msg=ok&data=" + quote(json.dumps(valid["data"])).encode()
    multipart = (b"--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n" + _dumps(valid["data"])
                 + b"\r\n--XyZ--\r\n")
    bodies = {"malformed JSON": malformed, "form fields": form, "multipart": multipart,
              "xml": b"<callback><code>200</code></callback>", "random bytes": rng.randbytes(512)}
    content_types = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ",
                     "application/xml", "image/png", "application/json; charset=bogus-charset",
                     "application/json; charset=utf-16", "application/json; charset=\u00e9", "*/*", ";;;"]
    for content_type in content_types:
        for name, body in bodies.items():
            yield Case(f"{name} as {content_type}", body, content_type=content_type)


# ----- the test ---------------------------------------------------------------------------------------------


class ServerErrors(AssertionError):
    """Fuzz cases that got a 5xx (or no answer at all) from the callback endpoint."""


async def _send(session: aiohttp.ClientSession, url: str, case: Case) -> int:
    """The HTTP status the bot answered, or 0 if the connection failed without an answer."""
    headers = dict(case.headers)
    skip: list[str] = []
    if case.content_type is None:
        skip.append("Content-Type")
    else:
        headers["Content-Type"] = case.content_type
    data: Any = case.body

    if case.chunked:
        async def stream(body: bytes = case.body) -> AsyncIterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                yield body[start:start + 64 * 1024]

        data = stream()
    try:
        async with session.request(case.method, url, data=data, headers=headers, skip_auto_headers=skip) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError:
        return 0


async def test_fuzzed_callbacks_get_an_answer_and_change_nothing(harness: Harness) -> None:
    h = harness
    _, other_id = await h.generate("the other song")
    other_token = h.kie.submissions[-1].body["callBackUrl"].rsplit("/", 1)[1]
    _, task_id = await h.generate("a cheerful song about rain")
    url = h.kie.submissions[-1].body["callBackUrl"]
    base = url.split("/callbacks/")[0]
    await h.bot.tracker.idle()

    valid = h.kie.callback_body(task_id, "complete")
    other = {stage: h.kie.callback_body(other_id, stage) for stage in ("text", "first", "complete")}
    other["error"] = {"code": 501, "msg": "Audio generation failed",
                      "data": {"callbackType": "error", "task_id": other_id, "data": None}}
    all_cases = list(cases(random.Random(SEED), valid, task_id, other, other_token))
    assert len(all_cases) >= 500

    db = h.bot.settings.database_path
    before = snapshot(db)
    commits = CommitWatch(db)
    discord_calls = len(h.discord.calls)
    crashed: list[str] = []  # 5xx, or no answer
    unexpected: list[str] = []  # a 4xx other than the one this kind of case must get
    changed: list[str] = []  # the database changed
    try:
        async with aiohttp.ClientSession() as session:
            for case in all_cases:
                status = await _send(session, url if case.path is None else base + case.path, case)
                if not 200 <= status < 500:
                    crashed.append(f"{case.name}: {status or 'no answer'}")
                elif case.expect and status not in case.expect:
                    unexpected.append(f"{case.name}: {status}, expected {' or '.join(map(str, case.expect))}")
                if commits.committed():
                    changed.append(case.name)
    finally:
        commits.close()
    await h.bot.tracker.idle()

    # Nothing changed: the database is identical (tasks, tracks, ledger, all of it) and Discord saw nothing.
    assert not changed, f"{len(changed)} cases changed the database (seed {SEED}):\n" + "\n".join(changed)
    assert snapshot(db) == before
    assert len(h.discord.calls) == discord_calls, h.discord.describe_calls()
    assert not unexpected, f"{len(unexpected)} cases got the wrong refusal (seed {SEED}):\n" + "\n".join(unexpected)

    # The real callback still works afterwards, and the other task was not touched.
    assert (await h.kie.advance(task_id, "complete")).status == 200
    tracks = await h.wait_for_tracks(2)
    assert [t["embeds"][0]["title"] for t in tracks] == [t.title for t in h.kie.task(task_id).tracks]
    assert (await h.bot.store.count_by_state()) == {"queued": 1, "succeeded": 1}

    if crashed:
        raise ServerErrors(f"{len(crashed)} of {len(all_cases)} cases got no 2xx/4xx answer (seed {SEED}):\n"
                           + "\n".join(crashed))


async def test_a_real_callback_with_half_an_emoji_in_a_title_still_posts_the_song(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate()
    h.kie.task(task_id).tracks[0].title = "Rain \ud83c on the roof"  # json.dumps writes it as "\ud83c"
    assert (await h.kie.advance(task_id, "complete")).status == 200
    tracks = await h.wait_for_tracks(2)
    title = tracks[0]["embeds"][0]["title"]
    assert title.startswith("Rain ") and title.endswith(" on the roof")
    assert (await h.bot.store.count_by_state()) == {"succeeded": 1}
