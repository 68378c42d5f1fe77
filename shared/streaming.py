"""Shared upstream streams: concurrent identical stream requests make one upstream call.

One producer task per upstream stream pushes its items (text deltas, then the final answer or an
error) into a `Broadcast` that every reader in this process replays from the start. When de-duplication
is on, the producer holds the single-flight lease and also publishes the items, in small batches, to
a list in the store; readers in other processes (other Lambda instances) poll that list from index 0,
so they too see every chunk from the start.

Who keeps the upstream call alive: a reader that leaves stops its own stream. The producer is cancelled
only when no reader is left here and no remote follower has refreshed its watch key lately; a
cancelled or failed stream is never admitted to the cache (the engine admits only a final answer).
When the leader's own client leaves while remote followers still read, the leader holds its request
open until the producer is done, because a Lambda sandbox is frozen once its request ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared.cache_keys import KeySpace
from shared.errors import DominusError, UpstreamUnavailable
from shared.lease import Lease, failure_entry, shared_failure
from shared.stores.base import Push, Store, StoreUnavailable, Write

logger = logging.getLogger(__name__)

Item = str | BaseModel  # a text delta, or the final answer (always last)
Source = Callable[[], AsyncIterator[Item]]
Prepare = Callable[[], Awaitable[None]]  # what a leader does before it starts (holds the call's cost)

CHUNK_TTL_MS = 60_000
WATCH_TTL_MS = 3_000
_WATCH_REFRESH_S = 1.0
_POLL_MIN_S, _POLL_MAX_S = 0.004, 0.03
_PUBLISH_EVERY_S = 0.025  # at most one append per stream this often: followers poll no faster than 30 ms


class StreamRole(StrEnum):
    LEADER = "leader"  # this request started the upstream stream
    LOCAL = "local"  # follows a stream started by another request in this process
    REMOTE = "remote"  # follows a stream another process publishes through the store


class StreamCancelled(DominusError):
    """The stream was stopped because every reader left."""

    status, code = 499, "cancelled"


class Broadcast:
    """Items of one stream, kept so that every local reader can replay them from the start."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.error: DominusError | None = None
        self.closed = False
        self._changed = asyncio.Condition()

    async def push(self, item: Item) -> None:
        async with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    async def close(self, error: DominusError | None = None) -> None:
        async with self._changed:
            self.closed, self.error = True, error
            self._changed.notify_all()

    def _has_news(self, index: int) -> bool:
        return index < len(self.items) or self.closed

    async def read(self) -> AsyncIterator[Item]:
        index = 0
        while True:
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._has_news, index))
                fresh, closed, error = self.items[index:], self.closed, self.error
            index += len(fresh)
            for item in fresh:
                yield item
            if closed and index >= len(self.items):
                if error is not None:
                    raise error
                return


@dataclass
class Upstream:
    """One upstream stream running in this process."""

    broadcast: Broadcast
    keys: KeySpace
    task: asyncio.Task[None] | None = None
    readers: int = 0
    chunks_key: str | None = None  # the store list carrying it to other processes (per flight)
    deadline: float = field(default_factory=lambda: time.monotonic() + 30)


def _encode(items: list[Item]) -> str:
    encoded: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            encoded.append({"d": item})
        else:
            encoded.append({"answer": item.model_dump(mode="json")})
    return json.dumps(encoded, separators=(",", ":"))


