"""The store interface the engine uses for its cache, leases and shared results.

Backends implement a handful of record operations (as Powertools' idempotency layer does); the
engine never sees which one it has. `GuardedStore` bounds every call and, after a failure, skips the
store for a short cool-down, so a dead Redis costs one timeout, not one per call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Atomic compare-and-act for leases: only the holder's token may extend or release a lease.
EXTEND_IF_VALUE_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
DELETE_IF_VALUE_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
)


class StoreUnavailable(Exception):
    """The store failed or was too slow; the engine fails open (outcome `bypass`)."""


@dataclass(frozen=True, slots=True)
class Put:
    """`set(key, value, ttl_ms)` as one step of a `write`."""

    key: str
    value: str
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class Push:
    """`append(key, value, ttl_ms)` as one step of a `write`."""

    key: str
    value: str
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class Free:
    """`delete_if_value(key, value)` as one step of a `write`: a lease's end."""

    key: str
    value: str


Write = Put | Push | Free


class Store(Protocol):
    name: str

    async def get(self, key: str) -> str | None: ...
    async def get_many(self, keys: Sequence[str]) -> list[str | None]: ...
    async def set(self, key: str, value: str, ttl_ms: int) -> None: ...
    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool: ...
    async def extend_if_value(self, key: str, value: str, ttl_ms: int) -> bool: ...
    async def delete_if_value(self, key: str, value: str) -> bool: ...
    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        """Push onto the list at `key`, refresh its TTL; the list's new length."""
        ...

    async def read_from(self, key: str, start: int) -> list[str]:
        """Items of the list at `key` from index `start` on."""
        ...

    async def write(self, writes: Sequence[Write]) -> None:
        """Apply `writes` in order in one round trip (a pipeline, not a transaction): what a flight does
        when it ends (admit the answer, publish it, free the lease) costs one wait, not three."""
        ...

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class Patience:
    """When a store call has waited too long, judged by whether the store still answers anyone.

    The event loop serves every request in this process. When it is busy (a burst of streams), a reply
    Redis sent at once waits its turn, and a wall-clock timeout blames the store for the queue in front
    of it: that tripped the store at 100 concurrent streams while Redis was idle. What a dead or hung
    store does instead is go quiet. So a call is over time once it has waited `timeout_s` and no store
    call has completed for `timeout_s` either, and that silence has lasted `QUIET_TURNS` more loop
    turns (each turn reads whatever replies have arrived, so a busy loop cannot fake the silence).
    `busy_cap_s` bounds the wait however busy the store looks.
    """

    QUIET_TURNS = 4

    def __init__(self, start: float, timeout_s: float, busy_cap_s: float) -> None:
        self._start, self._timeout_s, self._cap_s = start, timeout_s, max(busy_cap_s, timeout_s)
        self._quiet_turns = 0
        self.due = start + timeout_s  # the first check

    def over(self, now: float, last_reply: float) -> bool:
        """At a check at `now`, with the store's last reply at `last_reply`: whether the call is over time;
        if not, `due` is the next check (`now` itself: the next loop turn)."""
        if now - self._start >= self._cap_s:
            return True
        quiet_since = max(self._start, last_reply)
        if now - quiet_since < self._timeout_s:
            self._quiet_turns, self.due = 0, quiet_since + self._timeout_s
            return False
        self._quiet_turns += 1
        self.due = now
        return self._quiet_turns > self.QUIET_TURNS


class _Watch:
    """Runs `Patience`'s checks on the loop; expires `scope` once the call is over time."""

    def __init__(self, scope: asyncio.Timeout, patience: Patience, last_reply: Callable[[], float]) -> None:
        self._loop = asyncio.get_running_loop()
        self._scope, self._patience, self._last_reply = scope, patience, last_reply
        self._handle: asyncio.Handle = self._loop.call_at(patience.due, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        if self._patience.over(now, self._last_reply()):
            self._scope.reschedule(now)
        elif self._patience.due <= now:
            self._handle = self._loop.call_soon(self._check)
        else:
            self._handle = self._loop.call_at(self._patience.due, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


class GuardedStore:
    """A store whose every call is bounded and whose failures raise `StoreUnavailable`."""

    def __init__(
        self,
        inner: Store,
        *,
        timeout_s: float,
        cooldown_s: float,
        busy_cap_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self._timeout_s = timeout_s
        self._busy_cap_s = busy_cap_s if busy_cap_s is not None else 20 * timeout_s
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._skip_until = 0.0
        self._last_reply = 0.0  # loop time of the last call the store answered

    async def _call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        if self._clock() < self._skip_until:
            raise StoreUnavailable(f"{self.name} store skipped during its cool-down after a failure")
        try:
            return await self._bounded(make)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._skip_until = self._clock() + self._cooldown_s
            logger.warning("store %s failed on %s: %s", self.name, operation, type(exc).__name__)
            raise StoreUnavailable(f"{self.name} store failed on {operation}: {type(exc).__name__}") from exc

    async def _bounded(self, make: Callable[[], Awaitable[T]]) -> T:
        # In this task (asyncio.wait_for would start another, whose first step waits a loop turn).
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as scope:
            patience = Patience(loop.time(), self._timeout_s, self._busy_cap_s)
            watch = _Watch(scope, patience, lambda: self._last_reply)
            try:
                result = await make()
            finally:
                watch.cancel()
        self._last_reply = loop.time()
        return result

    async def get(self, key: str) -> str | None:
        return await self._call("get", lambda: self.inner.get(key))

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return await self._call("get_many", lambda: self.inner.get_many(keys))

    async def set(self, key: str, value: str, ttl_ms: int) -> None:
        await self._call("set", lambda: self.inner.set(key, value, ttl_ms))

    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool:
        return await self._call("set_if_absent", lambda: self.inner.set_if_absent(key, value, ttl_ms))

    async def extend_if_value(self, key: str, value: str, ttl_ms: int) -> bool:
        return await self._call("extend_if_value", lambda: self.inner.extend_if_value(key, value, ttl_ms))

    async def delete_if_value(self, key: str, value: str) -> bool:
        return await self._call("delete_if_value", lambda: self.inner.delete_if_value(key, value))

    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        return await self._call("append", lambda: self.inner.append(key, value, ttl_ms))

    async def read_from(self, key: str, start: int) -> list[str]:
        return await self._call("read_from", lambda: self.inner.read_from(key, start))

    async def write(self, writes: Sequence[Write]) -> None:
        await self._call("write", lambda: self.inner.write(writes))

    async def ping(self) -> bool:
        try:
            return await self._call("ping", self.inner.ping)
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self.inner.close()
