"""The sunoapi.org adapter (contract §7): kie.ai's paths and payloads with its own credit endpoint, error codes
and limits. Its callbacks are unsigned; lyrics under ``lyricsData`` and separations under
``vocal_removal_info`` are read by the shared parser."""

from __future__ import annotations

from dataclasses import replace

from bot.providers.base import LABELS, Capabilities
from bot.providers.errors import SUNOAPI_ERRORS
from bot.providers.kie import KIE, KIE_LIMITS, KieClient

# §7: a simple-mode description is at most 400 characters there (kie: 500).
SUNOAPI_LIMITS = replace(KIE_LIMITS, idea=400)
SUNOAPI: Capabilities = replace(KIE, name="sunoapi", label=LABELS["sunoapi"], limits=SUNOAPI_LIMITS,
                                signs_callbacks=False)


class SunoApiClient(KieClient):
    capabilities = SUNOAPI
    errors = SUNOAPI_ERRORS
    credit_path = "/api/v1/generate/credit"