class StreamFlights:
    def __init__(
        self, store: Store, *, answer_type: type[BaseModel], lease_ms: int, wait_ms: int, budget_s: float = 30.0
    ) -> None:
        self._store = store
        self._answer_type = answer_type
        self._lease_ms = lease_ms
        self._wait_s = wait_ms / 1000
        self._budget_s = budget_s
        self._local: dict[str, Upstream] = {}

    async def open(
        self, keys: KeySpace, source: Source, *, dedupe: bool, prepare: Prepare | None = None
    ) -> Subscription:
        """Join this stream as leader, local follower or remote follower. Only a leader awaits
        `prepare` (before its upstream starts, in the caller's task, so that its error is the caller's)."""
        upstream = self._local.get(keys.lease)
        if upstream is not None:
            return Subscription(self, upstream=upstream, role=StreamRole.LOCAL)
        lease, bypass = None, False
        if dedupe:
            try:
                lease = await Lease.take(self._store, keys.lease, self._lease_ms)
            except StoreUnavailable:
                bypass = True  # no store: lead alone, unpublished
            else:
                if lease is None:
                    return Subscription(self, keys=keys, role=StreamRole.REMOTE, source=source, prepare=prepare)
        if prepare is not None:
            try:
                await prepare()
            except BaseException:
                if lease is not None:
                    await lease.release()  # a waiter may lead instead
                raise
        upstream = self._start(keys, source, lease)
        subscription = Subscription(self, upstream=upstream, role=StreamRole.LEADER)
        subscription.bypass = bypass
        return subscription

    def _start(self, keys: KeySpace, source: Source, lease: Lease | None) -> Upstream:
        chunks = f"{keys.chunks}:{lease.token}" if lease else None  # the lease's token names the flight
        upstream = Upstream(Broadcast(), keys, chunks_key=chunks)
        upstream.deadline = time.monotonic() + self._budget_s
        self._local[keys.lease] = upstream
        upstream.task = asyncio.create_task(self._produce(upstream, source, lease))
        return upstream

    async def _produce(self, upstream: Upstream, source: Source, lease: Lease | None) -> None:
        outbox: asyncio.Queue[Item | None] = asyncio.Queue()
        chunks = upstream.chunks_key
        publisher = asyncio.create_task(self._publish(chunks, outbox)) if chunks else None
        error: DominusError | None = None
        try:
            async for item in source():
                await upstream.broadcast.push(item)
                outbox.put_nowait(item)
                # Let readers forward this chunk now: a model that sends a burst must not make the
                # first chunk wait for the last one to be relayed.
                await asyncio.sleep(0)
        except DominusError as exc:
            error = exc
        except asyncio.CancelledError:
            error = StreamCancelled("Every reader left; the upstream call was cancelled.")
            raise
        except Exception as exc:  # an unexpected failure still ends every reader's stream cleanly
            logger.exception("stream producer failed")
            error = UpstreamUnavailable(f"The stream failed: {type(exc).__name__}")
        finally:
            await self._finish(upstream, error, outbox, publisher, lease)

    async def _finish(
        self,
        upstream: Upstream,
        error: DominusError | None,
        outbox: asyncio.Queue[Item | None],
        publisher: asyncio.Task[list[Item]] | None,
        lease: Lease | None,
    ) -> None:
        """End the stream for every reader, here and elsewhere; shielded, so a cancellation (the last
        reader leaving) cannot leave the lease held or remote followers without an ending."""
        import anyio

        keys, chunks = upstream.keys, upstream.chunks_key
        with anyio.CancelScope(shield=True):
            await upstream.broadcast.close(error)
            self._local.pop(keys.lease, None)
            writes: list[Write] = []
            if publisher is not None and chunks is not None:
                outbox.put_nowait(None)
                with contextlib.suppress(Exception):
                    if rest := await publisher:
                        writes.append(Push(chunks, _encode(rest), CHUNK_TTL_MS))
                if error is not None:
                    writes.append(Push(chunks, json.dumps([failure_entry(error)]), CHUNK_TTL_MS))
            # The last chunks (the answer, or the error) and the lease's end: one round trip.
            if lease is not None and not await lease.release(writes) and writes:
                logger.warning("the stream's last chunks not published: store unavailable")

    async def _publish(self, chunks: str, outbox: asyncio.Queue[Item | None]) -> list[Item]:
        """Append what the producer made, a batch per round trip at most every `_PUBLISH_EVERY_S`, until the
        producer is done; then the items not yet appended, for `_finish` to write with the lease's release.

        Items the store did not take are kept and sent with the next batch: remote followers read the
        list as one text, so a batch dropped in the middle would garble it, while a late one only pauses.
        """
        unsent: list[Item] = []
        warned = False
        while True:
            batch = [await outbox.get()]
            while not outbox.empty():
                batch.append(outbox.get_nowait())
            unsent += [item for item in batch if item is not None]
            if batch[-1] is None:  # the producer is done
                return unsent
            try:
                await self._store.append(chunks, _encode(unsent), CHUNK_TTL_MS)
            except StoreUnavailable:
                if not warned:
                    logger.warning("stream chunks not published yet; they go with the next batch")
                    warned = True
            else:
                unsent = []
            # Chunks made meanwhile wait for the next batch: a round trip per interval, not per chunk
            # (a model sending a chunk every 5 ms cost 40 appends per stream).
            await asyncio.sleep(_PUBLISH_EVERY_S)

    async def watched_elsewhere(self, keys: KeySpace) -> bool:
        try:
            return await self._store.get(keys.watch) is not None
        except StoreUnavailable:
            return False

    async def watch(self, keys: KeySpace) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self._store.set(keys.watch, "1", WATCH_TTL_MS)

    def decode(self, raw: str) -> list[Item | DominusError]:
        out: list[Item | DominusError] = []
        for entry in json.loads(raw):
            if "d" in entry:
                out.append(str(entry["d"]))
            elif "answer" in entry:
                out.append(self._answer_type.model_validate(entry["answer"]))
            else:
                out.append(shared_failure(entry))
        return out


