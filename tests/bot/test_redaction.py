"""The net under every log line and stored error: known secrets and anything shaped like a credential or a
callback path become ***."""

from __future__ import annotations

import io
import logging

from bot.redaction import Redactor, install_log_filter

KEY = "sk-provider-key-123456"


def test_secrets_credentials_and_callback_paths_are_hidden() -> None:
    redact = Redactor([KEY, None, "abc"])  # missing and too-short values are ignored
    text = (f"key {KEY}; POST https://bot.example/callbacks/Zx9_-abcdefgh12345 failed; "
            "headers={'Authorization': 'Bearer tok.en-12345678'}; Authorization: Bot "
            "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnop")
    cleaned = redact(text)
    assert KEY not in cleaned and "Zx9_-abcdefgh12345" not in cleaned and "tok.en-12345678" not in cleaned
    assert "MTIzNDU2" not in cleaned and "/callbacks/***" in cleaned
    assert redact("the bot restarted; abc stays") == "the bot restarted; abc stays"


def test_the_log_filter_redacts_arguments_and_tracebacks() -> None:
    logger = logging.getLogger("chorus-test-redaction")
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        install_log_filter(Redactor([KEY]), logger)
        logger.warning("calling with %s", KEY)
        try:
            raise RuntimeError(f"request failed: Authorization: Bearer {KEY}")
        except RuntimeError:
            logger.exception("provider call failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert KEY not in written and "calling with ***" in written and "RuntimeError: request failed" in written
