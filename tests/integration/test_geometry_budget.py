"""Geometry inputs at and over the synchronous budget, through the dev server (as `dominus serve`
builds it) and the router on the `aws_env` fixture: refused from their size before any work, stopped
at their memory or time budget, stopped when the client leaves; and input whose numbers overflow is
a 422 naming the file.

Nothing here waits on a sub-second window: a worker's start and end are polled for with
tests/support/waiting.py's patience, and a budget's figures come from the worker's own record.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dominus_dev.local import LocalRuntime
from geometry.function import geometry_router
from geometry.jobs import GeometryJobs, JobIndex
from geometry.limits import SYNC_LIMITS, Limits
from geometry.service import bounded
from shared import workers
from shared.http import install_error_handling
from shared.jobs import DynamoJobRepository
from shared.workers import MB, Budget, WorkStats
from tests.support.aws_fixtures import AwsEnv
from tests.support.dev_server import running_dev_server
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

ANALYZE = "/v1/geometry/analyze"
RESOLUTION = 0.1
# What a worker's resident memory may grow by beyond its budget: the pages of the preloaded modules
# (numpy, OpenCV) it touches (see shared.workers.Budget).
TOUCHED_MODULES_BYTES = 64 * MB
# The request process holds an upload a few times over (body, form part, file): 32 MB uploads stay
# far under this. The unbounded analysis of a 16M-cell DSM took 4.1 GB.
SERVER_GROWTH_BYTES = 512 * MB


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _noise(side: int) -> bytes:
    """The costliest surface per cell there is: every cell its own height."""
    return _npy(np.random.default_rng(side).normal(5.0, 2.0, (side, side)))


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def dev_server() -> Iterator[tuple[str, LocalRuntime]]:
    with running_dev_server() as server:
        yield server


@pytest.fixture
def http(dev_server: tuple[str, LocalRuntime]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev_server[0], timeout=120) as client:
        yield client


Worked = Callable[[], list[WorkStats]]


@pytest.fixture
def worked(caplog: pytest.LogCaptureFixture) -> Worked:
    """What every worker that ran has used so far (its record, logged as it ends)."""
    caplog.set_level(logging.INFO, logger="shared.workers")
    return lambda: [record.work for record in caplog.records if hasattr(record, "work")]


def _upload(client: httpx.Client | TestClient, name: str, data: bytes, org: str | None = None) -> Any:
    files = {"file": (name, data, "application/octet-stream")}
    return client.post(ANALYZE, files=files, data={"resolution": str(RESOLUTION)}, headers={"X-Org-Id": org or _org()})


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


class PeakRss:
    """This process's (the dev server's) resident memory at its highest while the block runs, sampled."""

    def __init__(self) -> None:
        self.start = self.peak = _rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- the acceptance: 16M cells and a 32 MB surface ------------------------------------------------


def test_a_16m_cell_dsm_is_refused_from_its_header_before_any_work(
    http: httpx.Client, dev_server: tuple[str, LocalRuntime], worked: Worked
) -> None:
    # Given a 4000 x 4000 DSM (the readers' cell limit, 16 MB as bytes), uploaded and as an S3 key
    dsm = _npy(np.random.default_rng(0).integers(0, 20, (4000, 4000), dtype=np.uint8))
    org = _org()
    key = f"orgs/{org}/uploads/site.npy"
    runtime = dev_server[1]
    s3: S3Client = runtime.aws.client("s3")
    s3.put_object(Bucket=runtime.settings.dominus_bucket, Key=key, Body=dsm)
    with PeakRss() as server:
        uploaded = _upload(http, "site.npy", dsm, org)
        by_key = http.post(ANALYZE, json={"s3_key": key, "resolution": RESOLUTION}, headers={"X-Org-Id": org})
    # Then both are 413s naming the size, the limit and what to do, and no worker ever started
    for response in (uploaded, by_key):
        message = _error(response, 413, "work_budget_exceeded")
        assert "site.npy is 4,000 x 4,000 = 16,000,000 cells" in message
        assert f"over the {SYNC_LIMITS.max_cells:,} cells that fit the 24 s budget" in message
        assert "API Gateway's 29 s" in message and "crop" in message
    assert worked() == []
    assert server.peak - server.start < SERVER_GROWTH_BYTES


def test_a_32_mb_surface_is_refused_from_its_header_before_any_work(http: httpx.Client, worked: Worked) -> None:
    surface = _noise(2000)  # 2000 x 2000 float64: 32 MB
    assert len(surface) > 32_000_000
    with PeakRss() as server:
        response = _upload(http, "surface.npy", surface)
    message = _error(response, 413, "work_budget_exceeded")
    assert "2,000 x 2,000 = 4,000,000 cells" in message
    assert worked() == []
    assert server.peak - server.start < SERVER_GROWTH_BYTES


# ---- the budgets themselves, on the router with small ones -----------------------------------------


def _router_app(aws_env: AwsEnv, limits: Limits) -> FastAPI:
    records = DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"])
    jobs = GeometryJobs(records, aws_env.client("s3"), aws_env.buckets["DataBucket"])
    app = FastAPI()
    install_error_handling(app, max_body_bytes=64 * MB)
    index = JobIndex.process_only()
    app.include_router(geometry_router(lambda: jobs, "local", index=lambda: index, analyse=bounded(limits)))
    return app


def test_work_over_its_memory_budget_is_stopped_within_it(aws_env: AwsEnv, worked: Worked) -> None:
    # Given a budget of 150 MB, and an estimate that admits anything (it is the cap that is tested)
    budget = Budget(seconds=300, memory_bytes=150 * MB, what="The roof analysis", advice="send less")
    limits = Limits(budget=budget, bytes_per_cell=1)
    with TestClient(_router_app(aws_env, limits)) as client:
        # When a 1M-cell surface (about 350 MB of work) is analysed
        response = _upload(client, "surface.npy", _noise(1000))
    # Then it is stopped at its budget with a 413 that says so, its memory within the budget
    message = _error(response, 413, "work_budget_exceeded")
    assert message == "The roof analysis needed more than its 150 MB of memory and was stopped; send less."
    (record,) = worked()
    assert record.outcome == "memory"
    assert record.usage.grew_bytes <= budget.memory_bytes + TOUCHED_MODULES_BYTES
    assert workers.running() == []


def test_work_over_its_time_budget_is_killed(aws_env: AwsEnv, worked: Worked) -> None:
    # Given a 2 s budget and an estimate that is far too hopeful
    budget = Budget(seconds=2, memory_bytes=1280 * MB, what="The roof analysis", advice="send less")
    limits = Limits(budget=budget, seconds_per_cell=1e-9)
    with TestClient(_router_app(aws_env, limits)) as client:
        response = _upload(client, "surface.npy", _noise(1000))
    # Then the worker is stopped at its budget and the answer says so
    assert _error(response, 413, "work_budget_exceeded") == (
        "The roof analysis needed more than its 2 s and was stopped; send less."
    )
    assert [r.outcome for r in worked()] == ["time"]
    assert workers.running() == []


# ---- a client that leaves ----------------------------------------------------------------------------


def test_a_client_that_disconnects_stops_its_analysis(dev_server: tuple[str, LocalRuntime], worked: Worked) -> None:
    # Given an admitted analysis that takes many seconds (1M cells of noise), sent over a raw socket
    request = httpx.Request(
        "POST",
        dev_server[0] + ANALYZE,
        files={"file": ("surface.npy", _noise(1000))},
        data={"resolution": str(RESOLUTION)},
        headers={"X-Org-Id": _org()},
    )
    url = urlsplit(str(request.url))
    head = f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items() if name.lower() != "host"
    )
    with socket.create_connection((url.hostname, url.port)) as client:
        client.sendall(head.encode() + b"\r\n" + request.read())
        # When its worker has started, the client goes away
        wait_until(lambda: bool(workers.running()), "the analysis started in a worker")
        started = workers.running()
    # Then the worker is stopped for it (not at its end or its budget), and is gone
    wait_until(lambda: bool(worked()), "the worker ended")
    assert [r.outcome for r in worked()] == ["gone"]
    wait_until(lambda: not any(_alive(pid) for pid in started), "the worker process exited")
    assert workers.running() == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


# ---- numbers that overflow ----------------------------------------------------------------------------


def test_a_point_cloud_spanning_plus_minus_1e308_is_a_422_naming_the_file(http: httpx.Client) -> None:
    lines = ["1e308 1e308 5", "-1e308 -1e308 5", *(f"{i} {i % 5} 3" for i in range(20))]
    response = http.post(ANALYZE, files={"file": ("scan.xyz", "\n".join(lines).encode())}, headers={"X-Org-Id": _org()})
    message = _error(response, 422, "invalid_input")
    assert message.startswith("scan.xyz: an x or y coordinate reaches 1e+308")


@pytest.mark.parametrize(("value", "says"), [(np.inf, "infinite"), (1e308, "outside -500..9000 m")])
def test_a_dsm_with_infinite_or_huge_heights_is_a_422_naming_the_file(
    http: httpx.Client, value: float, says: str
) -> None:
    dsm = np.full((50, 50), 3.0)
    dsm[10, 10] = value
    message = _error(_upload(http, "roof.npy", _npy(dsm)), 422, "invalid_input")
    assert message.startswith("roof.npy") and says in message
