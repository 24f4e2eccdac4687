"""Chorus: Suno music generation for Discord servers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.settings import Settings, SettingsError, load_dotenv_file

if TYPE_CHECKING:
    from bot.core import ChorusBot

__all__ = ["Settings", "SettingsError", "create_bot"]


def create_bot(settings: Settings | None = None, *, clock: Callable[[], float] = time.time) -> ChorusBot:
    """The configured bot. Without ``settings`` they are read from the environment (and a local .env).

    Raises SettingsError naming the first missing or malformed variable.
    """
    from bot.core import ChorusBot

    if settings is None:
        load_dotenv_file()
        settings = Settings.from_env()
    return ChorusBot(settings, clock=clock)
