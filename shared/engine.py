"""The engine: the one pipeline every AI call goes through.

generate(): org settings -> model choice -> org-scoped key -> cache -> single-flight -> hold the
worst case on the balance -> upstream -> validate -> admit to cache -> settle the hold -> perf record.
stream(): the same, as events.

An answer the org already has is found whatever the balance: the cache is looked up under the model
its mode asks for before the model the balance can pay for, so a fallback to the cheap model (at a
low balance) does not hide an answer cached at a higher one.

Failure policy: the store is an optimisation, so a store that fails or is slow turns the call into
a plain upstream call (`bypass`); the perf log and the balance debit never fail a call; an upstream
failure is a domain error and nothing is cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.cache_keys import KeySpace, canonical_json, check_org_id, fingerprint, org_settings_key
from shared.catalog import Usage, image_tokens
from shared.errors import DominusError, InsufficientBalance, ModelRefused, UpstreamError, UpstreamUnavailable
from shared.events import DeltaEvent, DoneEvent, ErrorEvent, MetaEvent, ResultEvent, StreamEvent
from shared.llm import ChatModel, Completion, ModelCall
from shared.modes import Billing, Mode, ModelChoice, ModelPair, select_model, settle
from shared.orgs import CachedOrgSettings, Hold, OrgSettings
from shared.outcomes import CacheOutcome
from shared.perf import Charge, PerfRecord, PerfRecorder, Status, utc_now
from shared.requests import AIRequest, AIResult, CallMeta, ImagePart
from shared.schemas import schema_name, strict_schema
from shared.singleflight import FollowTimeout, SingleFlight
from shared.stores.base import Store, StoreUnavailable
from shared.streaming import StreamFlights, StreamRole, Subscription

T = TypeVar("T", bound=BaseModel)

logger = logging.getLogger(__name__)

_REPLAY_CHUNK = 48  # characters per delta when a cached answer is replayed as a stream
_UNLIMITED = 2**62  # a balance no call exceeds: the model a mode asks for when money is no object


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is calling: the tenant (from the authorizer, never a body), the request, the capability."""

    org_id: str
    request_id: str
    function: str


@dataclass(frozen=True, slots=True)
class EngineConfig:
    models: ModelPair
    auto_threshold: int = 200
    lease_ms: int = 5_000
    follow_wait_ms: int = 26_000
    org_settings_ttl_ms: int = 30_000


class Answer(BaseModel):
    """A validated answer as the cache and the single-flight hold it."""

    model_config = ConfigDict(frozen=True)

    content: str
    model: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float | None

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.cached_input_tokens, self.output_tokens)


@dataclass(frozen=True, slots=True)
class Variant:
    """The call on one model: its choice, keys, model call and estimated cost."""

    choice: ModelChoice
    keys: KeySpace
    call: ModelCall
    estimated_cost_usd: float | None


@dataclass(slots=True)
class Plan:
    """Everything decided before a call goes anywhere."""

    ctx: CallContext
    request: AIRequest[Any]
    org: OrgSettings
    variant: Variant  # what a call upstream runs on
    worst: Callable[[str], Usage]  # the call's usage at most, per model: what a hold covers
    started: float
    # Looked up in the cache first: the call on the model the mode asks for, when the balance made
    # the choice fall back to another one.
    preferred: Variant | None = None
    outcome: CacheOutcome = CacheOutcome.MISS
    ttft_ms: float | None = None
    hold: Hold | None = None  # the worst case, taken from the balance before the call went upstream
    billed_usage: Usage | None = None  # what the model used, even when its answer was then refused
    charge_tokens: int = 0  # what the org's balance owes for it, settled off the request path

    @property
    def choice(self) -> ModelChoice:
        return self.variant.choice

    @property
    def keys(self) -> KeySpace:
        return self.variant.keys

    @property
    def call(self) -> ModelCall:
        return self.variant.call

    @property
    def estimated_cost_usd(self) -> float | None:
        return self.variant.estimated_cost_usd

    @property
    def use_cache(self) -> bool:
        return self.org.cache_enabled

    @property
    def use_dedupe(self) -> bool:
        return self.org.dedupe_enabled


