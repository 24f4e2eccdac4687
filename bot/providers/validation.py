"""Checking a request against what a provider offers and its documented limits (contract §1.1, §2.1, §2.2,
§7, §8), before any request is made. Every refusal says what to change."""

from __future__ import annotations

from bot.models import (
    SOUND_KEYS,
    AddInstrumentalRequest,
    AddVocalsRequest,
    CoverRequest,
    ExportRequest,
    ExtendRequest,
    LyricsRequest,
    MashupRequest,
    MusicRequest,
    ReplaceRequest,
    Request,
    SoundRequest,
    StemsRequest,
)
from bot.providers.base import (
    Capabilities,
    TextLimits,
    check_model,
    check_source,
    unsupported,
)
from bot.providers.errors import InputError


def validate_request(request: Request, capabilities: Capabilities) -> None:
    """Raise InputError (or Unsupported) if ``request`` is not something the provider can take."""
    if not capabilities.offers(request.kind):
        raise unsupported(capabilities, request.kind)
    check_source(capabilities, request)
    _check_persona(request, capabilities)
    limits = capabilities.limits
    if isinstance(request, (MusicRequest, ExtendRequest, CoverRequest, *STUDIO_REQUESTS)):
        check_model(capabilities, request.model)
    if isinstance(request, STUDIO_REQUESTS):
        _validate_studio(request, limits)
    if isinstance(request, MusicRequest):
        _validate_music(request, limits)
    elif isinstance(request, ExtendRequest):
        _validate_extend(request, limits)
    elif isinstance(request, CoverRequest):
        _validate_cover(request, limits)
    elif isinstance(request, LyricsRequest):
        if not request.prompt.strip():
            raise InputError("Say what the lyrics should be about, for example \u201ca rainy Monday in Paris\u201d.")
        check_length("The lyrics idea", request.prompt.strip(), limits.lyrics_prompt)
    elif isinstance(request, StemsRequest):
        if request.mode not in capabilities.stem_modes:
            raise InputError("Choose vocals (vocals + instrumental) or all (every instrument).")
    elif isinstance(request, ExportRequest):
        check_length("The author name", request.author, limits.video_author)
    elif isinstance(request, SoundRequest):
        _validate_sound(request)


def _check_persona(request: Request, capabilities: Capabilities) -> None:
    """A persona sings only in custom mode (kie.ai's generate page), and only on the provider that made it."""
    persona = getattr(request, "persona", None)
    if persona is None:
        return
    if persona.provider and persona.provider != capabilities.name:
        raise InputError(f"The persona \u201c{persona.name}\u201d was made with another Suno provider, which this "
                         f"bot no longer uses; make a new one with /persona create.")
    custom = getattr(request, "custom_mode", None)
    if custom is False or (isinstance(request, ExtendRequest) and not request.default_params):
        raise InputError("A persona sings your own lyrics: use it with /compose, with a cover with lyrics, or an "
                         "extension with new lyrics.")


STUDIO_REQUESTS = (AddVocalsRequest, AddInstrumentalRequest, MashupRequest, ReplaceRequest)
VOICE_MODELS = ("V4_5PLUS", "V5")  # add-vocals and add-instrumental (contract §2 rows 5, 6)
SECTION = (6.0, 60.0)  # replace-section: the section's length in seconds, at most half the track (§2.5)


def _validate_studio(request: Request, limits: TextLimits) -> None:
    if isinstance(request, (AddVocalsRequest, AddInstrumentalRequest)) and request.model not in VOICE_MODELS:
        raise InputError("Suno adds vocals and instrumentals only with the V4.5+ or V5 model.")
    if isinstance(request, AddVocalsRequest):
        _check_custom(request.title, request.style, request.prompt, False, request.model, limits,
                      "Write the lyrics the vocals should sing.")
    elif isinstance(request, AddInstrumentalRequest):
        _require_title_and_style(request.title, request.style, request.model, limits)
    elif isinstance(request, MashupRequest):
        if len(request.upload_urls) != 2:
            raise InputError("A mashup blends exactly two tracks.")
        _check_idea(request.prompt, "The mashup's description", limits, "Describe how the mashup should sound.")
    elif isinstance(request, ReplaceRequest):
        _validate_section(request, limits)


def _validate_section(request: ReplaceRequest, limits: TextLimits) -> None:
    start, end, length = request.start, request.end, request.source_duration
    if start < 0 or end <= start:
        raise InputError(f"The section must end after it starts (you gave {start:g} to {end:g} s).")
    if length is not None and end > length:
        raise InputError(f"The track is {length:.0f} s long: the section must end by then (you gave {end:g} s).")
    low, high = SECTION
    if not low <= end - start <= high:
        raise InputError(f"Suno replaces sections of {low:g} to {high:g} seconds; yours is {end - start:g} s.")
    if length is not None and end - start > length / 2:
        raise InputError(f"Suno replaces at most half a track: at most {length / 2:.0f} s of this one "
                         f"(yours is {end - start:g} s).")
    _check_custom(request.title, request.style, request.prompt, False, request.model, limits,
                  "Write the new lyrics for the section.")


