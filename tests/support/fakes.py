"""Fakes for unit tests only (no I/O). Integration tests use the real servers instead."""

from __future__ import annotations

import asyncio
import json
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
