"""A lease in the store: one holder at a time across processes, under SET NX PX and a token of its own.

Renewed every third of its TTL, it outlives slow work but not a dead holder; only its token's owner
renews or frees it. The holder's failure travels as an entry, so waiters elsewhere get the error too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from shared.errors import DominusError
from shared.stores.base import Free, Store, StoreUnavailable, Write

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class SharedFailure(DominusError):
    """The holder's error, as a waiter in another process receives it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status  # type: ignore[misc]  # mirrors the holder's error class


def failure_entry(error: DominusError) -> dict[str, Any]:
    return {"error": {"status": error.status, "code": error.code, "message": error.message}}


def shared_failure(entry: Mapping[str, Any]) -> SharedFailure:
    error = entry["error"]
    return SharedFailure(int(error["status"]), str(error["code"]), str(error["message"]))


class Lease:
    """A held lease, renewed by a heartbeat until `release()`; `lost` once another may hold it."""

    def __init__(self, store: Store, key: str, ttl_ms: int, sleep: Sleep) -> None:
        self.key, self.token = key, uuid.uuid4().hex
        self.lost = False
        self._store, self._ttl_ms, self._sleep = store, ttl_ms, sleep
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def take(cls, store: Store, key: str, ttl_ms: int, *, sleep: Sleep = asyncio.sleep) -> Lease | None:
        """The lease, renewed from now on, or None while someone holds it. Raises StoreUnavailable."""
        lease = cls(store, key, ttl_ms, sleep)
        if not await store.set_if_absent(key, lease.token, ttl_ms):
            return None
        lease._heartbeat = asyncio.create_task(lease._keep())
        return lease

    async def _keep(self) -> None:
        while True:
            await self._sleep(self._ttl_ms / 3000)
            try:
                if not await self._store.extend_if_value(self.key, self.token, self._ttl_ms):
                    self.lost = True
                    logger.warning("lost the lease %s; another caller may do the same work", self.key)
                    return
            except StoreUnavailable:
                continue  # the next beat may get through before the lease expires

    async def release(self, writes: Sequence[Write] = ()) -> bool:
        """Stop renewing, apply `writes` (what the holder leaves for the others), and free the lease if
        still ours so a waiter need not wait it out: one round trip. Whether the store took them."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        # A cancellation arriving here must not replace the error the holder is raising.
        with contextlib.suppress(StoreUnavailable, asyncio.CancelledError):
            await self._store.write([*writes, Free(self.key, self.token)])
            return True
        return False
