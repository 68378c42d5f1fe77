"""The store for work that must be de-duplicated in this process even when no shared store is there."""

from __future__ import annotations

from collections.abc import Sequence

from shared.stores.base import Write


class NothingShared:
    """A store that keeps nothing and that no other process sees: every lookup misses, every lease is
    granted, so SingleFlight over it is single-flight within this process only (its own futures)."""

    name = "none"

    async def get(self, key: str) -> str | None:
        return None

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return [None] * len(keys)

    async def set(self, key: str, value: str, ttl_ms: int) -> None:
        return None

    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool:
        return True

    async def extend_if_value(self, key: str, value: str, ttl_ms: int) -> bool:
        return True

    async def delete_if_value(self, key: str, value: str) -> bool:
        return True

    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        return 0

    async def read_from(self, key: str, start: int) -> list[str]:
        return []

    async def write(self, writes: Sequence[Write]) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
