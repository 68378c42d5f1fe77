"""One performance record per AI call, settled off the request path.

`PerfRecorder.record` only enqueues; a worker thread first runs the call's charge (the balance debit,
a DynamoDB conditional update that need not delay the answer), then batches the records into the
sinks (DynamoDB) and observers (structured log, EMF metrics). Nothing here can raise into a request:
a failing charge or sink is logged and counted. A Lambda handler calls `flush()` before it returns,
so a frozen sandbox loses nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
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
        fields = record.model_dump(mode="json", exclude_none=True)
        fields |= {
            "sk": record.sort_key(),
            FUNCTION_KEY: org_function_key(record.org_id, record.function),
            HOUR_KEY: hour_key(record.timestamp),
            "expires_at": int((record.timestamp + self._retention).timestamp()),
        }
        return {name: attribute(value) for name, value in fields.items()}

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


def attribute(value: str | bool | int | float) -> dict[str, Any]:
    """A record field as a DynamoDB attribute value, as boto3's TypeSerializer writes it (a float
    through its shortest repr, in DynamoDB's number range), without its per-value type dispatch."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float) and math.isfinite(value):
        from boto3.dynamodb.types import DYNAMODB_CONTEXT

        return {"N": str(DYNAMODB_CONTEXT.create_decimal(repr(value)))}
    raise TypeError(f"a perf record field cannot be stored as {value!r}")


Observer = Callable[[PerfRecord], None]
Charge = Callable[[], int]
"""Bills the org for a call; returns the balance tokens taken. Runs on the worker thread."""


def log_observer(record: PerfRecord) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return  # the dump below is most of the cost
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
    """Records wait in a list and are delivered in batches: the worker wakes when the first record
    of a batch arrives, then once more `linger_s` later (or when the batch is full, or on `flush`),
    never per record, so a busy server's request path shares the interpreter lock with it rarely."""

    def __init__(
        self,
        sinks: Sequence[PerfSink],
        observers: Sequence[Observer] = (),
        *,
        max_queue: int = 10_000,
        linger_s: float = 0.5,
        max_batch: int = 500,
    ) -> None:
        self._sinks = list(sinks)
        self._observers = list(observers)
        self._max_queue = max_queue
        self._linger_s = linger_s
        self._max_batch = max_batch
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # the worker waits here
        self._idle = threading.Condition(lock)  # flush() waits here
        self._pending: list[tuple[PerfRecord, Charge | None]] = []
        self._delivering = 0
        self._flushers = 0
        self.dropped = 0
        self.failed_writes = 0
        self._worker = threading.Thread(target=self._run, name="perf-recorder", daemon=True)
        self._worker.start()

    def record(self, record: PerfRecord, charge: Charge | None = None) -> None:
        """Enqueue; never blocks, never raises (a full queue drops and counts the record)."""
        with self._work:
            if len(self._pending) >= self._max_queue:
                self.dropped += 1
                logger.error("perf queue full: a record (and its charge) was dropped")
                return
            self._pending.append((record, charge))
            if len(self._pending) in (1, self._max_batch):  # a batch starts, or is full
                self._work.notify()

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until every enqueued record is written; False if that took longer than `timeout_s`."""
        with self._idle:
            self._flushers += 1
            self._work.notify()  # cut the linger short
            try:
                return self._idle.wait_for(lambda: not self._pending and not self._delivering, timeout_s)
            finally:
                self._flushers -= 1

    def _next_batch(self) -> list[tuple[PerfRecord, Charge | None]]:
        with self._work:
            self._work.wait_for(lambda: bool(self._pending))
            deadline = time.monotonic() + self._linger_s
            while len(self._pending) < self._max_batch and not self._flushers:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._work.wait(left)
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self._delivering = len(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                self._deliver(batch)
            finally:
                with self._idle:
                    self._delivering = 0
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
