"""What every benchmark shares: statistics, tables, the servers on loopback, engines built the production way."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from shared.engine import CallContext, Engine
from shared.perf import PerfRecorder, PerfSink
from shared.perf_writer import WriterProcess
from shared.runtime import build_engine, dynamodb_client
from shared.settings import Settings
from shared.stores.base import GuardedStore
from shared.workers import WorkStats
from tests.support.redis_fixtures import RedisServer

StoreKind = Literal["memory", "redis", "upstash"]

DUMMY_CREDENTIAL = "testing"
REGION = "us-east-1"
TEST_API_KEY = "sk-bench-not-a-real-key"

# ---- statistics ------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of already sorted values, interpolated linearly."""
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    """Latencies in milliseconds."""

    n: int
    mean: float
    p50: float
    p95: float
    p99: float = float("nan")

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        ms = sorted(s * 1000 for s in seconds)
        mean = sum(ms) / len(ms) if ms else float("nan")
        return cls(len(ms), mean, percentile(ms, 50), percentile(ms, 95), percentile(ms, 99))


def time_runs(work: Callable[[], object], runs: int = 5) -> list[float]:
    """Seconds per run of `work`, after one warm-up run."""
    work()
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - began)
    return seconds


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50)


class WorkRecords(logging.Handler):
    """In a `with` block: what every worker that ended used (shared.workers logs a record as each ends)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.stats: list[WorkStats] = []
        self._logger = logging.getLogger("shared.workers")

    def emit(self, record: logging.LogRecord) -> None:
        stats = getattr(record, "work", None)
        if isinstance(stats, WorkStats):
            self.stats.append(stats)

    def __enter__(self) -> WorkRecords:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)


def rss_mb(pid: int | None = None) -> float:
    """A process's resident memory (this one's by default), from /proc."""
    with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


# ---- printing --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        # First column left-aligned (labels), the rest right-aligned (figures).
        parts = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        return "  ".join(parts).rstrip()

    print(f"\n== {title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def note(text: str) -> None:
    print(f"   {text}")


# ---- servers on loopback ---------------------------------------------------------------------------


class SimControl:
    """The simulated model in the helper process, steered over its `/_sim/*` endpoints."""

    def __init__(self, url: str) -> None:
        self._client = httpx.Client(base_url=url, timeout=10.0)

    @property
    def calls(self) -> int:
        calls: int = self._client.get("/_sim/stats").raise_for_status().json()["calls"]
        return calls

    def configure(self, **fields: Any) -> None:
        self._client.put("/_sim/config", json=fields).raise_for_status()

    def reset(self) -> None:
        self._client.post("/_sim/reset").raise_for_status()

    def close(self) -> None:
        self._client.close()


def aws_env(endpoint: str) -> dict[str, str]:
    """Dummy credentials and the endpoint: boto3 clients here and in child processes reach only moto."""
    return {
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
        "AWS_SESSION_TOKEN": DUMMY_CREDENTIAL,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@dataclass(frozen=True)
class Services:
    """Where everything listens; `sim` steers the simulated model."""

    redis: RedisServer
    aws_endpoint: str
    aws_pid: int  # the moto server's process (its memory holds every item written)
    resource_env: dict[str, str]
    model_base_url: str
    upstash_url: str
    upstash_token: str
    sim: SimControl

    @property
    def env(self) -> dict[str, str]:
        """For child processes: AWS access plus the template's table names."""
        return aws_env(self.aws_endpoint) | self.resource_env

    def settings_kwargs(self, store: StoreKind = "redis", **overrides: Any) -> dict[str, Any]:
        """Production defaults, pointed at the loopback servers (plain data: crosses process boundaries)."""
        kwargs: dict[str, Any] = {name.lower(): value for name, value in self.resource_env.items()}
        kwargs |= {"openai_base_url": self.model_base_url, "openai_api_key": TEST_API_KEY}
        if store == "redis":
            kwargs["redis_url"] = self.redis.url
        elif store == "upstash":
            kwargs |= {"upstash_redis_rest_url": self.upstash_url, "upstash_redis_rest_token": self.upstash_token}
        return kwargs | overrides

    def settings(self, store: StoreKind = "redis", **overrides: Any) -> Settings:
        return Settings(**self.settings_kwargs(store, **overrides))

    def engine(
        self,
        store: StoreKind = "redis",
        *,
        recorder: PerfRecorder | None = None,
        perf_sink: PerfSink | None = None,
        guarded: GuardedStore | None = None,
        **overrides: Any,
    ) -> Engine:
        """`build_engine` as production calls it; `recorder`/`perf_sink`/`guarded` replace collaborators
        when given."""
        return build_engine(
            self.settings(store, **overrides),
            dynamodb=dynamodb_client(self.aws_endpoint),
            recorder=recorder,
            perf_sink=perf_sink,
            store=guarded,
        )

    def perf_writer(self) -> WriterProcess:
        """The dev server's sink: records written by a child process, into the moto server's table."""
        return WriterProcess(self.resource_env["DOMINUS_PERF_TABLE"], 90, endpoint_url=self.aws_endpoint)


