"""One store suite, three backends: Memory, Redis (redis-py) and Upstash (REST server over redis-server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from shared.stores.base import GuardedStore, Store, StoreUnavailable
from shared.stores.memory import MemoryStore
from shared.stores.redis_store import RedisStore
from shared.stores.upstash import UpstashStore
from tests.support.redis_fixtures import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(params=["memory", "redis", "upstash"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    built: Store
    if request.param == "memory":
        built = MemoryStore()
    elif request.param == "redis":
        built = RedisStore.from_url(request.getfixturevalue("redis_url"), timeout_s=1.0)
    else:
        url, token = request.getfixturevalue("upstash_rest")
        built = UpstashStore.from_credentials(url, token, timeout_s=1.0)
    yield built
    await built.close()


async def test_get_set_and_expiry(store: Store) -> None:
    assert await store.get("k") is None
    await store.set("k", '{"json": "välue ✓"}', ttl_ms=150)
    assert await store.get("k") == '{"json": "välue ✓"}'
    assert await store.get_many(["k", "missing"]) == ['{"json": "välue ✓"}', None]
    await asyncio.sleep(0.3)
    assert await store.get("k") is None


async def test_set_if_absent_takes_a_lease_once(store: Store) -> None:
    assert await store.set_if_absent("lease", "me", 5_000) is True
    assert await store.set_if_absent("lease", "you", 5_000) is False
    assert await store.get("lease") == "me"


async def test_only_the_holder_extends_or_releases_a_lease(store: Store) -> None:
    await store.set_if_absent("lease", "me", 200)
    assert await store.extend_if_value("lease", "you", 5_000) is False
    assert await store.extend_if_value("lease", "me", 5_000) is True
    await asyncio.sleep(0.3)
    assert await store.get("lease") == "me"  # extended past its first TTL
    assert await store.delete_if_value("lease", "you") is False
    assert await store.delete_if_value("lease", "me") is True
    assert await store.get("lease") is None
    assert await store.delete_if_value("lease", "me") is False


async def test_append_and_read_from_keep_order_and_expire(store: Store) -> None:
    assert [await store.append("chunks", f"c{i}", 300) for i in range(4)] == [1, 2, 3, 4]
    assert await store.read_from("chunks", 0) == ["c0", "c1", "c2", "c3"]
    assert await store.read_from("chunks", 2) == ["c2", "c3"]
    assert await store.read_from("nothing", 0) == []
    await asyncio.sleep(0.45)
    assert await store.read_from("chunks", 0) == []


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_a_stopped_redis_fails_fast_then_recovers(redis_server: RedisServer, redis_url: str) -> None:
    guarded = GuardedStore(RedisStore.from_url(redis_url, 0.2), timeout_s=0.25, cooldown_s=0.3)
    await guarded.set("k", "v", 10_000)
    redis_server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await guarded.get("k")
    with pytest.raises(StoreUnavailable, match="cool-down"):
        await guarded.get("k")  # skipped without touching the network
    assert time.monotonic() - started < 1.0
    redis_server.start()
    await asyncio.sleep(0.35)
    assert await guarded.get("k") is None  # a fresh server: the store works again
    await guarded.close()
