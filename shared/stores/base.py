"""The store interface the engine uses for its cache, leases and shared results.

Backends implement a handful of record operations (as Powertools' idempotency layer does); the
engine never sees which one it has. `GuardedStore` bounds every call with a small timeout and, after
a failure, skips the store for a short cool-down, so a dead Redis costs one timeout, not one per call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
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

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class GuardedStore:
    """A store whose every call is bounded and whose failures raise `StoreUnavailable`."""

    def __init__(
        self,
        inner: Store,
        *,
        timeout_s: float,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self._timeout_s = timeout_s
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._skip_until = 0.0

    async def _call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        if self._clock() < self._skip_until:
            raise StoreUnavailable(f"{self.name} store skipped during its cool-down after a failure")
        try:
            return await asyncio.wait_for(make(), self._timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._skip_until = self._clock() + self._cooldown_s
            logger.warning("store %s failed on %s: %s", self.name, operation, type(exc).__name__)
            raise StoreUnavailable(f"{self.name} store failed on {operation}: {type(exc).__name__}") from exc

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

    async def ping(self) -> bool:
        try:
            return await self._call("ping", self.inner.ping)
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self.inner.close()
