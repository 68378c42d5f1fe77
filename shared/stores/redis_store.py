"""Redis over its own protocol (redis-py): a local redis-server, ElastiCache or Valkey."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.stores.base import DELETE_IF_VALUE_LUA, EXTEND_IF_VALUE_LUA, Free, Push, Put, Write


class RedisStore:
    name = "redis"

    def __init__(self, client: Any) -> None:
        self._client = client  # redis.asyncio.Redis with decode_responses=True

    @classmethod
    def from_url(cls, url: str, busy_cap_s: float, max_connections: int = 256) -> RedisStore:
        """A client whose pool holds a connection for each store call a burst has in flight.

        `GuardedStore` bounds each call by its patience; the socket and pool timeouts here (`busy_cap_s`)
        are only a backstop, since a wall-clock timeout on a busy event loop blames Redis for the loop.
        """
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=busy_cap_s,
            decode_responses=True,
            socket_timeout=busy_cap_s,
            socket_connect_timeout=busy_cap_s,
            # RESP2: with RESP3, redis-py 7+ turns on maintenance notifications, which skips its check for
            # a pooled connection the server closed, so every connection a Redis restart left dead failed
            # one call (and each failure started a cool-down). RESP2 also opens a connection without HELLO.
            protocol=2,
            # A connection that died in the pool (the check above misses one closed while idle but not
            # yet noticed) is retried once on a fresh one; a Redis that is down refuses that at once too.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
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
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, value)
            pipe.pexpire(key, ttl_ms)
            length, _ = await pipe.execute()
        return int(length)

    async def read_from(self, key: str, start: int) -> list[str]:
        items: list[str] = await self._client.lrange(key, start, -1)
        return items

    async def write(self, writes: Sequence[Write]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for step in writes:
                if isinstance(step, Put):
                    pipe.set(step.key, step.value, px=step.ttl_ms)
                elif isinstance(step, Push):
                    pipe.rpush(step.key, step.value)
                    pipe.pexpire(step.key, step.ttl_ms)
                else:
                    assert isinstance(step, Free)
                    pipe.eval(DELETE_IF_VALUE_LUA, 1, step.key, step.value)
            await pipe.execute()

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
