"""A stuck test fails with what it was waiting for, instead of hanging the run.

pytest-timeout (``timeout`` in pyproject.toml) fails a test that runs too long and prints the stacks of its
threads. For these tests that is not enough: a stuck test's main thread only shows the event loop waiting
in ``select``. This plugin takes over pytest-timeout's signal method to print, first, every asyncio task of
the running loop with the line it is suspended at, and then lets pytest-timeout fail the test as usual.
"""

from __future__ import annotations

import asyncio
import io
import signal
import threading
from typing import Any

import pytest
import pytest_timeout


def _tasks(loop: asyncio.AbstractEventLoop) -> str:
    out = io.StringIO()
    for task in sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name()):
        out.write(f"\n{task!r}\n")
        task.print_stack(limit=12, file=out)
    return out.getvalue()


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # optional: -p no:timeout turns pytest-timeout off
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None  # pytest-timeout's own thread method

    def on_timeout(signum: int, frame: Any) -> None:
        __tracebackhide__ = True
        loop = asyncio._get_running_loop()
        if loop is not None:
            terminal = item.config.get_terminal_writer()
            terminal.sep("+", title=f"asyncio tasks of {item.nodeid} when it timed out")
            terminal.write(_tasks(loop))
        pytest_timeout.timeout_sigalrm(item, settings)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # what pytest-timeout's teardown calls
    signal.signal(signal.SIGALRM, on_timeout)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True
