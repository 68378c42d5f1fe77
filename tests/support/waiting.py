"""Waiting for something another thread, process or server does, without betting on how long it takes.

A test polls for the condition it needs and gives up only after `PATIENCE_S`: far longer than anything
takes on an idle machine, so a busy one (a loaded CI runner, two xdist workers on two cores) only makes
the test slower, never red. Nothing here measures time; code whose behaviour depends on time takes a
clock, and its tests move a `FakeClock`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

PATIENCE_S = 60.0
PATIENCE_MS = PATIENCE_S * 1000  # for Playwright's `timeout=` arguments
_POLL_S = 0.02


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = PATIENCE_S) -> None:
    """Return once `condition()` holds; fail the test, saying `what` never happened, after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(_POLL_S)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = PATIENCE_S) -> None:
    """`wait_until` for an async condition, without blocking the event loop."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(_POLL_S)