class LeaderLost(Exception):
    """A remote leader vanished before this follower received anything: it may lead instead."""


class Subscription:
    """One reader's view of a shared stream; iterate it, then `close()` it (also when cancelled)."""

    def __init__(
        self,
        flights: StreamFlights,
        *,
        role: StreamRole,
        upstream: Upstream | None = None,
        keys: KeySpace | None = None,
        source: Source | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self.flights = flights
        self.role = role
        self.upstream = upstream
        self.keys = keys or (upstream.keys if upstream else None)
        self.source = source
        self.prepare = prepare
        self.bypass = False  # the store was down: this stream runs alone, unpublished
        self._items: AsyncIterator[Item] | None = None
        if upstream is not None:
            upstream.readers += 1

    def items(self) -> AsyncIterator[Item]:
        self._items = self._iterate()
        return self._items

    async def _iterate(self) -> AsyncIterator[Item]:
        if self.role is StreamRole.REMOTE:
            try:
                async for item in self._follow_remote():
                    yield item
                return
            except LeaderLost:
                # Nothing reached this reader yet: it starts the stream itself (a fresh lease).
                assert self.keys is not None
                assert self.source is not None
                again = await self.flights.open(self.keys, self.source, dedupe=True, prepare=self.prepare)
                self.role, self.upstream = again.role, again.upstream
                if self.upstream is None:
                    async for item in self._follow_remote():
                        yield item
                    return
        assert self.upstream is not None
        async for item in self.upstream.broadcast.read():
            yield item

    async def _follow_remote(self) -> AsyncIterator[Item]:
        """Read the leader's published chunks from the start until its answer or error."""
        assert self.keys is not None
        store, keys = self.flights._store, self.keys
        flight: str | None = None  # the leader's lease token names its chunk list
        index, received, pause = 0, False, _POLL_MIN_S
        deadline = time.monotonic() + self.flights._wait_s
        next_watch = 0.0
        while True:
            if time.monotonic() >= next_watch:
                await self.flights.watch(keys)
                next_watch = time.monotonic() + _WATCH_REFRESH_S
            try:
                lease = await store.get(keys.lease)
                flight = flight or lease
                if flight is None:
                    raise LeaderLost
                batches = await store.read_from(f"{keys.chunks}:{flight}", index)
            except StoreUnavailable:
                raise UpstreamUnavailable("Lost contact with the shared stream; try again.") from None
            if batches:
                index += len(batches)
                pause = _POLL_MIN_S
                for batch in batches:
                    for item in self.flights.decode(batch):
                        if isinstance(item, DominusError):
                            raise item
                        received = True
                        yield item
                        if not isinstance(item, str):
                            return  # the final answer
                continue
            if lease != flight:
                # The leader released its lease: what it published last was read above, unless it
                # landed in between; one more read settles it.
                if await store.read_from(f"{keys.chunks}:{flight}", index):
                    continue
                if not received:
                    raise LeaderLost
                raise UpstreamUnavailable(
                    "The shared stream stopped before it finished; try again.", code="stream_interrupted"
                )
            if time.monotonic() >= deadline:
                raise UpstreamUnavailable("The shared stream took too long; try again.", code="stream_timeout")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, _POLL_MAX_S)

    async def close(self) -> None:
        """This reader is done or gone. The last reader out cancels a stream nobody else follows.

        Runs shielded: it is called while the reader's request is being cancelled (a disconnect).
        """
        import anyio

        with anyio.CancelScope(shield=True):
            if self._items is not None:
                with contextlib.suppress(Exception):
                    await self._items.aclose()  # type: ignore[attr-defined]
            await self._leave()

    async def _leave(self) -> None:
        upstream = self.upstream
        if upstream is None:
            return
        upstream.readers -= 1
        task = upstream.task
        if task is None or task.done() or upstream.readers > 0 or upstream.broadcast.closed:
            return  # others still read, or the stream already ended and is only tidying up
        if upstream.chunks_key and await self.flights.watched_elsewhere(upstream.keys):
            # Followers elsewhere read what this process publishes: finish for them. The wait is
            # shielded from this request's own cancellation and bounded by the producer's budget.
            remaining = max(0.0, upstream.deadline - time.monotonic())
            await asyncio.wait({task}, timeout=remaining)
            return
        task.cancel()
        await asyncio.wait({task}, timeout=2.0)
