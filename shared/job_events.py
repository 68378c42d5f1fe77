"""Job-finished events: every geometry, vision, report and packet job that ends (done or failed) is
published once, so the CRM subscribes instead of polling.

Deployed, events go to EventBridge (source `dominus`, detail type `Job Finished`, the detail below) on
the bus the template names; a rule there forwards them to the CRM. Locally they are kept in memory,
the most recent `MemoryEvents.capacity`, and the dev server lists an org's at `GET /dev/events`.

Publishing never fails a job: the job is stored before its event, and an event that cannot be sent
is logged (with the job, never the payload's tags) and dropped. The CRM can always read the job.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shared.jobs import iso_ms

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

logger = logging.getLogger(__name__)

SOURCE = "dominus"
DETAIL_TYPE = "Job Finished"
JobKind = Literal["geometry", "vision", "report", "packet"]


@dataclass(frozen=True)
class JobFinished:
    kind: JobKind
    org_id: str
    job_id: str
    status: Literal["done", "failed"]
    at: datetime
    url: str  # the job's API path, e.g. /v1/vision/<job_id>
    claim_id: str | None = None
    reason: str | None = None  # why a failed job failed

    def detail(self) -> dict[str, Any]:
        return {**asdict(self), "at": iso_ms(self.at)}


class JobEvents(Protocol):
    def publish(self, event: JobFinished) -> None:
        """Send the event; never raises (a lost event is logged, the job stands)."""


class MemoryEvents:
    """The last `capacity` events of this process, newest last (the dev server; unit tests)."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._events: deque[JobFinished] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def publish(self, event: JobFinished) -> None:
        with self._lock:
            self._events.append(event)

    def recent(self, org_id: str, limit: int = 100) -> list[JobFinished]:
        """This org's latest events, newest first."""
        with self._lock:
            mine = [e for e in self._events if e.org_id == org_id]
        return mine[::-1][:limit]


class EventBridgeEvents:
    """PutEvents on one bus, one entry per event."""

    def __init__(self, client: EventBridgeClient | Callable[[], EventBridgeClient], bus: str) -> None:
        self._client = client if callable(client) else (lambda: client)
        self.bus = bus

    def publish(self, event: JobFinished) -> None:
        entry: PutEventsRequestEntryTypeDef = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(event.detail(), separators=(",", ":")),
            "EventBusName": self.bus,
        }
        try:
            failed = self._client().put_events(Entries=[entry]).get("FailedEntryCount", 0)
        except Exception:
            logger.warning("%s job %s: its finished event could not be sent", event.kind, event.job_id, exc_info=True)
            return
        if failed:
            logger.warning("%s job %s: EventBridge refused its finished event", event.kind, event.job_id)


def event_bridge_client() -> EventBridgeClient:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("events", config=config)
