"""Single-process store: the embedded default of `make run`, and the fast unit-test backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from shared.stores.base import Free, Push, Put, Write


class MemoryStore:
    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[str | list[str], float]] = {}

    def _live(self, key: str) -> str | list[str] | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry[0]

    def _expiry(self, ttl_ms: int) -> float:
        return self._clock() + ttl_ms / 1000

    def _string(self, key: str) -> str | None:
        value = self._live(key)
        return value if isinstance(value, str) else None

    async def get(self, key: str) -> str | None:
        with self._lock:
            return self._string(key)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        with self._lock:
            return [self._string(key) for key in keys]

    async def set(self, key: str, value: str, ttl_ms: int) -> None:
        with self._lock:
            self._values[key] = (value, self._expiry(ttl_ms))

    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._values[key] = (value, self._expiry(ttl_ms))
            return True

    async def extend_if_value(self, key: str, value: str, ttl_ms: int) -> bool:
        with self._lock:
            if self._live(key) != value:
                return False
            self._values[key] = (value, self._expiry(ttl_ms))
            return True

    async def delete_if_value(self, key: str, value: str) -> bool:
        with self._lock:
            return self._delete_if_value(key, value)

    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        with self._lock:
            return self._append(key, value, ttl_ms)

    async def write(self, writes: Sequence[Write]) -> None:
        with self._lock:
            for step in writes:
                if isinstance(step, Put):
                    self._values[step.key] = (step.value, self._expiry(step.ttl_ms))
                elif isinstance(step, Push):
                    self._append(step.key, step.value, step.ttl_ms)
                else:
                    assert isinstance(step, Free)
                    self._delete_if_value(step.key, step.value)

    def _delete_if_value(self, key: str, value: str) -> bool:
        if self._live(key) != value:
            return False
        del self._values[key]
        return True

    def _append(self, key: str, value: str, ttl_ms: int) -> int:
        items = self._live(key)
        items = [*items, value] if isinstance(items, list) else [value]
        self._values[key] = (items, self._expiry(ttl_ms))
        return len(items)

    async def read_from(self, key: str, start: int) -> list[str]:
        with self._lock:
            items = self._live(key)
            return list(items[start:]) if isinstance(items, list) else []

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        with self._lock:
            self._values.clear()