HELPER_ROLES = ("aws", "model", "upstash")


def _start_helpers(redis_url: str) -> tuple[list[subprocess.Popen[str]], dict[str, Any]]:
    """Start every helper (in parallel), then read where each listens."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.services", role, redis_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for role in HELPER_ROLES
    ]
    described: dict[str, Any] = {}
    try:
        for role, proc in zip(HELPER_ROLES, procs, strict=True):
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"bench.services {role} exited before saying where it listens")
            described |= json.loads(line)
    except BaseException:
        _stop_helpers(procs)
        raise
    return procs, described


def _stop_helpers(procs: Sequence[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.stdin is not None:
            proc.stdin.close()  # a helper stops at EOF
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def services() -> Iterator[Services]:
    """A private redis-server and the helpers; this process's environment reaches only them."""
    saved_env = dict(os.environ)
    redis_server = RedisServer().start()
    procs: list[subprocess.Popen[str]] = []
    sim: SimControl | None = None
    try:
        procs, described = _start_helpers(redis_server.url)
        os.environ.update(aws_env(described["aws_endpoint"]))
        os.environ.pop("AWS_PROFILE", None)  # a developer's profile must not route anything elsewhere
        sim = SimControl(described["model_url"])
        yield Services(
            redis=redis_server,
            aws_endpoint=described["aws_endpoint"],
            aws_pid=described["aws_pid"],
            resource_env=described["resource_env"],
            model_base_url=described["model_base_url"],
            upstash_url=described["upstash_url"],
            upstash_token=described["upstash_token"],
            sim=sim,
        )
    finally:
        if sim is not None:
            sim.close()
        _stop_helpers(procs)
        redis_server.close()
        os.environ.clear()
        os.environ.update(saved_env)


# ---- measuring -------------------------------------------------------------------------------------


def nonce() -> str:
    """Makes a run's cache keys fresh: Redis is private, but a run may be repeated against it."""
    return uuid.uuid4().hex[:8]


def call_context(org_id: str, i: int, function: str = "analyze") -> CallContext:
    return CallContext(org_id, f"req-bench-{i:07d}", function)


async def timed(call: Awaitable[Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call
    return time.perf_counter() - started, result


async def sample(make_call: Callable[[int], Awaitable[Any]], n: int, warmup: int) -> tuple[list[float], list[Any]]:
    """`warmup` unmeasured calls, then `n` measured ones, one at a time; (seconds, results)."""
    for i in range(warmup):
        await make_call(-1 - i)
    seconds: list[float] = []
    results: list[Any] = []
    for i in range(n):
        elapsed, result = await timed(make_call(i))
        seconds.append(elapsed)
        results.append(result)
    return seconds, results
