"""Upstash Redis over its REST API (the upstash-redis client): production's store from Lambda.

The client's defaults are wrong for a request path (ARCHITECTURE.md section 4): no HTTP timeout, one
retry after 3 s, telemetry headers on. All three are set here, and its HTTP connection pool is sized
for the store calls a burst has in flight (httpx keeps only 20 alive by default, so each burst opened
most of its connections anew, TLS handshake included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.stores.base import DELETE_IF_VALUE_LUA, EXTEND_IF_VALUE_LUA, Free, Push, Put, Write


class UpstashStore:
    name = "upstash"

    def __init__(self, client: Any) -> None:
        self._client = client  # upstash_redis.asyncio.Redis

    @classmethod
    def from_credentials(cls, url: str, token: str, busy_cap_s: float, max_connections: int = 256) -> UpstashStore:
        """`busy_cap_s` bounds each HTTP request only as a backstop: `GuardedStore` bounds each call."""
        import httpx
        from upstash_redis.asyncio import Redis

        client = Redis(url=url, token=token, rest_retries=0, rest_retry_interval=0, allow_telemetry=False)
        # The client builds its httpx client with timeout=None and default limits, and offers no option.
        client._http._client = httpx.AsyncClient(
            timeout=httpx.Timeout(busy_cap_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        return cls(client)

    async def get(self, key: str) -> str | None:
        value: str | None = await self._client.get(key)
        return value

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        values: list[str | None] = await self._client.mget(*keys)
        return values

    async def set(self, key: str, value: str, ttl_ms: int) -> None:
        await self._client.set(key, value, px=ttl_ms)

    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool:
        return bool(await self._client.set(key, value, px=ttl_ms, nx=True))

    async def extend_if_value(self, key: str, value: str, ttl_ms: int) -> bool:
        return bool(await self._client.eval(EXTEND_IF_VALUE_LUA, keys=[key], args=[value, str(ttl_ms)]))

    async def delete_if_value(self, key: str, value: str) -> bool:
        return bool(await self._client.eval(DELETE_IF_VALUE_LUA, keys=[key], args=[value]))

    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        pipe = self._client.pipeline()
        pipe.rpush(key, value)
        pipe.pexpire(key, ttl_ms)
        length, _ = await pipe.exec()
        return int(length)

    async def read_from(self, key: str, start: int) -> list[str]:
        items: list[str] = await self._client.lrange(key, start, -1)
        return items

    async def write(self, writes: Sequence[Write]) -> None:
        pipe = self._client.pipeline()  # one POST /pipeline
        for step in writes:
            if isinstance(step, Put):
                pipe.set(step.key, step.value, px=step.ttl_ms)
            elif isinstance(step, Push):
                pipe.rpush(step.key, step.value)
                pipe.pexpire(step.key, step.ttl_ms)
            else:
                assert isinstance(step, Free)
                pipe.eval(DELETE_IF_VALUE_LUA, keys=[step.key], args=[step.value])
        await pipe.exec()

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.close()
