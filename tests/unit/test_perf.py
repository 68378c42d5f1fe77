"""The perf recorder: off the request path, never raising, settling each call's charge first, waking
per batch rather than per record; and the items its DynamoDB sink writes."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer

from shared.modes import Mode
from shared.outcomes import CacheOutcome
from shared.perf import DynamoPerfSink, PerfRecord, PerfRecorder, attribute, utc_now
from tests.support.fakes import ListSink
from tests.support.perf_records import random_perf_records
from tests.support.waiting import wait_until


def record(request_id: str = "req-1") -> PerfRecord:
    return PerfRecord(
        org_id="acme",
        request_id=request_id,
        function="analyze",
        operation="analyze",
        model="gpt-4o",
        mode=Mode.AUTO,
        cache=CacheOutcome.MISS,
        status="ok",
        latency_ms=12.5,
        timestamp=utc_now(),
    )


class BrokenSink:
    def write(self, records: Sequence[PerfRecord]) -> None:
        raise ConnectionError("dynamodb down")


def test_records_are_batched_and_flush_cuts_the_linger_short() -> None:
    sink = ListSink()
    recorder = PerfRecorder([sink], linger_s=600.0)
    for i in range(3):
        recorder.record(record(f"req-{i}"))
    assert recorder.flush(60.0)  # done well within the linger: the flush cut it short
    assert [r.request_id for r in sink.records] == ["req-0", "req-1", "req-2"]


def test_a_charge_runs_before_the_record_is_written_and_its_failure_loses_nothing_else() -> None:
    sink = ListSink()
    recorder = PerfRecorder([sink], linger_s=0)
    recorder.record(record("billed"), charge=lambda: 7)

    def failing_charge() -> int:
        raise TimeoutError("dynamodb slow")

    recorder.record(record("unbilled"), charge=failing_charge)
    assert recorder.flush(2.0)
    assert {r.request_id: r.debited_tokens for r in sink.records} == {"billed": 7, "unbilled": 0}


def test_a_failing_sink_never_raises_and_is_counted() -> None:
    good = ListSink()
    recorder = PerfRecorder([BrokenSink(), good], linger_s=0)
    recorder.record(record())
    assert recorder.flush(2.0)
    assert recorder.failed_writes == 1
    assert len(good.records) == 1


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    recorder = PerfRecorder([ListSink()], max_queue=1, linger_s=10.0)
    for i in range(50):
        recorder.record(record(f"req-{i}"))
    assert recorder.dropped > 0
    assert recorder.flush(2.0)


class BatchSink(ListSink):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def write(self, records: Sequence[PerfRecord]) -> None:
        self.batches.append(len(records))
        super().write(records)


def test_records_that_arrive_within_the_linger_are_written_in_one_batch() -> None:
    sink = BatchSink()
    recorder = PerfRecorder([sink], linger_s=600.0)
    for i in range(120):
        recorder.record(record(f"req-{i}"))
    assert recorder.flush(60.0)
    assert sink.batches == [120]  # one wake-up and one write, not one per 25 records


def test_a_full_batch_is_written_without_waiting_for_the_linger_or_a_flush() -> None:
    sink = BatchSink()
    recorder = PerfRecorder([sink], linger_s=600.0, max_batch=50)
    for i in range(120):
        recorder.record(record(f"req-{i}"))
    wait_until(lambda: len(sink.records) >= 100, "two full batches written")
    assert sink.batches[:2] == [50, 50]
    assert recorder.flush(60.0)
    assert [r.request_id for r in sink.records] == [f"req-{i}" for i in range(120)]


def test_the_sink_writes_items_exactly_as_boto3s_serializer_would() -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    sink = DynamoPerfSink(lambda: None, "PerfLogTable", retention_days=90)  # type: ignore[arg-type, return-value]
    serializer = TypeSerializer()
    for rec in random_perf_records("acme", 300, 3, now - timedelta(days=2), now):
        fields = rec.model_dump(mode="json", exclude_none=True)
        item = sink.item(rec)
        for name, value in fields.items():
            assert item[name] == serializer.serialize(Decimal(str(value)) if isinstance(value, float) else value)
        assert {"sk", "org_function", "hour", "expires_at"} <= item.keys()


@pytest.mark.parametrize("value", [1e-5, 1e20, 0.1, 3.0, 123456.789, 0, -5, True, False, "x"])
def test_numbers_and_flags_become_the_attribute_values_boto3_makes(value: object) -> None:
    expected = TypeSerializer().serialize(Decimal(str(value)) if isinstance(value, float) else value)
    assert attribute(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None])
def test_what_dynamodb_cannot_store_is_refused(value: object) -> None:
    with pytest.raises((TypeError, ArithmeticError)):
        attribute(value)  # type: ignore[arg-type]
