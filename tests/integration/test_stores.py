"""One store suite, three backends: Memory, Redis (redis-py) and Upstash (REST server over redis-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.stores.base import Free, GuardedStore, Push, Put, Store, StoreUnavailable
from shared.stores.memory import MemoryStore
from shared.stores.redis_store import RedisStore
from shared.stores.upstash import UpstashStore
from tests.support.clock import FakeClock
from tests.support.redis_fixtures import RedisServer
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


# Entries that must still be there when a test looks are kept this long: far beyond any pause a busy
# machine can put between writing and reading. Entries meant to expire get SHORT_MS, and a test waits
# (polling) until they are gone; what must have outlived them is checked only after that.
LONG_MS = 600_000
SHORT_MS = 50


@pytest.fixture(params=["memory", "redis", "upstash"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    built: Store
    if request.param == "memory":
        built = MemoryStore()
    elif request.param == "redis":
        built = RedisStore.from_url(request.getfixturevalue("redis_url"), busy_cap_s=10.0)
    else:
        url, token = request.getfixturevalue("upstash_rest")
        built = UpstashStore.from_credentials(url, token, busy_cap_s=10.0)
    yield built
    await built.close()


async def gone(store: Store, key: str) -> None:
    async def absent() -> bool:
        return await store.get(key) is None

    await eventually(absent, f"{key!r} expired")


async def test_get_set_and_expiry(store: Store) -> None:
    assert await store.get("k") is None
    await store.set("k", '{"json": "välue ✓"}', ttl_ms=LONG_MS)
    assert await store.get("k") == '{"json": "välue ✓"}'
    assert await store.get_many(["k", "missing"]) == ['{"json": "välue ✓"}', None]
    await store.set("short", "v", ttl_ms=SHORT_MS)
    await gone(store, "short")
    assert await store.get("k") == '{"json": "välue ✓"}'


async def test_set_if_absent_takes_a_lease_once(store: Store) -> None:
    assert await store.set_if_absent("lease", "me", LONG_MS) is True
    assert await store.set_if_absent("lease", "you", LONG_MS) is False
    assert await store.get("lease") == "me"


async def test_only_the_holder_extends_or_releases_a_lease(store: Store) -> None:
    # Given a lease, and a witness key that the holder shortens to SHORT_MS after the stranger tried to
    await store.set_if_absent("lease", "me", LONG_MS)
    await store.set_if_absent("witness", "me", LONG_MS)
    assert await store.extend_if_value("lease", "you", SHORT_MS) is False
    assert await store.extend_if_value("witness", "me", SHORT_MS) is True
    # When the witness has expired (so the stranger's TTL would have run out too)
    await gone(store, "witness")
    # Then the stranger's extension did nothing
    assert await store.get("lease") == "me"
    # And only the holder releases it
    assert await store.delete_if_value("lease", "you") is False
    assert await store.delete_if_value("lease", "me") is True
    assert await store.get("lease") is None
    assert await store.delete_if_value("lease", "me") is False


async def test_append_and_read_from_keep_order_and_expire(store: Store) -> None:
    assert [await store.append("chunks", f"c{i}", LONG_MS) for i in range(4)] == [1, 2, 3, 4]
    assert await store.read_from("chunks", 0) == ["c0", "c1", "c2", "c3"]
    assert await store.read_from("chunks", 2) == ["c2", "c3"]
    assert await store.read_from("nothing", 0) == []
    await store.append("chunks", "c4", SHORT_MS)  # each append sets the list's TTL

    async def emptied() -> bool:
        return await store.read_from("chunks", 0) == []

    await eventually(emptied, "the list expired")


async def test_a_write_admits_publishes_and_frees_a_lease_in_order(store: Store) -> None:
    # Given a held lease and a list with one chunk
    await store.set_if_absent("lease", "token", LONG_MS)
    await store.append("chunks", "c0", LONG_MS)
    # When one write sets two keys, appends, and frees the lease with the wrong token, then the right one
    await store.write(
        [
            Put("cache", "answer", LONG_MS),
            Put("result", '{"ok": "answer"}', LONG_MS),
            Push("chunks", "c1", LONG_MS),
            Free("lease", "someone else"),
        ]
    )
    assert await store.get_many(["cache", "result", "lease"]) == ["answer", '{"ok": "answer"}', "token"]
    assert await store.read_from("chunks", 0) == ["c0", "c1"]
    await store.write([Push("chunks", "c2", SHORT_MS), Free("lease", "token")])
    assert await store.get("lease") is None

    # And the push set the list's TTL, as append does
    async def emptied() -> bool:
        return await store.read_from("chunks", 0) == []

    await eventually(emptied, "the list expired")


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_a_stopped_redis_fails_fast_then_recovers(redis_server: RedisServer, redis_url: str) -> None:
    clock = FakeClock()
    guarded = GuardedStore(RedisStore.from_url(redis_url, 10.0), timeout_s=10.0, cooldown_s=30.0, clock=clock)
    await guarded.set("k", "v", LONG_MS)
    redis_server.stop()
    # A stopped server refuses connections at once: the failure does not cost the timeout
    with pytest.raises(StoreUnavailable, match="failed on get: ConnectionError"):
        await guarded.get("k")
    with pytest.raises(StoreUnavailable, match="cool-down"):
        await guarded.get("k")  # skipped without touching the network
    redis_server.start()
    clock.advance(29)
    with pytest.raises(StoreUnavailable, match="cool-down"):
        await guarded.get("k")  # still cooling down, though the server is back
    clock.advance(1)
    assert await guarded.get("k") is None  # a fresh server: the store works again
    await guarded.close()
