"""The perf recorder: off the request path, never raising, settling each call's charge first."""

from collections.abc import Sequence

from shared.modes import Mode
from shared.outcomes import CacheOutcome
from shared.perf import PerfRecord, PerfRecorder, utc_now
from tests.support.fakes import ListSink


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