SOUND_PROMPT = 500  # kie.ai's and sunoapi.org's "Generate Sounds" pages
SOUND_TEMPO = (1, 300)


def _validate_sound(request: SoundRequest) -> None:
    if not request.prompt.strip():
        raise InputError("Describe the sound, for example \u201crain on a tin roof\u201d or \u201ca punchy "
                         "808 drum loop\u201d.")
    check_length("The sound's description", request.prompt.strip(), SOUND_PROMPT)
    low, high = SOUND_TEMPO
    if request.bpm is not None and not low <= request.bpm <= high:
        raise InputError(f"The tempo goes from {low} to {high} BPM (you gave {request.bpm}); leave it out to let "
                         f"Suno choose.")
    if request.key not in SOUND_KEYS:
        raise InputError(f"The key must be one of {', '.join(SOUND_KEYS)}.")


def _validate_music(request: MusicRequest, limits: TextLimits) -> None:
    for name, value in (("Style weight", request.style_weight), ("Weirdness", request.weirdness),
                        ("Audio weight", request.audio_weight)):
        if value is not None and not 0 <= value <= 1:
            raise InputError(f"{name} goes from 0 to 1 (you gave {value:g}).")
    if request.vocal_gender not in (None, "m", "f"):
        raise InputError("Vocal gender must be male or female.")
    if not request.custom_mode:
        _check_idea(request.prompt, "Your idea", limits,
                    "Describe the song you want, for example \u201ca cheerful ukulele song about Mondays\u201d.")
        return
    _check_custom(request.title, request.style, request.prompt, request.instrumental, request.model, limits,
                  "Write the lyrics, or choose instrumental if the song should have no vocals.")


def _validate_extend(request: ExtendRequest, limits: TextLimits) -> None:
    if request.continue_at is not None:
        if request.continue_at <= 0:
            raise InputError("continue_at is in seconds and must be more than 0.")
        if request.source_duration is not None and request.continue_at >= request.source_duration:
            raise InputError(
                f"continue_at must be less than the track's length ({request.source_duration:.0f} s); "
                f"you gave {request.continue_at:g}."
            )
    if request.upload_url and request.continue_at is None:
        raise InputError("Say where to continue the upload from: continue_at, in seconds (e.g. 60).")
    needs_lyrics = request.default_params or bool(request.upload_url)
    if needs_lyrics and not request.instrumental and not request.prompt.strip():
        raise InputError(
            "Give lyrics for the new part (write [Instrumental] for none): Suno needs them when the start "
            "point, style or title changes, and for uploads."
        )
    if request.prompt:
        check_length(f"The lyrics (model {request.model})", request.prompt, limits.lyrics_for(request.model))
    if request.default_params:
        _require_title_and_style(request.title, request.style, request.model, limits)
        if request.continue_at is None:
            raise InputError("Say where to continue from: continue_at, in seconds.")


def _validate_cover(request: CoverRequest, limits: TextLimits) -> None:
    if not request.custom_mode:
        _check_idea(request.prompt, "The style description", limits,
                    "Describe the new style, for example \u201cacoustic bossa nova, soft male vocals\u201d.")
        return
    _check_custom(request.title, request.style, request.prompt, request.instrumental, request.model, limits,
                  "Give the lyrics to sing, or choose instrumental.")


def _check_idea(prompt: str, what: str, limits: TextLimits, missing: str) -> None:
    """Simple mode: a description within the provider's limit."""
    if not prompt.strip():
        raise InputError(missing)
    check_length(what, prompt.strip(), limits.idea)


def _check_custom(
    title: str, style: str, lyrics: str, instrumental: bool, model: str, limits: TextLimits, missing: str
) -> None:
    """Custom mode: title and style, and lyrics unless instrumental, within the model's limits."""
    _require_title_and_style(title, style, model, limits)
    if not instrumental:
        if not lyrics.strip():
            raise InputError(missing)
        check_length(f"The lyrics (model {model})", lyrics, limits.lyrics_for(model))


def _require_title_and_style(title: str, style: str, model: str, limits: TextLimits) -> None:
    if not title.strip():
        raise InputError("Give the song a title.")
    check_length("The title", title, limits.title)
    if not style.strip():
        raise InputError("Describe the style, for example \u201cdreamy lo-fi hip hop, soft female vocals\u201d.")
    check_length(f"The style (model {model})", style, limits.style_for(model))


def check_length(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise InputError(
            f"{what} is {len(text)} characters; Suno takes at most {limit}. "
            f"Shorten it by {len(text) - limit} and try again."
        )