class Engine:
    def __init__(
        self,
        *,
        store: Store,
        orgs: CachedOrgSettings,
        chat: ChatModel,
        billing: Billing,
        recorder: PerfRecorder,
        config: EngineConfig,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._store = store
        self._orgs = orgs
        self._chat = chat
        self._billing = billing
        self._recorder = recorder
        self._config = config
        self._clock = clock
        self._flights = SingleFlight(store, lease_ms=config.lease_ms, wait_ms=config.follow_wait_ms)
        self._streams = StreamFlights(
            store, answer_type=Answer, lease_ms=config.lease_ms, wait_ms=config.follow_wait_ms
        )

    @property
    def simulated(self) -> bool:
        return self._chat.simulated

    @property
    def store_name(self) -> str:
        return self._store.name

    async def store_healthy(self) -> bool:
        return await self._store.ping()

    async def aclose(self) -> None:
        """Release connections (store, model client); for tests and a server's shutdown."""
        await self._store.close()
        await self._chat.aclose()

    def flush_records(self, timeout_s: float = 2.0) -> bool:
        """Wait for the perf records to be written: a Lambda handler calls this before returning."""
        return self._recorder.flush(timeout_s)

    async def org_settings(self, org_id: str) -> OrgSettings:
        """The org's settings as the engine sees them (cached briefly, shared through the store)."""
        check_org_id(org_id)
        return self._orgs.cached(org_id) or await self._load_org(org_id)

    async def resolve_mode(self, ctx: CallContext, requested: Mode | None) -> Mode:
        """CHEAP or SMART: the mode a call would run in, AUTO settled by the org's balance. For a
        caller that shapes the request by mode (vision sends fewer image tokens when cheap)."""
        org = await self.org_settings(ctx.org_id)
        return settle(org.mode_default.effective(requested), org.token_balance, self._config.auto_threshold)

    # ---- structured result -------------------------------------------------------------------

    async def generate(self, ctx: CallContext, request: AIRequest[T]) -> AIResult[T]:
        plan = await self._plan(ctx, request)
        try:
            answer, outcome = await self._obtain(plan)
            value = request.response_model.model_validate_json(answer.content)
        except DominusError as exc:
            self._record(plan, plan.outcome, None, "error", error_code=exc.code)
            raise
        except asyncio.CancelledError:  # the client left: its hold is settled with the record
            self._record(plan, plan.outcome, None, "cancelled")
            raise
        meta = self._meta(plan, outcome, answer)
        self._record(plan, outcome, answer, "ok")
        return AIResult(value, meta)

    async def _obtain(self, plan: Plan) -> tuple[Answer, CacheOutcome]:
        """The answer and how it was served; `plan.outcome` says it too, should an error follow."""
        try:
            if plan.use_dedupe and self._flights.in_process(plan.keys):
                return await self._deduplicated(plan)  # an identical call here is already on it
            if plan.use_cache and (answer := await self._lookup(plan)) is not None:
                plan.outcome = CacheOutcome.HIT
                return answer, plan.outcome
            if plan.use_dedupe:
                return await self._deduplicated(plan)
        except StoreUnavailable:
            plan.outcome = CacheOutcome.BYPASS
            return await self._produce(plan, admit=False), plan.outcome
        plan.outcome = CacheOutcome.MISS if plan.use_cache else CacheOutcome.BYPASS
        return await self._produce(plan, admit=plan.use_cache), plan.outcome

    async def _deduplicated(self, plan: Plan) -> tuple[Answer, CacheOutcome]:
        async def lead() -> str:
            plan.outcome = CacheOutcome.MISS
            return (await self._produce(plan, admit=False)).model_dump_json()  # the flight admits it

        plan.outcome = CacheOutcome.SHARED  # unless this caller ends up leading
        cache_ttl_ms = plan.org.cache_ttl_s * 1000 if plan.use_cache else None
        try:
            raw, _ = await self._flights.run(plan.keys, lead, cache_ttl_ms=cache_ttl_ms)
        except FollowTimeout:
            plan.outcome = CacheOutcome.MISS
            return await self._produce(plan, admit=plan.use_cache), plan.outcome
        return Answer.model_validate_json(raw), plan.outcome

    async def _produce(self, plan: Plan, *, admit: bool) -> Answer:
        """One upstream call, its worst case held first: validate, admit to the cache if allowed."""
        await self._reserve(plan)
        completion = await self._chat.complete(plan.call)
        answer = await self._accept(plan, completion)
        if admit:
            await self._admit(plan, answer)
        return answer

    # ---- stream ------------------------------------------------------------------------------

    async def stream(self, ctx: CallContext, request: AIRequest[Any]) -> AsyncGenerator[StreamEvent, None]:
        """Events in contract order. A hit replays at once; a miss streams from the model, shared by
        every identical stream in flight (here and, through the store, in other instances)."""
        try:
            events = await self.start_stream(ctx, request)
        except DominusError as exc:
            yield ErrorEvent(exc.code, exc.message, ctx.request_id)
            return
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def start_stream(self, ctx: CallContext, request: AIRequest[Any]) -> AsyncGenerator[StreamEvent, None]:
        """`stream()`'s events, once the call is known to go ahead: what fails before the first event
        (settings, the balance's hold) raises, so an HTTP route can answer it with its status."""
        plan = await self._plan(ctx, request)
        subscription: Subscription | None = None
        try:
            cached = await self._cached_answer(plan)
            if cached is None:
                subscription = await self._streams.open(
                    plan.keys,
                    lambda: self._upstream_items(plan),
                    dedupe=plan.use_dedupe,
                    prepare=lambda: self._reserve(plan),
                )
        except DominusError as exc:
            self._record(plan, plan.outcome, None, "error", stream=True, error_code=exc.code)
            raise
        return self._stream_events(plan, cached, subscription)

    async def _stream_events(
        self, plan: Plan, cached: Answer | None, subscription: Subscription | None
    ) -> AsyncGenerator[StreamEvent, None]:
        answer: Answer | None = None
        status: Status = "cancelled"  # what a client that leaves mid-stream leaves behind
        error_code: str | None = None
        try:
            if cached is not None:
                plan.outcome, answer = CacheOutcome.HIT, cached
                yield self._meta_event(plan)
                for start in range(0, len(cached.content), _REPLAY_CHUNK):
                    yield DeltaEvent(cached.content[start : start + _REPLAY_CHUNK])
            else:
                assert subscription is not None
                plan.outcome = self._stream_outcome(plan, subscription)
                yield self._meta_event(plan)
                async for item in subscription.items():
                    if isinstance(item, str):
                        if plan.ttft_ms is None:
                            plan.ttft_ms = self._elapsed_ms(plan)
                        yield DeltaEvent(item)
                    else:
                        assert isinstance(item, Answer)
                        answer = item
                plan.outcome = self._stream_outcome(plan, subscription)  # a follower may have taken over
                if answer is None:
                    raise UpstreamError("The stream ended without an answer.", code="incomplete_output")
            meta = self._meta(plan, plan.outcome, answer)
            yield ResultEvent(json.loads(answer.content))
            yield DoneEvent.from_meta(meta)
            status = "ok"
        except DominusError as exc:
            status, error_code = "error", exc.code
            yield ErrorEvent(exc.code, exc.message, plan.ctx.request_id)
        finally:
            if subscription is not None:
                # Leaving may cancel the upstream call, or wait for it to finish for other readers;
                # either way the charge for what it used is known before the record is written.
                await subscription.close()
            self._record(
                plan, plan.outcome, answer if status == "ok" else None, status, stream=True, error_code=error_code
            )

    @staticmethod
    def _stream_outcome(plan: Plan, subscription: Subscription) -> CacheOutcome:
        if subscription.role is not StreamRole.LEADER:
            return CacheOutcome.SHARED
        if subscription.bypass or not (plan.use_cache or plan.use_dedupe):
            return CacheOutcome.BYPASS
        return CacheOutcome.MISS

    async def _upstream_items(self, plan: Plan) -> AsyncIterator[str | Answer]:
        """The leader's upstream stream (its hold already taken by `prepare`): text deltas, then the
        validated answer (admitted to the cache)."""
        completion: Completion | None = None
        async for item in self._chat.stream(plan.call):
            if isinstance(item, str):
                yield item
            else:
                completion = item
        if completion is None:
            raise UpstreamError("The model's stream ended without a completion.", code="incomplete_output")
        answer = await self._accept(plan, completion)
        if plan.use_cache:
            await self._admit(plan, answer)
        yield answer

    async def _cached_answer(self, plan: Plan) -> Answer | None:
        if not plan.use_cache:
            return None
        try:
            return await self._lookup(plan)
        except StoreUnavailable:
            return None

    async def _lookup(self, plan: Plan) -> Answer | None:
        """The cached answer, under the preferred model first; a hit there makes it the plan's call."""
        variants = [v for v in (plan.preferred, plan.variant) if v is not None]
        if len(variants) == 1:
            raws = [await self._store.get(plan.keys.cache)]
        else:
            raws = await self._store.get_many([v.keys.cache for v in variants])
        for variant, raw in zip(variants, raws, strict=True):
            if raw is not None and (answer := _parse_answer(raw)) is not None:
                plan.variant = variant
                return answer
        return None

    # ---- steps -------------------------------------------------------------------------------

    async def _plan(self, ctx: CallContext, request: AIRequest[Any]) -> Plan:
        started = self._clock()
        check_org_id(ctx.org_id)
        org = self._orgs.cached(ctx.org_id) or await self._load_org(ctx.org_id)
        schema = strict_schema(request.response_model)  # memoised per model class
        worst = _worst_case_usage(request, schema)

        def choose(balance: int) -> ModelChoice:
            return select_model(
                org_mode=org.mode_default,
                requested=request.mode,
                balance=balance,
                worst_case=worst,
                models=self._config.models,
                billing=self._billing,
                auto_threshold=self._config.auto_threshold,
            )

        choice = choose(org.token_balance)
        plan = Plan(ctx, request, org, self._variant(ctx, request, schema, worst, choice), worst, started)
        # CHEAP asks for the model that costs less, which the balance never changes; SMART and AUTO
        # ask for the smart model, so only a call that fell back from it has another key to look up.
        if choice.mode is not Mode.CHEAP and choice.model != self._config.models.smart:
            preferred = choose(_UNLIMITED)
            if preferred.model != choice.model:
                plan.preferred = self._variant(ctx, request, schema, worst, preferred)
        return plan

    def _variant(
        self,
        ctx: CallContext,
        request: AIRequest[Any],
        schema: dict[str, Any],
        worst: Callable[[str], Usage],
        choice: ModelChoice,
    ) -> Variant:
        call = ModelCall(
            model=choice.model,
            messages=[message.to_openai() for message in request.messages],
            schema_name=schema_name(request.response_model),
            schema=schema,
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
        )
        keys = KeySpace(ctx.org_id, request.operation, fingerprint(request, choice.model, schema))
        return Variant(choice, keys, call, self._billing.prices.cost_usd(choice.model, worst(choice.model)))

    async def _load_org(self, org_id: str) -> OrgSettings:
        """Org settings from the store's shared copy, else from DynamoDB (then shared for the TTL).

        Every instance then reads DynamoDB at most once per TTL per org, and a cold start whose org
        is in the store never builds a DynamoDB client before it answers.
        """
        key = org_settings_key(org_id)
        shared_copy = self._config.org_settings_ttl_ms > 0
        try:
            raw = await self._store.get(key) if shared_copy else None
        except StoreUnavailable:
            raw = None
        if raw is not None:
            try:
                settings = OrgSettings.model_validate_json(raw)
            except ValidationError:
                settings = None
            if settings is not None:
                self._orgs.remember(settings)
                return settings
        try:
            settings = await asyncio.to_thread(self._orgs.get, org_id)
        except Exception as exc:
            logger.warning("org settings unavailable: %s", type(exc).__name__)
            raise UpstreamUnavailable(
                "The org settings store is unavailable; try again shortly.", code="settings_unavailable"
            ) from exc
        if shared_copy:
            with contextlib.suppress(StoreUnavailable):
                await self._store.set(key, settings.model_dump_json(), self._config.org_settings_ttl_ms)
        return settings

    async def _reserve(self, plan: Plan) -> None:
        """Hold the call's worst case on the balance, or refuse it: no call goes upstream unpaid.

        The hold is one conditional update, so concurrent calls cannot each see the same balance and
        together spend more than it holds. It is settled to the real cost with the perf record.
        """
        tokens = self._billing.tokens_for(plan.choice.model, plan.worst(plan.choice.model))
        hold = None
        if plan.choice.affordable:
            reservation = asyncio.ensure_future(asyncio.to_thread(self._orgs.reserve, plan.ctx.org_id, tokens))
            try:
                hold = await asyncio.shield(reservation)
            except asyncio.CancelledError:
                reservation.add_done_callback(self._give_back)  # the client left while it was taken
                raise
            except Exception as exc:
                logger.warning("balance hold failed: %s", type(exc).__name__)
                raise UpstreamUnavailable(
                    "The balance store is unavailable; try again shortly.", code="balance_unavailable"
                ) from exc
        if hold is None:
            raise InsufficientBalance(
                f"The org's AI token balance cannot cover this call (up to {tokens} tokens on "
                f"{plan.choice.model}); top up the balance, or repeat a call that is already cached."
            )
        plan.hold = hold

    def _give_back(self, reservation: asyncio.Future[Hold | None]) -> None:
        if reservation.cancelled() or reservation.exception() is not None:
            return
        hold = reservation.result()
        if hold is not None:
            asyncio.get_running_loop().run_in_executor(None, self._orgs.settle, hold, 0)

    async def _accept(self, plan: Plan, completion: Completion) -> Answer:
        """Bill what the model used, then keep only a complete, schema-valid, non-refused answer."""
        self._bill(plan, completion.usage)
        if completion.refusal:
            raise ModelRefused(f"The model declined: {completion.refusal[:300]}")
        if completion.finish_reason not in (None, "stop"):
            raise UpstreamError(
                f"The model's answer was cut off ({completion.finish_reason}).", code="incomplete_output"
            )
        try:
            value = plan.request.response_model.model_validate_json(completion.content)
        except ValidationError as exc:
            raise UpstreamError(
                f"The model's answer did not match the schema ({exc.error_count()} errors).", code="invalid_output"
            ) from None
        return Answer(
            content=value.model_dump_json(),
            model=plan.choice.model,
            input_tokens=completion.usage.input_tokens,
            cached_input_tokens=completion.usage.cached_input_tokens,
            output_tokens=completion.usage.output_tokens,
            cost_usd=self._billing.prices.cost_usd(plan.choice.model, completion.usage),
        )

    async def _admit(self, plan: Plan, answer: Answer) -> None:
        try:
            await self._store.set(plan.keys.cache, answer.model_dump_json(), plan.org.cache_ttl_s * 1000)
        except StoreUnavailable:
            logger.warning("answer not cached: store unavailable")

    def _bill(self, plan: Plan, usage: Usage) -> None:
        """Note what a billed call owes. The debit itself runs with the perf record, off the request path."""
        if usage.total_tokens == 0:
            return
        plan.billed_usage = usage
        plan.charge_tokens = self._billing.tokens_for(plan.choice.model, usage)

    def _charge(self, plan: Plan) -> Charge | None:
        """The settlement of the call's hold (or a debit, for a billed call that had none)."""
        org_id, tokens, hold = plan.ctx.org_id, plan.charge_tokens, plan.hold
        if hold is None and tokens == 0:
            return None

        def charge() -> int:
            debit = self._orgs.settle(hold, tokens) if hold is not None else self._orgs.debit(org_id, tokens)
            if debit.shortfall:
                logger.warning("org balance ran out: %s tokens not covered", debit.shortfall)
            return debit.charged

        return charge

    # ---- reporting ---------------------------------------------------------------------------

    def _elapsed_ms(self, plan: Plan) -> float:
        return round((self._clock() - plan.started) * 1000, 3)

    def _meta_event(self, plan: Plan) -> MetaEvent:
        choice = plan.choice
        return MetaEvent(plan.ctx.request_id, choice.model, choice.mode.value, plan.outcome.value, self.simulated)

    def _meta(self, plan: Plan, outcome: CacheOutcome, answer: Answer) -> CallMeta:
        went_upstream = outcome in (CacheOutcome.MISS, CacheOutcome.BYPASS)
        return CallMeta(
            request_id=plan.ctx.request_id,
            model=answer.model,
            mode=plan.choice.mode,
            cache=outcome,
            usage=answer.usage if went_upstream else Usage(),
            cost_usd=answer.cost_usd if went_upstream else 0.0,
            saved_cost_usd=None if went_upstream else answer.cost_usd,
            latency_ms=self._elapsed_ms(plan),
            ttft_ms=plan.ttft_ms,
            simulated=self.simulated,
        )

    def _record(
        self,
        plan: Plan,
        outcome: CacheOutcome,
        answer: Answer | None,
        status: Status,
        *,
        stream: bool = False,
        error_code: str | None = None,
    ) -> None:
        try:
            meta = self._meta(plan, outcome, answer) if answer is not None else None
            # A failed call may still have been billed (a refusal, an invalid answer): report it.
            usage = meta.usage if meta else (plan.billed_usage or Usage())
            cost = meta.cost_usd if meta else self._billing.prices.cost_usd(plan.choice.model, usage)
            self._recorder.record(
                PerfRecord(
                    org_id=plan.ctx.org_id,
                    request_id=plan.ctx.request_id,
                    function=plan.ctx.function,
                    operation=plan.request.operation,
                    model=plan.choice.model,
                    mode=plan.choice.mode,
                    cache=outcome,
                    status=status,
                    stream=stream,
                    simulated=self.simulated,
                    latency_ms=self._elapsed_ms(plan),
                    ttft_ms=plan.ttft_ms,
                    input_tokens=usage.input_tokens,
                    cached_input_tokens=usage.cached_input_tokens,
                    output_tokens=usage.output_tokens,
                    cost_usd=cost,
                    estimated_cost_usd=plan.estimated_cost_usd,
                    saved_cost_usd=meta.saved_cost_usd if meta else None,
                    error_code=error_code,
                    timestamp=utc_now(),
                ),
                charge=self._charge(plan),
            )
        except Exception:  # an observer can never break a call
            logger.exception("perf record not written")


def _parse_answer(raw: str) -> Answer | None:
    try:
        return Answer.model_validate_json(raw)
    except ValidationError:
        logger.warning("unreadable cache entry ignored")
        return None


def _worst_case_usage(request: AIRequest[Any], schema: dict[str, Any]) -> Callable[[str], Usage]:
    """An upper estimate before the call, per model (images bill by each model's own formula): text at
    about 3 characters a token, and the whole output budget."""
    text = canonical_json([m.canonical() for m in request.messages]) + canonical_json(schema)
    images = [part for m in request.messages if not isinstance(m.content, str) for part in m.content]
    parts = [part for part in images if isinstance(part, ImagePart)]

    def on(model: str) -> Usage:
        pictures = sum(image_tokens(model, p.width, p.height, p.detail) for p in parts)
        return Usage(input_tokens=len(text) // 3 + pictures, output_tokens=request.max_output_tokens)

    return on
