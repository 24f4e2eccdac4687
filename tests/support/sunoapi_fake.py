"""Loopback fake of the sunoapi.org Suno API, for end-to-end tests.

Written only from ``/work/shared/reference/suno-api-contract.md`` (§7 lists sunoapi.org's
differences from kie.ai; §1-§6 describe kie.ai, whose paths and payloads sunoapi.org shares)
and the sunoapi.org quickstart (seed 002), independently of the bot's own provider code.

sunoapi.org is "built on the same backend" as kie.ai (§7), so :class:`FakeSunoApi` is a
flavour of :class:`tests.support.kie_fake.FakeKie`: same paths, submit/record-info/callback
payloads, stages (text / first / complete / error), files, knobs and scripting API
(``advance``, ``fail``, ``resend``, ``fail_next_submit``, ``fail_next_poll``,
``fail_next_task``, ``submissions_of``, ...). What differs (§7, S-* sources):

* Credits: ``GET /api/v1/generate/credit`` -> ``{"code":200,"msg":"success","data":<credits>}``
  [S-CR]. kie's ``/api/v1/chat/credit`` does not exist here.
* Unknown ``/api/*`` path or wrong method: ``{"code":404,"msg":"...","data":null}`` (the S-CR
  table: "404 bad method/path"), HTTP ``not_found_http_status`` (default 200, like every other
  error of the fake).
* Codes are the S-CR table only: 200, 400, 401, 404, 405, 413, 429, 430, 455, 500.

  - 429 = insufficient credits: an accepted request costs ``cost_of(kind, body)`` credits
    (``costs`` table, see ``DEFAULT_COSTS``; the billing itself is FakeKie's); a valid submit that
    costs more than ``credits`` answers 429 and is not accepted (nothing deducted, not counted in
    the rate window). Synchronous endpoints too (style boost reports its cost in
    ``creditsConsumed``; timestamped lyrics are free).
  - 430 "call frequency too high" (``rate_limit_code``; 405 "rate limit exceeded" also
    accepted) when over ``submit_rate_limit`` (20 per 10 s sliding window, every submit kind,
    lyrics included) and over ``poll_rate_limit`` (kie's 3 req/s per task). Never 429 for a
    rate limit, never 402.
  - 413 for any text over its limit (prompt / style / title / lyrics prompt).
  - Validation problems kie answers with 422, and kie's 409 (WAV exists, "Persona already
    exists") / 451 (upload fetch failed, mashup included), answer 400 with kie's message. 404
    stays 404 (unknown task / audioId / personaId). The cover duplicate is 400 + the existing
    ``taskId`` on both.
  - 455 for every ``/api/*`` request while ``maintenance`` is True; 500 (and anything else)
    via ``fail_next_submit(500, ..., http_status=500)`` as on FakeKie.
* Text limits (``SUNOAPI_TEXT_LIMITS``): non-custom prompt 400 [S-GM]; custom prompt / style /
  title per the extend page [S-EXT] - V4 3000/200/80; V4_5, V4_5PLUS, V5 5000/1000/100;
  V4_5ALL 5000/1000/80 - applied to /generate, extend, upload-cover and upload-extend alike
  (for simplicity: the stored generate page is an older V3_5/V4-era page). V3_5 is accepted
  (the quickstart's own examples use it) with 3000/200/80 [S-GM]. V5_5 is rejected
  (3P only, UNCONFIRMED). Lyrics prompt 200, as kie (§7 silent).
* Music record-info: ``response.sunoData[]`` camelCase like kie [S-RI] by default;
  ``record_info_shape = "data"`` gives the quickstart example's ``response.data[]`` with
  snake_case tracks (``audio_url`` ..., the callback's track shape) [S-QS].
* Lyrics record-info: results under ``response.lyricsData[]`` [S-LY].
* Separation callbacks: stems under ``data.vocal_removal_info`` [S-SVC]; record-info the same
  camelCase ``successFlag`` shape as kie [S-VSD].
* Callbacks are never signed: no ``X-Webhook-*`` headers, whatever ``hmac_key`` is set to;
  the constructor takes no ``hmac_key``.
* The later endpoints are FakeKie's (see its module doc: add-instrumental, add-vocals, mashup,
  replace-section, timestamped lyrics, style boost, persona, cover image, MIDI, tuning options),
  under the same paths (§7 lists them for sunoapi.org) with the differences above. UNCONFIRMED
  for sunoapi.org: the cover path ``/api/v1/suno/cover/*`` (§7: a 3P reference) and the MIDI paths
  ``/api/v1/midi/*`` (not in §7's list) - served all the same, as the shared backend would. V3_5
  (accepted here, §7) is too old for a persona (§2.5: above v3.5): 400.
* Sound effects: ``POST /api/v1/generate/sounds`` (docs.sunoapi.org/suno-api/generate-sounds, the same
  backend as kie's page) is FakeKie's kind ``"sounds"`` (see its module doc: ``validate_sounds``, ``Task.sound``
  / ``Submission.sound``), a music-family task polled at ``/api/v1/generate/record-info``, with this table's
  codes: an invalid parameter (missing prompt, model other than V5 / V5_5, soundTempo outside 1-300 or not
  an integer, unknown soundKey, non-boolean soundLoop / grabLyrics, bad callBackUrl) is 400 with kie's
  message; a prompt over 500 characters is 413. The page lists exactly this file's code table. Billed
  as a music kind (``DEFAULT_COSTS``, 12: the price is not documented).

Typical use::

    async with FakeSunoApi() as suno:
        suno.auto_callbacks = False
        ...  # point the bot's client at suno.base_url with suno.api_key
        await suno.advance(task_id, "complete")
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from aiohttp import web

from tests.support.kie_fake import (
    MUSIC_KINDS,
    ApiCall,
    CannedError,
    Delivery,
    FakeKie,
    LyricsVariant,
    ManualClock,
    ModelLimits,
    Persona,
    SoundSettings,
    StyleResult,
    Submission,
    Task,
    TextLimits,
    TooLong,
    Track,
    UploadFetch,
    _envelope,
)

__all__ = [
    "DEFAULT_COSTS",
    "INSUFFICIENT_CREDITS_MSG",
    "MAINTENANCE_MSG",
    "RATE_LIMIT_MSGS",
    "SUNOAPI_CODES",
    "SUNOAPI_TEXT_LIMITS",
    "ApiCall",
    "CannedError",
    "Delivery",
    "FakeSunoApi",
    "LyricsVariant",
    "ManualClock",
    "Persona",
    "SoundSettings",
    "StyleResult",
    "Submission",
    "Task",
    "Track",
    "UploadFetch",
]

# S-CR code table (§7). Anything the fake decides outside it becomes 400.
SUNOAPI_CODES: Final[frozenset[int]] = frozenset({200, 400, 401, 404, 405, 413, 429, 430, 455, 500})

CREDIT_PATH: Final = "/api/v1/generate/credit"
INSUFFICIENT_CREDITS_MSG: Final = "Insufficient credits"
MAINTENANCE_MSG: Final = "The system is under maintenance, please try again later"
NOT_FOUND_MSG: Final = "Not found: check the request method and path"
RATE_LIMIT_MSGS: Final[dict[int, str]] = {
    430: "Call frequency too high",
    405: "Rate limit exceeded",
}
RecordInfoShape = Literal["sunoData", "data"]

# §7 text limits: S-GM (non-custom 400; V3_5-era 3000/200/80) and S-EXT (per model).
_SUNO_MODELS: Final[dict[str, ModelLimits]] = {
    "V3_5": ModelLimits(custom_prompt=3000, style=200),
    "V4": ModelLimits(custom_prompt=3000, style=200),
    "V4_5": ModelLimits(custom_prompt=5000, style=1000),
    "V4_5PLUS": ModelLimits(custom_prompt=5000, style=1000),
    "V4_5ALL": ModelLimits(custom_prompt=5000, style=1000),
    "V5": ModelLimits(custom_prompt=5000, style=1000),
}
_SUNO_TITLES: Final[dict[str, int]] = {"V3_5": 80, "V4": 80, "V4_5": 100, "V4_5PLUS": 100, "V4_5ALL": 80, "V5": 100}
SUNOAPI_TEXT_LIMITS: Final = TextLimits(
    models=_SUNO_MODELS,
    non_custom_prompt=400,
    generate_title=_SUNO_TITLES,  # the extend page's table, applied to /generate too
    extend_title=_SUNO_TITLES,
    lyrics_prompt=200,
)

# Credits per accepted request. Music: "Custo: 12 créditos" per generate (a 3P sunoapi.org
# reference, §6), used for every music kind (add-instrumental, add-vocals, mashup,
# replace-section and sounds included; the sounds price is not documented). Separation: "1 / 5 music-generation credits" [S-SV] read as 1 x 12 and
# 5 x 12. Style boost: 1 (the boost-music-style example's creditsConsumed, a docs mirror). Lyrics /
# WAV / MP4 / cover image / MIDI / persona: not documented; 2 each is invented. Timestamped lyrics
# (a read of an existing result): free, invented.
DEFAULT_COSTS: Final[dict[str, int]] = {
    **{kind: 12 for kind in MUSIC_KINDS},
    "lyrics": 2,
    "separate_vocal": 12,
    "split_stem": 60,
    "wav": 2,
    "mp4": 2,
    "cover_image": 2,
    "midi": 2,
    "persona": 2,
    "style_boost": 1,
    "timestamped_lyrics": 0,
}


class FakeSunoApi(FakeKie):
    """aiohttp server on 127.0.0.1 imitating api.sunoapi.org's Suno endpoints (see module doc)."""

    CREDIT_PATH = CREDIT_PATH
    INSUFFICIENT_CREDITS = (429, INSUFFICIENT_CREDITS_MSG)  # §7: 429 means insufficient credits here

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, hmac_key=None, clock=clock, wall_clock=wall_clock)
        # Inherited knobs with sunoapi.org values.
        self.separation_key = "vocal_removal_info"  # §7 [S-SVC]
        self.lyrics_record_info_key = "lyricsData"  # §7 [S-LY]
        self.text_limits = SUNOAPI_TEXT_LIMITS  # §7 [S-GM, S-EXT]
        # New knobs.
        self.rate_limit_code: int = 430  # 430 "call frequency too high" | 405 "rate limit exceeded"
        self.record_info_shape: RecordInfoShape = "sunoData"
        self.costs = dict(DEFAULT_COSTS)  # inherited knob (FakeKie.costs), with sunoapi.org's prices
        self.maintenance: bool = False  # every /api/* request answers 455
        self.not_found_http_status: int = 200  # HTTP status of the unknown-path 404 envelope

    async def __aenter__(self) -> FakeSunoApi:
        await self.start()
        return self

    # ---------------------------------------------------------------- knobs / helpers

    @property
    def lyrics_rate_limit_code(self) -> int:  # type: ignore[override]
        """Alias of ``rate_limit_code``: sunoapi.org uses one rate-limit answer for every kind."""
        return self.rate_limit_code

    @lyrics_rate_limit_code.setter
    def lyrics_rate_limit_code(self, code: int) -> None:
        self.rate_limit_code = code

    # ---------------------------------------------------------------- no signing, ever

    def sign(self, task_id: str, timestamp: int | str) -> str:
        raise RuntimeError("sunoapi.org callbacks are not signed")

    def signed_headers(self, task_id: str, timestamp: int | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json"}

    # ---------------------------------------------------------------- FakeKie hooks

    def _middlewares(self) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
        @web.middleware
        async def api_errors(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if not request.path.startswith("/api/"):
                return await handler(request)
            if self.maintenance:
                return self._reply(request, _envelope(455, MAINTENANCE_MSG))
            try:
                return await handler(request)
            except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
                return self._reply(request, _envelope(404, NOT_FOUND_MSG), self.not_found_http_status)

        return [api_errors]

    def _reject_code(self, code: int, msg: str) -> int:
        if isinstance(msg, TooLong) or code == 413:
            return 413
        return code if code in SUNOAPI_CODES else 400

    def _rate_limit_envelope(self, kind: str) -> dict[str, Any]:
        code = self.rate_limit_code
        return _envelope(code, RATE_LIMIT_MSGS.get(code, RATE_LIMIT_MSGS[405]))

    def _poll_rate_limit_envelope(self) -> dict[str, Any]:
        code = self.rate_limit_code
        return _envelope(code, RATE_LIMIT_MSGS.get(code, RATE_LIMIT_MSGS[405]))

    def _music_record_info(self, task: Task) -> dict[str, Any]:
        data = super()._music_record_info(task)
        if self.record_info_shape == "sunoData":
            return data
        if self.record_info_shape != "data":
            raise ValueError(f"record_info_shape must be 'sunoData' or 'data' (got {self.record_info_shape!r})")
        stage = task.stage or ""
        tracks = [self._track_snake(task, t, stage) for t in self._visible_tracks(task, stage)]
        data["response"] = {"taskId": task.task_id, "data": tracks}
        return data
