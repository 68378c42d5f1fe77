"""One performance record per AI call, settled off the request path.

`PerfRecorder.record` only enqueues; a worker thread first runs the call's charge (the balance debit,
a DynamoDB conditional update that need not delay the answer), then batches the records into the
sinks (DynamoDB) and observers (structured log, EMF metrics). Nothing here can raise into a request:
a failing charge or sink is logged and counted. A Lambda handler calls `flush()` before it returns,
so a frozen sandbox loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from shared.modes import Mode
from shared.outcomes import CacheOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

Status = Literal["ok", "error", "cancelled"]

# The perf table's keys, written by DynamoPerfSink and read back by the metrics function: pk `org_id`,
# sk `<timestamp>#<request id>` (so a time range is an sk range); GSI `by_function` on
# `org_function` (`<org>#<function>`, sk) and GSI `by_hour` on `hour` (`YYYY-MM-DDTHH`, sk).
FUNCTION_INDEX, FUNCTION_KEY = "by_function", "org_function"
HOUR_INDEX, HOUR_KEY = "by_hour", "hour"


def _utc(moment: datetime) -> datetime:
    """A naive time is UTC (as every record's timestamp is)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def perf_timestamp(moment: datetime) -> str:
    """The table's timestamp form: UTC, milliseconds, Z; sort keys start with it."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sort_key(moment: datetime, request_id: str) -> str:
    return f"{perf_timestamp(moment)}#{request_id}"


def sort_key_timestamp(sk: str) -> str:
    """The timestamp a sort key starts with."""
    return sk.split("#", 1)[0]


def hour_key(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H")


def org_function_key(org_id: str, function: str) -> str:
    return f"{org_id}#{function}"


class PerfRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    org_id: str
    request_id: str
    function: str
    operation: str
    model: str
    mode: Mode
    cache: CacheOutcome
    status: Status
    stream: bool = False
    simulated: bool = False
    latency_ms: float
    ttft_ms: float | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    estimated_cost_usd: float | None = None
    saved_cost_usd: float | None = None
    debited_tokens: int = 0
    error_code: str | None = None
    timestamp: datetime

    def sort_key(self) -> str:
        return sort_key(self.timestamp, self.request_id)


class PerfSink(Protocol):
    def write(self, records: Sequence[PerfRecord]) -> None: ...


class DynamoPerfSink:
    """The perf-log table (keys as above)."""

    def __init__(self, client: DynamoDBClient | Callable[[], DynamoDBClient], table: str, retention_days: int) -> None:
        # A factory defers building the client (and importing boto3) to the worker's first write.
        self._client = client if callable(client) else (lambda: client)
        self._table = table
        self._retention = timedelta(days=retention_days)

    def item(self, record: PerfRecord) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeSerializer

        fields = record.model_dump(mode="json", exclude_none=True)
        fields |= {
            "sk": record.sort_key(),
            FUNCTION_KEY: org_function_key(record.org_id, record.function),
            HOUR_KEY: hour_key(record.timestamp),
            "expires_at": int((record.timestamp + self._retention).timestamp()),
        }
        serializer = TypeSerializer()
        return {name: serializer.serialize(_decimal(value)) for name, value in fields.items()}

    def write(self, records: Sequence[PerfRecord]) -> None:
        for start in range(0, len(records), 25):  # BatchWriteItem takes 25 at a time
            pending: Any = {self._table: [{"PutRequest": {"Item": self.item(r)}} for r in records[start : start + 25]]}
            for attempt in range(4):
                reply = self._client().batch_write_item(RequestItems=pending)
                pending = reply.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            if pending:
                raise RuntimeError(f"{len(pending[self._table])} perf records left unprocessed")


def _decimal(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, float) else value


Observer = Callable[[PerfRecord], None]
Charge = Callable[[], int]
"""Bills the org for a call; returns the balance tokens taken. Runs on the worker thread."""


def log_observer(record: PerfRecord) -> None:
    logger.info("ai_call", extra={"perf": record.model_dump(mode="json", exclude_none=True)})


class EmfObserver:
    """CloudWatch metrics through Powertools' embedded metric format (AWS only: it prints to stdout)."""

    def __init__(self, namespace: str = "Dominus") -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics

        self._metrics = EphemeralMetrics(namespace=namespace, service="dominus")

    def __call__(self, record: PerfRecord) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self._metrics.add_dimension("function", record.function)
        self._metrics.add_dimension("cache", record.cache.value)
        self._metrics.add_metric("AICalls", MetricUnit.Count, 1)
        self._metrics.add_metric("LatencyMs", MetricUnit.Milliseconds, record.latency_ms)
        if record.ttft_ms is not None:
            self._metrics.add_metric("TimeToFirstTokenMs", MetricUnit.Milliseconds, record.ttft_ms)
        if record.cost_usd is not None:
            self._metrics.add_metric("CostUsd", MetricUnit.NoUnit, record.cost_usd)
        if record.status == "error":
            self._metrics.add_metric("AIErrors", MetricUnit.Count, 1)
        self._metrics.flush_metrics()


class PerfRecorder:
    def __init__(
        self,
        sinks: Sequence[PerfSink],
        observers: Sequence[Observer] = (),
        *,
        max_queue: int = 10_000,
        linger_s: float = 0.1,
    ) -> None:
        self._sinks = list(sinks)
        self._observers = list(observers)
        self._queue: queue.Queue[tuple[PerfRecord, Charge | None]] = queue.Queue(max_queue)
        self._idle = threading.Condition()
        self._busy = 0
        # Records wait up to `linger_s` to be written in one batch: fewer writes, and the worker's
        # boto3 work (GIL-bound) does not compete with the request that is still being answered.
        self._linger_s = linger_s
        self._flush_now = threading.Event()
        self.dropped = 0
        self.failed_writes = 0
        self._worker = threading.Thread(target=self._run, name="perf-recorder", daemon=True)
        self._worker.start()

    def record(self, record: PerfRecord, charge: Charge | None = None) -> None:
        """Enqueue; never blocks, never raises (a full queue drops and counts the record)."""
        try:
            with self._idle:
                self._busy += 1
            self._queue.put_nowait((record, charge))
        except queue.Full:
            with self._idle:
                self._busy -= 1
            self.dropped += 1
            logger.error("perf queue full: a record (and its charge) was dropped")

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until every enqueued record is written; False if that took longer than `timeout_s`."""
        self._flush_now.set()
        with self._idle:
            done = self._idle.wait_for(lambda: self._busy == 0, timeout_s)
        self._flush_now.clear()
        return done

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self._linger_s
            while len(batch) < 25:
                left = 0.0 if self._flush_now.is_set() else deadline - time.monotonic()
                try:
                    # short waits, so that a flush() cuts the linger at once
                    batch.append(self._queue.get(timeout=min(left, 0.005)) if left > 0 else self._queue.get_nowait())
                except queue.Empty:
                    if left <= 0:
                        break
            self._deliver(batch)
            with self._idle:
                self._busy -= len(batch)
                self._idle.notify_all()

    def _deliver(self, jobs: list[tuple[PerfRecord, Charge | None]]) -> None:
        batch = [self._settle(record, charge) for record, charge in jobs]
        for observer in self._observers:
            for record in batch:
                try:
                    observer(record)
                except Exception:
                    logger.exception("perf observer failed")
        for sink in self._sinks:
            try:
                sink.write(batch)
            except Exception as exc:
                self.failed_writes += len(batch)
                logger.warning("perf sink %s failed: %s", type(sink).__name__, type(exc).__name__)

    def _settle(self, record: PerfRecord, charge: Charge | None) -> PerfRecord:
        if charge is None:
            return record
        try:
            return record.model_copy(update={"debited_tokens": charge()})
        except Exception as exc:
            logger.error("balance charge for request %s failed: %s", record.request_id, type(exc).__name__)
            return record


def utc_now() -> datetime:
    return datetime.now(UTC)
