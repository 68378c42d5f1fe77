"""Bounded work: a CPU-heavy step run in a child process with a memory cap and a wall-clock budget,
stopped when the budget ends or the client that asked for it goes away.

Why a process: a thread cannot be stopped, its memory is the server's, and it keeps the server from
exiting; a process can be killed, and its memory can be capped on its own (RLIMIT_AS).

How the process is started: from a forkserver (`multiprocessing`'s "forkserver" context). The server
process is started once per instance, with the modules the work needs imported (`preload`), and
every worker is a fork of it. Measured (`python -m bench geometry`, "bounded", a 400 x 370 house):
a worker that does nothing costs 20-40 ms there and back; the house's analysis takes 0.59 s of CPU in
a fresh worker against 0.51 s in a warm process (a new process touches its memory for the first
time); the first worker of an instance waits 2-3 s for the forkserver to start, and a "spawn" worker
would pay those 2-3 s (a new interpreter importing numpy and OpenCV) on every request. Forking the
request process itself ("fork") would be as quick but is unsafe: it runs threads (the event loop's
workers, boto3's, the perf writer), and a lock one of them held at the fork stays locked in the child
forever. A pre-warmed worker kept waiting would save the fork's few milliseconds, but a worker is
killed whenever its client leaves or its budget ends, and on Lambda warming the next one would run
during (or be frozen after) a request: the forkserver is that pool's cheap, always-clean form.

Only `Process` and `Pipe` are used: AWS Lambda has no /dev/shm, where `Queue`, `Pool` and their locks
keep their POSIX semaphores.

A worker also stops by itself: SIGALRM (the default action ends the process) a little after its
wall-clock budget, so a worker whose server died (and so cannot be killed by it) still ends.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import math
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from shared.errors import DominusError, PayloadTooLarge

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, ForkServerProcess

logger = logging.getLogger(__name__)

T = TypeVar("T")
Disconnected = Callable[[], Awaitable[bool]]  # e.g. Starlette's `request.is_disconnected`

MB = 1024 * 1024
CHECK_S = 0.25  # how often a waiting request asks whether its client is still there
ORPHAN_GRACE_S = 5  # a worker ends itself this long after its budget, should nobody stop it
STOP_WAIT_S = 2.0  # how long to wait for a killed worker to be reaped before moving on
BUDGET_EXCEEDED = "work_budget_exceeded"


@dataclass(frozen=True)
class Budget:
    """What one piece of work may take: wall-clock seconds, and memory: how far its worker's address
    space may grow beyond what it has mapped when it starts (the preloaded modules, their pages shared
    with the forkserver), so its resident memory grows by at most that, plus the pages of those
    modules it touches (tens of MB). `what` names the work and `advice` says what to send instead,
    for the 413 of work that would not fit."""

    seconds: float
    memory_bytes: int
    what: str = "The work"
    advice: str = "send a smaller input"

    def over(self, limit: Literal["time", "memory"]) -> PayloadTooLarge:
        """The 413 of work stopped at its budget."""
        spent = f"{self.seconds:g} s" if limit == "time" else f"{self.memory_bytes / MB:.0f} MB of memory"
        return self.refuse(f"{self.what} needed more than its {spent} and was stopped")

    def refuse(self, reason: str) -> PayloadTooLarge:
        """The 413 of work that does not fit: `reason`, then what to send instead."""
        return PayloadTooLarge(f"{reason}; {self.advice}.", code=BUDGET_EXCEEDED)


@dataclass(frozen=True)
class Usage:
    """What a worker used: its peak resident memory, what it started with (the forkserver's preloaded
    modules, mostly shared), in bytes, and its CPU seconds (every thread's, user and system)."""

    peak_rss_bytes: int = 0
    start_rss_bytes: int = 0
    cpu_seconds: float = 0.0

    @property
    def grew_bytes(self) -> int:
        return max(0, self.peak_rss_bytes - self.start_rss_bytes) if self.start_rss_bytes else 0


@dataclass(frozen=True)
class WorkStats:
    """One piece of work as it ended: its wall-clock seconds from the request's side, its outcome (ok,
    error, memory, time, gone, cancelled, failed) and what its worker used."""

    seconds: float
    outcome: str
    usage: Usage


class ClientGone(BaseException):
    """The client went away and its work was stopped. A BaseException, as cancellation is: not an
    error to report or to share with requests that wait for the same work (a single-flight hands
    them the work again, see shared.singleflight)."""


class WorkerFailed(Exception):
    """The worker died or raised something that is not a domain error: a 500, logged."""


# ---- the forkserver ----------------------------------------------------------------------------------

_preload: set[str] = set()
_started = threading.Lock()  # Process.start is not safe from two threads at once
_running: dict[int, ForkServerProcess] = {}


def preload(*modules: str) -> None:
    """Import `modules` in the forkserver, so workers start with them. Effective for modules named
    before the first worker starts (routers name theirs when they are built); later ones are imported
    by each worker itself."""
    _preload.update(modules)


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    # This module (every worker's entry point), the work's, and what the main module imported.
    context.set_forkserver_preload([__name__, *sorted(_preload), *main_imports(sys.modules["__main__"])])
    return context


def main_imports(main: types.ModuleType) -> list[str]:
    """The modules the main module imported (and itself, when it was run by name).

    Every worker runs the main module's top level again, as `__mp_main__` (guarded by its `if __name__
    == "__main__"`): multiprocessing does so to give it what `__main__` defined, and its forkserver
    cannot preload a main run as a script (CPython 3.11 to 3.13 never pass it the script's path). With
    what it imports already imported, that re-run is cheap: otherwise each worker of Lambda's bootstrap,
    `dominus serve` or pytest would import it all again (0.5 s for pytest)."""
    names: set[str] = set()
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and not spec.name.endswith("__main__"):
        names.add(spec.name)
    for value in vars(main).values():
        if isinstance(value, types.ModuleType):  # `import a.b` binds `a`: what it loaded of `a` too
            names.add(value.__name__)
            names.update(name for name in list(sys.modules) if name.startswith(f"{value.__name__}."))
        elif isinstance(value, type | types.FunctionType) and isinstance(value.__module__, str):
            names.add(value.__module__)
    # Only what was imported as a module of that name (a forkserver that fails an import dies with it)
    return sorted(name for name in names - {"__main__", "__mp_main__", "builtins"} if name in sys.modules)


def running() -> list[int]:
    """The process ids of this process's live workers."""
    return [pid for pid, process in list(_running.items()) if process.is_alive()]


# ---- the worker's side ----------------------------------------------------------------------------------


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _usage(start_rss_bytes: int) -> Usage:
    """This worker's usage so far."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    peak = used.ru_maxrss if sys.platform == "darwin" else used.ru_maxrss * 1024  # bytes on macOS, KiB on Linux
    return Usage(peak, start_rss_bytes, used.ru_utime + used.ru_stime)


def _usage_of(pid: int) -> Usage:
    """A live worker's usage, from /proc (no start figure: it could not say); empty where /proc cannot."""
    try:
        with open(f"/proc/{pid}/status") as status:
            peak = next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:")), 0)
        with open(f"/proc/{pid}/stat") as stat:
            utime, stime = stat.read().rsplit(")", 1)[1].split()[11:13]  # fields 14 and 15
    except (OSError, ValueError, IndexError):
        return Usage()
    return Usage(peak, 0, (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK"))


def _cap_memory(extra_bytes: int) -> None:
    """Address space: what the worker has mapped now, plus `extra_bytes`. An allocation beyond it fails
    with MemoryError inside the worker, which reports it; nothing else in the machine is touched."""
    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the wall clock still bounds the work
        return
    limit = mapped + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


Reply = tuple[str, Any, Usage]  # (outcome, value, usage)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_MMAP_THRESHOLD_MAX = 32 * MB  # glibc's ceiling for it on 64-bit


def _keep_freed_memory() -> None:
    """glibc maps each large block afresh and unmaps it when freed, until a process has warmed its
    thresholds up; a fresh worker's arrays then fault in every page they touch, which made its
    analysis twice as slow as a warm process's. Here large blocks come from the heap, and freed memory
    stays for reuse (the worker's life is one piece of work)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)


def _work(
    conn: Connection, target: Callable[..., Any], args: tuple[Any, ...], budget: Budget, modules: Sequence[str]
) -> None:
    """The worker's entry point: run `target(*args)` under the budget and send one reply. `modules` are
    imported first, outside the budget (no-ops where the forkserver preloaded them): the libraries the
    work runs on are not the work, and mapping them could fail under its memory cap."""
    signal.alarm(math.ceil(budget.seconds) + ORPHAN_GRACE_S)
    start = 0
    reply: Reply
    try:
        for module in modules:
            importlib.import_module(module)
        start = _rss_bytes()
        _cap_memory(budget.memory_bytes)
        _keep_freed_memory()
        reply = ("ok", target(*args), _usage(start))
    except MemoryError:
        reply = ("memory", None, _usage(start))
    except DominusError as exc:
        reply = ("error", exc, _usage(start))
    except Exception as exc:
        logger.exception("bounded work failed")
        reply = ("failed", type(exc).__name__, _usage(start))
    try:
        conn.send(reply)
    except Exception:  # a value that does not pickle: say so rather than leave the caller waiting
        logger.exception("bounded work: the reply could not be sent")
        conn.send(("failed", "unpicklable reply", reply[2]))
    conn.close()


# ---- the caller's side ---------------------------------------------------------------------------------


async def run_bounded(
    target: Callable[..., T],
    args: Sequence[Any],
    budget: Budget,
    *,
    gone: Disconnected | None = None,
    modules: Sequence[str] = (),
) -> T:
    """`target(*args)` in a worker process: its result, or the domain error it raised. Raises
    PayloadTooLarge (`work_budget_exceeded`) when the work outgrows its budget, ClientGone when
    `gone()` says the client left, WorkerFailed when the worker dies or fails otherwise; the worker
    is killed in every case (cancellation, a server shutting down, included).

    `target` and `args` go to the worker by pickle (a function by its module and name), so `target`
    must be importable at module level; large inputs travel better as file paths. `modules` are what
    the work needs imported (preloaded, and imported outside its budget)."""
    preload(*modules)
    context = _context()
    reader, writer = context.Pipe(duplex=False)
    work = (writer, target, tuple(args), budget, tuple(modules))
    process = context.Process(target=_work, args=work, daemon=True)
    began = time.monotonic()
    try:
        await anyio.to_thread.run_sync(_start, process)  # the first start launches the forkserver
        writer.close()  # the worker holds the only writer now: its exit reads as end-of-file here
        reply = await _wait(process, reader, began + budget.seconds, budget, gone)
    except BaseException as exc:
        _log(budget, WorkStats(time.monotonic() - began, _outcome_of(exc), _stop(process)))
        raise
    finally:
        _stop(process)
        reader.close()
        writer.close()
    outcome, value, usage = reply
    _log(budget, WorkStats(time.monotonic() - began, outcome, usage))
    if outcome == "ok":
        result: T = value
        return result
    if outcome == "error":
        raise value
    if outcome == "memory":
        raise budget.over("memory")
    raise WorkerFailed(f"{budget.what} failed in its worker: {value}")


def _start(process: ForkServerProcess) -> None:
    with _started:
        process.start()
    if process.pid is not None:
        _running[process.pid] = process


async def _wait(
    process: ForkServerProcess, reader: Connection, deadline: float, budget: Budget, gone: Disconnected | None
) -> Reply:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise budget.over("time")
        with anyio.move_on_after(min(CHECK_S, remaining)):
            await anyio.wait_readable(reader)
            return await anyio.to_thread.run_sync(_receive, process, reader, budget)
        if gone is not None and await gone():
            raise ClientGone


def _receive(process: ForkServerProcess, reader: Connection, budget: Budget) -> Reply:
    try:
        reply: Reply = reader.recv()
    except EOFError:  # the worker died without a word
        process.join(STOP_WAIT_S)
        if process.exitcode == -signal.SIGALRM:
            raise budget.over("time") from None
        raise WorkerFailed(f"{budget.what} stopped: its worker exited with {process.exitcode}") from None
    return reply


def _stop(process: ForkServerProcess) -> Usage:
    """Kill the worker if it still runs, and reap it; what it had used when it was killed (else
    nothing). Synchronous: it must also run while the caller's task is being cancelled, and SIGKILL
    is immediate."""
    pid = process.pid
    if pid is None:  # never started
        return Usage()
    usage = Usage()
    if process.is_alive():
        usage = _usage_of(pid)
        process.kill()
    process.join(STOP_WAIT_S)
    _running.pop(pid, None)
    return usage


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, ClientGone):
        return "gone"
    if isinstance(exc, PayloadTooLarge) and exc.code == BUDGET_EXCEEDED:
        return "time"
    return "cancelled" if not isinstance(exc, Exception) else "failed"


def _log(budget: Budget, stats: WorkStats) -> None:
    usage = stats.usage
    logger.info(
        "%s: %s in %.2f s (%.2f s of CPU), peak RSS %.0f MB (started at %.0f MB)",
        budget.what,
        stats.outcome,
        stats.seconds,
        usage.cpu_seconds,
        usage.peak_rss_bytes / MB,
        usage.start_rss_bytes / MB,
        extra={"work": stats},
    )
