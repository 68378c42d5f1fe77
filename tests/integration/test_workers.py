"""Bounded work (shared.workers) with real worker processes: results and domain errors come back,
memory and time budgets stop the work with a 413, and a client that leaves, a cancelled caller or a
worker nobody stops anymore all end in a worker that is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
from typing import Any

import anyio
import pytest

from shared import workers
from shared.errors import InvalidInput, PayloadTooLarge
from shared.workers import MB, Budget, ClientGone, WorkerFailed, run_bounded
from tests.support import work_targets
from tests.support.waiting import eventually, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ROOMY = Budget(seconds=120, memory_bytes=512 * MB, what="The test work", advice="send less")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pids: list[int]) -> None:
    wait_until(lambda: not any(_alive(pid) for pid in pids), "the worker process ended")
    assert workers.running() == []


async def _started() -> list[int]:
    """The workers running now, once there is one."""

    async def one_runs() -> bool:
        return bool(workers.running())

    await eventually(one_runs, "a worker started")
    return workers.running()


async def test_the_result_and_a_domain_error_come_back() -> None:
    assert await run_bounded(work_targets.add, (2, 3), ROOMY) == 5
    with pytest.raises(InvalidInput) as refused:
        await run_bounded(work_targets.refuse, ("the roof is a lake",), ROOMY)
    assert (refused.value.code, refused.value.message) == ("bad_roof", "the roof is a lake")


async def test_work_over_its_memory_is_stopped_with_a_413() -> None:
    budget = Budget(seconds=120, memory_bytes=100 * MB, what="The test work", advice="send less")
    with pytest.raises(PayloadTooLarge) as over:
        await run_bounded(work_targets.allocate, (400,), budget)
    assert over.value.code == "work_budget_exceeded"
    assert over.value.message == "The test work needed more than its 100 MB of memory and was stopped; send less."
    assert await run_bounded(work_targets.allocate, (20,), budget) > 0  # within it: served
    assert workers.running() == []


async def test_the_libraries_work_needs_are_imported_outside_its_memory_budget() -> None:
    # Given a forkserver started without OpenCV (this module's first work), and a 20 MB budget
    assert await run_bounded(work_targets.add, (1, 1), ROOMY) == 2
    tight = Budget(seconds=120, memory_bytes=20 * MB)
    # Then work that names OpenCV (100+ MB mapped) among its modules still runs within its budget
    version = await run_bounded(work_targets.opencv_version, (), tight, modules=("cv2",))
    assert version.split(".")[0].isdigit()


async def test_work_over_its_time_is_killed_with_a_413() -> None:
    started: list[int] = []

    async def run() -> None:
        with pytest.raises(PayloadTooLarge, match="needed more than its 1 s and was stopped"):
            await run_bounded(work_targets.sleep, (3600,), Budget(seconds=1, memory_bytes=100 * MB))

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        started += await _started()
    _gone(started)


async def test_a_client_that_leaves_stops_its_work() -> None:
    started: list[int] = []

    async def client_left() -> bool:  # the client leaves once its work has started
        started[:] = started or workers.running()
        return bool(started)

    with pytest.raises(ClientGone):
        await run_bounded(work_targets.sleep, (3600,), ROOMY, gone=client_left)
    _gone(started)


async def test_a_cancelled_caller_kills_its_worker() -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(run_bounded, work_targets.sleep, (3600,), ROOMY)
        started = await _started()
        group.cancel_scope.cancel()
    _gone(started)


async def test_a_worker_that_dies_or_fails_is_a_worker_failure() -> None:
    with pytest.raises(WorkerFailed, match="exited with 3"):
        await run_bounded(work_targets.exit_abruptly, (3,), ROOMY)
    with pytest.raises(WorkerFailed, match="ValueError"):
        await run_bounded(work_targets.fail, (), ROOMY)


def test_a_worker_nobody_stops_ends_itself_after_its_budget() -> None:
    # Given a worker whose server is gone (here: started directly, and never killed or read)
    context: Any = multiprocessing.get_context("forkserver")
    reader, writer = context.Pipe(duplex=False)
    budget = Budget(seconds=1, memory_bytes=100 * MB)
    process = context.Process(target=workers._work, args=(writer, work_targets.sleep, (3600,), budget, ()))
    process.start()
    writer.close()
    # Then it ends by its own alarm, a little after its budget
    process.join(60)
    assert process.exitcode == -signal.SIGALRM
    reader.close()
