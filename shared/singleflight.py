"""Single-flight: concurrent identical calls make one upstream call, across processes and Lambdas.

In one process, identical calls await one future. Across processes, the first caller takes a lease
(SET NX PX) and keeps it alive with a heartbeat while it works; the others poll for its published
result. A leader that dies stops renewing its lease, the lease expires, and a waiter takes over.
A waiter never waits past its bound: then it calls upstream itself. The leader's failure is shared
too, so a failing upstream is not hammered once per waiter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from shared.cache_keys import KeySpace
from shared.errors import DominusError
from shared.lease import Lease, failure_entry, shared_failure
from shared.stores.base import Put, Store, Write

logger = logging.getLogger(__name__)


class Role(StrEnum):
    LEADER = "leader"
    FOLLOWER = "follower"


class FollowTimeout(Exception):
    """Waited the whole bound without a result: the caller goes upstream itself."""


def _open(envelope: str) -> str:
    data: dict[str, Any] = json.loads(envelope)
    if "ok" in data:
        answer: str = data["ok"]
        return answer
    raise shared_failure(data)


class SingleFlight:
    def __init__(
        self,
        store: Store,
        *,
        lease_ms: int,
        wait_ms: int,
        result_ttl_ms: int = 10_000,
        poll_min_ms: float = 4,
        poll_max_ms: float = 50,
    ) -> None:
        self._store = store
        self._lease_ms = lease_ms
        self._wait_s = wait_ms / 1000
        self._result_ttl_ms = result_ttl_ms
        self._poll_min_s = poll_min_ms / 1000
        self._poll_max_s = poll_max_ms / 1000
        self._local: dict[str, asyncio.Future[str]] = {}

    def in_process(self, keys: KeySpace) -> bool:
        """Whether an identical call in this process is in flight (joining it needs no store)."""
        return keys.lease in self._local

    async def run(
        self, keys: KeySpace, produce: Callable[[], Awaitable[str]], *, cache_ttl_ms: int | None = None
    ) -> tuple[str, Role]:
        """The answer and this caller's role. Raises StoreUnavailable before any upstream call only.

        With `cache_ttl_ms`, the leader also admits its answer to the cache, in the round trip that
        publishes it and frees the lease.
        """
        while (local := self._local.get(keys.lease)) is not None:
            try:
                return await asyncio.shield(local), Role.FOLLOWER
            except asyncio.CancelledError:
                if not local.cancelled():
                    raise  # this caller itself was cancelled
                # the local leader was cancelled (its client left): try again, maybe as leader
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._local[keys.lease] = future
        try:
            answer, role = await self._run_distributed(keys, produce, cache_ttl_ms)
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # marks it retrieved when no local waiter exists
            else:
                future.cancel()
            raise
        else:
            future.set_result(answer)
            return answer, role
        finally:
            del self._local[keys.lease]

    async def _run_distributed(
        self, keys: KeySpace, produce: Callable[[], Awaitable[str]], cache_ttl_ms: int | None
    ) -> tuple[str, Role]:
        deadline, pause = time.monotonic() + self._wait_s, self._poll_min_s
        holder: str | None = None
        while True:
            # Nobody leads: at first, or the leader finished without publishing, or died and its lease expired.
            if holder is None and (lease := await Lease.take(self._store, keys.lease, self._lease_ms)) is not None:
                return await self._lead(keys, lease, produce, cache_ttl_ms), Role.LEADER
            result, holder = await self._store.get_many([keys.result, keys.lease])
            if result is not None:
                return _open(result), Role.FOLLOWER
            if holder is not None:
                if time.monotonic() >= deadline:
                    raise FollowTimeout(keys.lease)
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, self._poll_max_s)

    async def _lead(
        self, keys: KeySpace, lease: Lease, produce: Callable[[], Awaitable[str]], cache_ttl_ms: int | None
    ) -> str:
        writes: list[Write] = []  # what the lease's release leaves behind: the answer or the error
        try:
            try:
                answer = await produce()
            except DominusError as exc:
                writes = [self._result(keys, failure_entry(exc))]
                raise
            if cache_ttl_ms is not None:
                writes.append(Put(keys.cache, answer, cache_ttl_ms))
            writes.append(self._result(keys, {"ok": answer}))
            return answer
        finally:
            # Whatever happened, even cancellation; the store failing here must not fail the leader's call.
            if not await lease.release(writes) and writes:
                logger.warning("result not published (nor cached): store unavailable; waiters will take over")

    def _result(self, keys: KeySpace, envelope: dict[str, Any]) -> Put:
        """The result for waiters."""
        return Put(keys.result, json.dumps(envelope), self._result_ttl_ms)
