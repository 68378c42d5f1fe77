"""EventBridge's part on the dev server: each rate schedule of the template run as often as deployed.

`Every` runs a job in a background thread once per interval, the first time one interval after it
starts (as a new rate rule does). A failing run is logged and the next one still comes. `stop()`
ends the wait at once; a run in progress finishes first, so the server shuts down with nothing half
written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Every:
    def __init__(self, name: str, interval_s: float, job: Callable[[], object]) -> None:
        self.name = name
        self.interval_s = interval_s
        self._job = job
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule:{name}", daemon=True)
        self.runs = 0

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("schedule %s: a run still going after %.0f s at shutdown", self.name, timeout_s)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self._job()
            except Exception:
                logger.exception("schedule %s failed; it runs again in %.0f s", self.name, self.interval_s)
            self.runs += 1
