"""The store lease under single-flight and shared streams, on a clock that moves only when told to."""

from __future__ import annotations

import asyncio

import pytest

from shared.lease import Lease
from shared.stores.memory import MemoryStore

pytestmark = pytest.mark.anyio

KEY, TTL_MS = "dominus:v1:acme:lease:x", 3_000  # the heartbeat beats every second


class ManualTime:
    """The store's clock and the heartbeat's sleep: a sleeper wakes when `advance` passes its time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, wake))
        await wake

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [wake for at, wake in self._sleepers if at <= self.now]
        self._sleepers = [(at, wake) for at, wake in self._sleepers if at > self.now]
        for wake in due:
            if not wake.cancelled():  # a released lease's heartbeat was cancelled mid-sleep
                wake.set_result(None)
        for _ in range(3):  # a woken heartbeat renews against the in-memory store without blocking
            await asyncio.sleep(0)


@pytest.fixture
def time() -> ManualTime:
    return ManualTime()


async def take(store: MemoryStore, time: ManualTime) -> Lease | None:
    lease = await Lease.take(store, KEY, TTL_MS, sleep=time.sleep)
    await time.advance(0.0)  # its heartbeat is now asleep until the first beat
    return lease


async def test_a_second_taker_is_refused_until_the_holder_releases(time: ManualTime) -> None:
    store = MemoryStore(clock=time)
    first = await take(store, time)
    assert first is not None
    assert await take(store, time) is None
    await first.release()
    second = await take(store, time)
    assert second is not None and second.token != first.token
    await second.release()


async def test_the_heartbeat_keeps_the_lease_long_past_its_ttl(time: ManualTime) -> None:
    store = MemoryStore(clock=time)
    lease = await take(store, time)
    assert lease is not None
    for _ in range(10):  # ten seconds, a beat each
        await time.advance(1.0)
    assert await store.get(KEY) == lease.token
    assert not lease.lost
    await lease.release()
    assert await store.get(KEY) is None
    await time.advance(10.0)  # nothing renews a released lease
    assert await store.get(KEY) is None


async def test_a_holder_stalled_past_its_ttl_reports_the_loss_and_cannot_free_the_new_holders_lease(
    time: ManualTime,
) -> None:
    store = MemoryStore(clock=time)
    stalled = await take(store, time)
    assert stalled is not None
    time.now += 4.0  # past the TTL before its first beat: the lease expired
    successor = await take(store, time)
    assert successor is not None
    await time.advance(0.0)  # the stalled holder's overdue beat runs now
    assert stalled.lost and not successor.lost
    await stalled.release()
    assert await store.get(KEY) == successor.token
    await successor.release()
