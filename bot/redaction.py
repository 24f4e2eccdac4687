"""Secrets never leave the process: not in a Discord message, a log line, an error stored in the database or a
health answer. Errors are described, never ``repr``'d (:func:`describe`), and URLs are not logged. Text from a
provider (the only outside text stored with a task) is cleaned where it enters, by the provider client's
:class:`Redactor`; under everything, ``python -m bot`` passes every log line through one too."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import aiohttp

HIDDEN = "***"
MIN_SECRET = 6  # shorter values are not treated as secrets (they would redact ordinary words)
_PATTERNS = (
    # A task's callback path is a per-task secret (whoever knows it can call back for that task).
    (re.compile(r"/callbacks/[A-Za-z0-9_-]{8,}"), "/callbacks/" + HIDDEN),
    # Credentials in headers, however an error message came to quote them.
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + HIDDEN),
    (re.compile(r"\b(Bot)\s+[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_.-]{8,}"), r"\1 " + HIDDEN),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\s][^'\",}\n]*"), r"\1" + HIDDEN),
    (re.compile(r"(?i)(x-webhook-signature['\"]?\s*[:=]\s*['\"]?)[^'\",}\s]+"), r"\1" + HIDDEN),
)


class Redactor:
    """Replaces known secrets (the Discord token, the provider key, the webhook HMAC key) and anything shaped
    like a credential or a callback path with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, HIDDEN)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)

    def log_filter(self) -> logging.Filter:
        """A filter for log handlers: each record's message (with its arguments and traceback) redacted."""
        return _RedactingFilter(self)


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self._redact(message), None
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
            record.exc_info = None  # the formatter prints exc_text (redacted) instead of formatting it again
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


def install_log_filter(redact: Redactor, logger: logging.Logger | None = None) -> None:
    """Redact every record the handlers of ``logger`` (default: the root logger) write."""
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redact.log_filter())


def describe(error: BaseException) -> str:
    """What went wrong with an HTTP call, for logs and stored reasons: the error's kind and, where aiohttp has
    one, its status and message. Never ``repr`` (aiohttp's carries the request headers, our API key among
    them) nor a URL (a callback URL is a secret)."""
    if isinstance(error, aiohttp.ClientResponseError):
        return f"{type(error).__name__}: HTTP {error.status} {error.message}".strip()
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"{type(error).__name__}: {error.os_error.strerror or type(error.os_error).__name__}"
    return type(error).__name__
