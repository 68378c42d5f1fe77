"""Perf records written by a child process (`WriterProcess`) into moto's PerfLogTable: item for item
what the in-process sink writes, `flush` still meaning written, and a dead or failing child costing
only its own batch."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.perf import DynamoPerfSink, PerfRecorder
from shared.perf_writer import WriterProcess
from tests.support.aws_fixtures import AwsEnv
from tests.support.perf_records import random_perf_records
from tests.support.waiting import PATIENCE_S, wait_until

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
def writer(aws_env: AwsEnv) -> Iterator[WriterProcess]:
    writer = WriterProcess(aws_env.tables["PerfLogTable"], 90, endpoint_url=aws_env.endpoint_url)
    yield writer
    writer.close()


def stored(aws_env: AwsEnv, org: str) -> list[dict[str, Any]]:
    pages = (
        aws_env.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=aws_env.tables["PerfLogTable"],
            KeyConditionExpression="org_id = :o",
            ExpressionAttributeValues={":o": {"S": org}},
        )
    )
    return [item for page in pages for item in page["Items"]]


def test_a_flush_returns_once_the_child_has_written_every_record_as_the_in_process_sink_would(
    aws_env: AwsEnv, writer: WriterProcess
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    records = random_perf_records(org, 60, 5, NOW - timedelta(hours=3), NOW)
    recorder = PerfRecorder([writer], linger_s=600.0)
    for record in records:
        recorder.record(record)
    assert recorder.flush(PATIENCE_S)
    assert recorder.failed_writes == 0
    expected = DynamoPerfSink(aws_env.client("dynamodb"), aws_env.tables["PerfLogTable"], retention_days=90)
    by_sk = {item["sk"]["S"]: item for item in stored(aws_env, org)}
    assert by_sk == {record.sort_key(): expected.item(record) for record in records}


def test_a_child_that_died_costs_only_its_batch_and_is_replaced(aws_env: AwsEnv, writer: WriterProcess) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    first, second = (random_perf_records(org, 10, seed, NOW - timedelta(hours=1), NOW) for seed in (1, 2))
    pid = writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: writer.pid is None, "the killed child is seen to be gone")
    recorder = PerfRecorder([writer], linger_s=0)
    for record in first:
        recorder.record(record)
    assert recorder.flush(PATIENCE_S)
    for record in second:
        recorder.record(record)
    assert recorder.flush(PATIENCE_S)
    assert writer.pid not in (None, pid)
    assert recorder.failed_writes == 0  # the dead child was noticed before writing, and replaced
    assert len(stored(aws_env, org)) == 20


def test_a_batch_the_child_cannot_write_is_counted_and_the_next_one_is_written(aws_env: AwsEnv) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    missing = WriterProcess("NoSuchTable", 90, endpoint_url=aws_env.endpoint_url)
    good = WriterProcess(aws_env.tables["PerfLogTable"], 90, endpoint_url=aws_env.endpoint_url)
    try:
        recorder = PerfRecorder([missing, good], linger_s=0)
        for record in random_perf_records(org, 5, 3, NOW - timedelta(hours=1), NOW):
            recorder.record(record)
        assert recorder.flush(PATIENCE_S)
        assert recorder.failed_writes == 5  # the missing table's batch, reported by its child
        assert len(stored(aws_env, org)) == 5  # the other sink wrote it all
        assert missing.pid is not None  # an error answer leaves the child running
    finally:
        missing.close()
        good.close()


def test_a_closed_writer_starts_no_child_again(aws_env: AwsEnv, writer: WriterProcess) -> None:
    writer.close()
    recorder = PerfRecorder([writer], linger_s=0)
    recorder.record(random_perf_records("org-closed", 1, 4, NOW - timedelta(hours=1), NOW)[0])
    assert recorder.flush(PATIENCE_S)
    assert recorder.failed_writes == 1
    assert writer.pid is None
