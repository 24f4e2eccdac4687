"""Provider callbacks (POST /callbacks/<token>), served by the bot's web server (bot/web.py).

Each task gets an unguessable callback path. A callback is a wake-up, not the truth: kie.ai signs only the task
id and a timestamp, sunoapi.org nothing, so whoever saw one callback could send another body. An intermediate
stage is stored before it is answered (it moves the status message's checklist, nothing more); a finished
task, a failure, or a task whose provider id is not known yet is answered at once and confirmed in the
background from the provider's own record (bot/tracker.py), well inside the provider's 15 s budget.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from bot.metrics import Metrics
from bot.models import TaskKind, TaskUpdate
from bot.providers.kie_parsing import MalformedCallback
from bot.store import CallbackTarget, Store
from bot.tracker import Tracker

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 256 * 1024
SIGNATURE_WINDOW = 300  # seconds either side (contract §5.5 leaves it to us)
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")


class CallbackParser(Protocol):
    def parse_callback(self, kind: TaskKind, body: Any) -> TaskUpdate: ...


def signature(key: str, task_id: str, timestamp: str) -> str:
    """kie's webhook signature: base64(HMAC-SHA256(key, f"{task_id}.{timestamp}")) (contract §5.5)."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class CallbackEndpoint:
    """Verifies and applies provider callbacks. Attach the provider and tracker once they exist."""

    def __init__(self, store: Store, *, hmac_key: str | None, clock: Callable[[], float] = time.time,
                 metrics: Metrics | None = None) -> None:
        self._store = store
        self._metrics = metrics or Metrics()
        self._hmac_key = hmac_key
        self._clock = clock
        self._parser: CallbackParser | None = None
        self._tracker: Tracker | None = None

    def attach(self, parser: CallbackParser, tracker: Tracker) -> None:
        self._parser = parser
        self._tracker = tracker

    async def handle(self, request: web.Request) -> web.Response:
        response = await self._handle(request)
        self._metrics.callbacks.labels(status=str(response.status)).inc()
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        if self._parser is None or self._tracker is None:
            return _json({"error": "starting up"}, status=503)
        token = request.match_info["token"]
        if not TOKEN_PATTERN.fullmatch(token):
            return _json({"error": "unknown callback"}, status=404)
        task = await self._store.callback_target(token)
        if task is None:
            return _json({"error": "unknown callback"}, status=404)
        try:
            # JSON on the wire is UTF-8 (RFC 8259): a declared charset, even a bogus one, is not trusted.
            # Too large: aiohttp answers 413.
            body = json.loads((await request.read()).decode("utf-8"))
        except (ValueError, RecursionError):
            log.warning("task %s: callback body is not JSON", task.id)
            return _json({"error": "body is not JSON"}, status=400)
        except RequestPayloadError:  # e.g. a Content-Encoding it does not have: the stream is unusable
            log.warning("task %s: callback body could not be read", task.id)
            response = _json({"error": "body could not be read"}, status=400)
            response.force_close()
            return response
        try:
            update = self._parser.parse_callback(task.kind, body)
        except MalformedCallback as error:
            log.warning("task %s: malformed callback: %s", task.id, error)
            return _json({"error": f"malformed callback: {error}"}, status=400)
        if self._hmac_key is not None and not self._signed(request, update.task_id):
            log.warning("task %s: callback with a missing or bad signature", task.id)
            return _json({"error": "bad signature"}, status=401)
        if task.provider_task_id is not None and update.task_id != task.provider_task_id:
            log.warning("task %s: callback names another task id", task.id)
            return _json({"error": "task id does not match"}, status=400)
        if task.state.terminal or (task.provider_task_id is not None and update.state.rank <= task.state.rank):
            return _received()  # a repeat (providers retry) or a stage already passed: nothing to write
        self._tracker.heard()  # a rush of callbacks that do work: Discord work (and confirmations) can wait a moment
        if task.provider_task_id is None or update.state.terminal:
            # What is posted, and any failure and refund, come from the provider's own record, read once per task.
            self._tracker.spawn(self._confirm(task, token, update.task_id, update.state.terminal))
            return _received()
        # An intermediate stage moves the status message's checklist, nothing more: its links are not kept.
        await self._tracker.update(task.id, TaskUpdate(update.task_id, update.state), called_back=True)
        task.state = max(task.state, update.state, key=lambda state: state.rank)
        return _received()

    async def _confirm(self, target: CallbackTarget, token: str, provider_task_id: str, finished: bool) -> None:
        """Have the tracker confirm the callback from the provider's record, then remember how far the task got
        (so the callbacks that repeat it are answered from memory)."""
        assert self._tracker is not None
        adopting = target.provider_task_id is None
        try:
            task = await self._tracker.confirm(target.id, provider_task_id, token=token if adopting else None,
                                               finished=finished)
        except Exception:
            log.exception("task %s: confirming a callback failed; polling will catch up", target.id)
            return
        if task is not None:
            target.state = max(target.state, task.state, key=lambda state: state.rank)
            target.provider_task_id = task.provider_task_id

    def _signed(self, request: web.Request, task_id: str) -> bool:
        assert self._hmac_key is not None
        timestamp = request.headers.get("X-Webhook-Timestamp", "")
        given = request.headers.get("X-Webhook-Signature", "")
        if not timestamp.isdigit() or not given:
            return False
        if abs(self._clock() - int(timestamp)) > SIGNATURE_WINDOW:
            return False
        return hmac.compare_digest(signature(self._hmac_key, task_id, timestamp), given)


RECEIVED = json.dumps({"status": "received"}).encode()


def _received() -> web.Response:
    """The answer to every callback taken (encoded once: it is the hot path)."""
    return web.Response(body=RECEIVED, content_type="application/json")


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)
