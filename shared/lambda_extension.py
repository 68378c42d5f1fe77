"""Flush a buffered Lambda's perf records after its response has gone, not before.

A function's response is sent as soon as its handler returns, but the sandbox is frozen only once every
registered extension has asked for its next event. An *internal* extension (a thread of this process,
registered with the Extensions API during init) therefore runs between the response and the freeze:
this one writes what the invocation recorded (perf records, balance debits), so no client waits for
DynamoDB. Outside Lambda, or if registration fails, the handler flushes before returning instead.

Standard library only: it is imported on every cold start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

API_VERSION = "2020-01-01"
NAME = "dominus-perf-flush"


class AfterResponseFlush:
    def __init__(self, runtime_api: str, flush: Callable[[float], None], *, name: str = NAME) -> None:
        self._base = f"http://{runtime_api}/{API_VERSION}/extension"
        self._flush = flush
        self._name = name
        self._identifier: str | None = None
        self._invocation_done = threading.Event()

    @classmethod
    def from_environment(cls, flush: Callable[[float], None]) -> AfterResponseFlush | None:
        """Registered and running inside Lambda; None elsewhere (the caller flushes inline)."""
        runtime_api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
        if not runtime_api:
            return None
        extension = cls(runtime_api, flush)
        return extension if extension.start() else None

    def start(self) -> bool:
        """Register (during init only, before the runtime's first `next`) and start the event loop."""
        request = urllib.request.Request(  # noqa: S310  (the Runtime API's own loopback address)
            f"{self._base}/register",
            data=json.dumps({"events": ["INVOKE"]}).encode(),
            headers={"Lambda-Extension-Name": self._name, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as reply:  # noqa: S310
                self._identifier = reply.headers.get("Lambda-Extension-Identifier")
        except OSError as exc:
            logger.warning("after-response flush not registered (%s); flushing inline", type(exc).__name__)
            return False
        if not self._identifier:
            return False
        threading.Thread(target=self._run, name=self._name, daemon=True).start()
        return True

    def invocation_done(self) -> None:
        """The handler is returning its response: the records may be written now."""
        self._invocation_done.set()

    def _next_event(self) -> dict[str, Any]:
        assert self._identifier is not None
        request = urllib.request.Request(  # noqa: S310
            f"{self._base}/event/next", headers={"Lambda-Extension-Identifier": self._identifier}
        )
        with urllib.request.urlopen(request) as reply:  # noqa: S310  (long poll: no timeout by design)
            event: dict[str, Any] = json.loads(reply.read())
            return event

    def _run(self) -> None:
        while True:
            try:
                event = self._next_event()  # returning from here lets the sandbox freeze... after the flush below
            except OSError as exc:
                logger.error("extension event loop stopped: %s", type(exc).__name__)
                return
            if event.get("eventType") != "INVOKE":
                continue
            deadline_s = event.get("deadlineMs", 0) / 1000 - time.time()
            self._invocation_done.wait(max(0.0, min(deadline_s, 900.0)))
            self._invocation_done.clear()
            try:
                self._flush(max(0.5, min(deadline_s, 5.0)))
            except Exception:
                logger.exception("after-response flush failed")
