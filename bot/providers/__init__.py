"""Suno API providers. :func:`open_provider` builds the adapter SUNO_PROVIDER names."""

from __future__ import annotations

from dataclasses import replace

from bot.providers.base import LABELS, Capabilities, Provider
from bot.providers.cqt import CQT, CqtClient
from bot.providers.http import ApiClient
from bot.providers.kie import KIE, KieClient
from bot.providers.sunoapi import SUNOAPI, SunoApiClient

# The built-in sandbox speaks kie.ai's protocol (bot/sandbox), unsigned.
SANDBOX: Capabilities = replace(KIE, name="sandbox", label=LABELS["sandbox"], signs_callbacks=False)

ADAPTERS: dict[str, tuple[type[ApiClient], Capabilities]] = {
    "kie": (KieClient, KIE),
    "sunoapi": (SunoApiClient, SUNOAPI),
    "cqt": (CqtClient, CQT),
    "sandbox": (KieClient, SANDBOX),
}

__all__ = ["ADAPTERS", "SANDBOX", "Capabilities", "Provider", "open_provider"]


def open_provider(name: str, *, api_key: str, base_url: str) -> ApiClient:
    """The adapter for provider ``name`` (a SUNO_PROVIDER value), talking to ``base_url``."""
    cls, capabilities = ADAPTERS[name]
    return cls(api_key=api_key, base_url=base_url, capabilities=capabilities)
