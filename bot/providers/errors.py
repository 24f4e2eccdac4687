"""Typed provider errors, each carrying a message a member can act on."""

from __future__ import annotations

from dataclasses import dataclass


class InputError(Exception):
    """The member's input breaks a documented limit; caught before any request is made."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


class ProviderError(Exception):
    """The provider refused a request or a task failed.

    ``code`` is the provider's status code (body ``code`` or HTTP status), ``detail`` the provider's own
    ``msg`` (for logs), ``user_message`` what to tell the member.
    """

    default_message = "Suno could not make this song. Try again in a moment."

    def __init__(self, code: int | None, detail: str | None = None, user_message: str | None = None) -> None:
        self.code = code
        self.detail = (detail or "").strip()
        self.user_message = user_message or self.default_message
        super().__init__(f"[{code}] {self.detail or self.user_message}")


class ProviderAuthError(ProviderError):
    default_message = (
        "The bot's Suno API key was refused. A server admin needs to check SUNO_API_KEY; nothing was charged."
    )


class InsufficientCredits(ProviderError):
    default_message = (
        "The bot's Suno account is out of credits. Ask a server admin to top it up, then try again."
    )


class RateLimited(ProviderError):
    default_message = "Suno is handling too many requests from this bot right now. Try again in a minute."


class Busy(ProviderError):
    """The provider's limit on running tasks is reached: the request was not taken; send it again later."""

    default_message = (
        "Suno is busy with this bot's other songs right now. Try again in a few minutes; nothing was charged."
    )


class Maintenance(ProviderError):
    default_message = "Suno is down for maintenance. Try again later."


class ProviderUnavailable(ProviderError):
    default_message = "Suno had a server error. Try again in a moment."


class Unconfirmed(ProviderUnavailable):
    """The request was sent but its answer was lost or unreadable (a timeout, a dropped connection, a proxy's
    error page): the provider may have taken it, so it must never be sent again blindly."""

    default_message = "Suno didn't answer in time, so it is not known whether it started this. Try again later."


class InvalidRequest(ProviderError):
    default_message = "Suno rejected the request. Check the prompt, style and title, then try again."


class ContentRejected(ProviderError):
    default_message = "Suno's content filter flagged the request. Rephrase it and try again."


class NotFound(ProviderError):
    default_message = "Suno no longer has this task or track (files are kept for 14 days)."


class Conflict(ProviderError):
    default_message = "Suno says this was already done."


class GenerationFailed(ProviderError):
    default_message = "Suno could not generate the audio. Try again, perhaps with a different prompt."


class TaskTimedOut(ProviderError):
    default_message = "Suno took more than 30 minutes, so the bot gave up on this song. Try again."


ARTIST_MESSAGE = (
    "Suno doesn't allow artist or band names. Describe the sound instead "
    "(for example \u201cmoody 80s synth-pop with breathy vocals\u201d) and try again."
)
MODERATION_MESSAGE = "Suno's content filter flagged the request. Rephrase it and try again."
COPYRIGHT_MESSAGE = "Suno found copyrighted lyrics. Use your own words and try again."

Codes = dict[int, tuple[type[ProviderError], str | None]]

# kie.ai submit-time body codes (contract §5.1) → error class and, where the class default is not specific
# enough, the member's message.
_KIE_SUBMIT: Codes = {
    400: (InvalidRequest, None),
    401: (ProviderAuthError, None),
    402: (InsufficientCredits, None),
    404: (NotFound, None),
    405: (RateLimited, None),
    409: (Conflict, None),
    413: (InvalidRequest, "The prompt or theme is too long for Suno. Shorten it and try again."),
    422: (InvalidRequest, None),
    429: (RateLimited, None),
    430: (RateLimited, None),
    451: (InvalidRequest, "Suno could not download the audio or image it was given. Make sure the file is public."),
    455: (Maintenance, None),
    500: (ProviderUnavailable, None),
    501: (GenerationFailed, None),
    505: (InvalidRequest, "This Suno feature is currently disabled by the provider."),
}

# Callback / task-failure codes (contract §3.1), shared by kie.ai and sunoapi.org.
_KIE_FAILURE: Codes = {
    400: (ContentRejected, COPYRIGHT_MESSAGE),
    408: (ProviderUnavailable, "Suno timed out while making this song. Try again."),
    413: (ContentRejected, "The uploaded audio matches an existing work. Use original audio and try again."),
    500: (ProviderUnavailable, None),
    501: (GenerationFailed, None),
    531: (GenerationFailed, "Suno's generation failed on its side (the provider refunded it). Try again."),
}

# sunoapi.org (contract §7): 429 means out of credits there; 405 and 430 are its rate limits.
_SUNOAPI_SUBMIT: Codes = {**_KIE_SUBMIT, 429: (InsufficientCredits, None)}

# CQTAI (contract §8): 402 credits, 429 too many running tasks (wait, then submit again), 451 artist names or
# moderation (the msg says which), 500 failed or timed out.
_CQT_SUBMIT: Codes = {
    400: (InvalidRequest, None),
    401: (ProviderAuthError, None),
    402: (InsufficientCredits, None),
    404: (NotFound, None),
    429: (Busy, None),
    451: (ContentRejected, MODERATION_MESSAGE),
    500: (ProviderUnavailable, None),
}
_CQT_FAILURE: Codes = {
    451: (ContentRejected, MODERATION_MESSAGE),
    500: (GenerationFailed, None),
}


@dataclass(frozen=True)
class ErrorTable:
    """One provider's meaning of its codes: at submit time, and in a failed task's report."""

    submit: Codes
    failure: Codes

    def error(self, code: int | None, detail: str | None, *, failure: bool = False) -> ProviderError:
        """Build the typed error for a provider code; ``failure`` selects the task-failure table.

        The provider's ``msg`` decides when it names a known cause (artist names, moderation, credits),
        since some codes are ambiguous across endpoints (e.g. kie's lyrics endpoint uses 429 for credits).
        """
        text = (detail or "").lower()
        if "artist" in text:
            return ContentRejected(code, detail, ARTIST_MESSAGE)
        if any(word in text for word in ("moderation", "sensitive", "flagged", "inappropriate")):
            return ContentRejected(code, detail, MODERATION_MESSAGE)
        if "copyright" in text:
            return ContentRejected(code, detail, COPYRIGHT_MESSAGE)
        if "insufficient" in text and "credit" in text:
            return InsufficientCredits(code, detail)
        table = self.failure if failure else self.submit
        if code in table:
            cls, message = table[code]
            return cls(code, detail, message)
        if failure:
            return GenerationFailed(code, detail)
        if code is not None and code >= 500:
            return ProviderUnavailable(code, detail)
        return InvalidRequest(code, detail)


KIE_ERRORS = ErrorTable(_KIE_SUBMIT, _KIE_FAILURE)
SUNOAPI_ERRORS = ErrorTable(_SUNOAPI_SUBMIT, _KIE_FAILURE)
CQT_ERRORS = ErrorTable(_CQT_SUBMIT, _CQT_FAILURE)


def error_for_code(code: int | None, detail: str | None, *, failure: bool = False) -> ProviderError:
    """kie.ai's reading of a code (the default for reports that carry no provider's explanation)."""
    return KIE_ERRORS.error(code, detail, failure=failure)
