"""Fakes for unit tests only (no I/O). Integration tests use the real servers instead."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from shared.catalog import PriceTable, Usage
from shared.engine import CallContext, Engine, EngineConfig
from shared.llm import Completion, ModelCall
from shared.modes import Billing, ModelPair
from shared.orgs import CachedOrgSettings, MemoryOrgRepository
from shared.perf import PerfRecord, PerfRecorder
from shared.requests import AIRequest, Message
from shared.stores.base import GuardedStore, Store, Write
from shared.stores.memory import MemoryStore


class Assessment(BaseModel):
    """A small structured output, shaped like the real ones."""

    score: int = Field(ge=0, le=100)
    summary: str = Field(max_length=500)
    reasons: list[str] = Field(max_length=5)


GOOD_ANSWER = json.dumps({"score": 72, "summary": "Hail damage likely", "reasons": ["storm 3 days ago"]})


def assessment_request(text: str = "Assess lead 42", **overrides: object) -> AIRequest[Assessment]:
    fields: dict[str, object] = {
        "operation": "analyze",
        "version": "1",
        "messages": [Message("system", "You assess roofing leads."), Message("user", text)],
        "response_model": Assessment,
    }
    fields.update(overrides)
    return AIRequest(**fields)  # type: ignore[arg-type]


@dataclass
class ScriptedChatModel:
    """Answers each call with `answer(call)` after `delay_s`; counts calls; streams in small pieces."""

    answer: Callable[[ModelCall], Completion] = lambda call: Completion(GOOD_ANSWER, None, "stop", Usage(1000, 0, 200))
    delay_s: float = 0.0
    simulated: bool = True
    calls: list[ModelCall] = field(default_factory=list)
    cancelled: int = 0  # streams stopped before their end
    called: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first call

    async def aclose(self) -> None:
        pass

    async def complete(self, call: ModelCall) -> Completion:
        self.calls.append(call)
        self.called.set()
        await asyncio.sleep(self.delay_s)
        return self.answer(call)

    async def stream(self, call: ModelCall) -> AsyncIterator[str | Completion]:
        self.calls.append(call)
        self.called.set()
        completion = self.answer(call)
        try:
            for start in range(0, len(completion.content), 10):
                await asyncio.sleep(self.delay_s / 10)
                yield completion.content[start : start + 10]
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        yield completion


class ListSink:
    def __init__(self) -> None:
        self.records: list[PerfRecord] = []

    def write(self, records: Sequence[PerfRecord]) -> None:
        self.records.extend(records)


class CountingStore(MemoryStore):
    """A Memory store that counts lookups."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, key: str) -> str | None:
        self.gets += 1
        return await super().get(key)


class RoundTrips:
    """A store that counts its calls by name, each one round trip to a networked store, and passes them on."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    async def get(self, key: str) -> str | None:
        self.calls["get"] += 1
        return await self.inner.get(key)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        self.calls["get_many"] += 1
        return await self.inner.get_many(keys)

    async def set(self, key: str, value: str, ttl_ms: int) -> None:
        self.calls["set"] += 1
        await self.inner.set(key, value, ttl_ms)

    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool:
        self.calls["set_if_absent"] += 1
        return await self.inner.set_if_absent(key, value, ttl_ms)

    async def extend_if_value(self, key: str, value: str, ttl_ms: int) -> bool:
        self.calls["extend_if_value"] += 1
        return await self.inner.extend_if_value(key, value, ttl_ms)

    async def delete_if_value(self, key: str, value: str) -> bool:
        self.calls["delete_if_value"] += 1
        return await self.inner.delete_if_value(key, value)

    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        self.calls["append"] += 1
        return await self.inner.append(key, value, ttl_ms)

    async def read_from(self, key: str, start: int) -> list[str]:
        self.calls["read_from"] += 1
        return await self.inner.read_from(key, start)

    async def write(self, writes: Sequence[Write]) -> None:
        self.calls["write"] += 1
        await self.inner.write(writes)

    async def ping(self) -> bool:
        return await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


class FailingStore(MemoryStore):
    """A store whose every call fails, as a Redis that went away."""

    name = "failing"

    async def get(self, key: str) -> str | None:
        raise ConnectionError("store down")

    async def set_if_absent(self, key: str, value: str, ttl_ms: int) -> bool:
        raise ConnectionError("store down")

    async def set(self, key: str, value: str, ttl_ms: int) -> None:
        raise ConnectionError("store down")

    async def write(self, writes: Sequence[Write]) -> None:
        raise ConnectionError("store down")


@dataclass
class EngineKit:
    engine: Engine
    chat: ScriptedChatModel
    orgs: MemoryOrgRepository
    sink: ListSink
    store: GuardedStore

    def records(self) -> list[PerfRecord]:
        self.engine.flush_records()
        return list(self.sink.records)


def engine_kit(
    *,
    chat: ScriptedChatModel | None = None,
    store: Store | None = None,
    lease_ms: int = 2_000,
    follow_wait_ms: int = 5_000,
    org_settings_ttl_s: float = 0,
) -> EngineKit:
    chat = chat or ScriptedChatModel()
    orgs = MemoryOrgRepository()
    sink = ListSink()
    guarded = GuardedStore(store or MemoryStore(), timeout_s=0.2, cooldown_s=0.0)
    engine = Engine(
        store=guarded,
        orgs=CachedOrgSettings(orgs, ttl_s=org_settings_ttl_s),
        chat=chat,
        billing=Billing(PriceTable(), usd_per_token=0.001),
        recorder=PerfRecorder([sink]),
        config=EngineConfig(
            models=ModelPair(cheap="gpt-4o-mini", smart="gpt-4o"),
            lease_ms=lease_ms,
            follow_wait_ms=follow_wait_ms,
            # by default every call reads the fake repository, so tests can change it freely
            org_settings_ttl_ms=int(org_settings_ttl_s * 1000),
        ),
    )
    return EngineKit(engine, chat, orgs, sink, guarded)


def ctx(org_id: str = "acme", request_id: str = "req-00000001") -> CallContext:
    return CallContext(org_id=org_id, request_id=request_id, function="analyze")
