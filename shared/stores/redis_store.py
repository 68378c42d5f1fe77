"""Redis over its own protocol (redis-py): a local redis-server, ElastiCache or Valkey."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.stores.base import DELETE_IF_VALUE_LUA, EXTEND_IF_VALUE_LUA


class RedisStore:
    name = "redis"

    def __init__(self, client: Any) -> None:
        self._client = client  # redis.asyncio.Redis with decode_responses=True

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> RedisStore:
        from redis.asyncio import BlockingConnectionPool, Redis  # only deployments that use Redis pay for it

        # A bursty process (many waiters polling at once) queues for a connection instead of failing.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=timeout_s,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        return cls(Redis(connection_pool=pool))

    async def get(self, key: str) -> str | None:
        value: str | None = await self._client.get(key)
        return value

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        values: list[str | None] = await self._client.mget(list(keys))
        return values

    async def set(self, key: str, value: str, ttl_ms: int) -> None:
        await self._client.set(key, value, px=ttl_ms)

    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool:
        return bool(await self._client.set(key, value, px=ttl_ms, nx=True))

    async def extend_if_value(self, key: str, value: str, ttl_ms: int) -> bool:
        return bool(await self._client.eval(EXTEND_IF_VALUE_LUA, 1, key, value, ttl_ms))

    async def delete_if_value(self, key: str, value: str) -> bool:
        return bool(await self._client.eval(DELETE_IF_VALUE_LUA, 1, key, value))

    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, value)
            pipe.pexpire(key, ttl_ms)
            length, _ = await pipe.execute()
        return int(length)

    async def read_from(self, key: str, start: int) -> list[str]:
        items: list[str] = await self._client.lrange(key, start, -1)
        return items

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
