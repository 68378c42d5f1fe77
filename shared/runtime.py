"""Composition root: builds the engine's collaborators from `Settings`, once per process.

Everything heavy (boto3, redis, the upstash client, openai) is imported here or later, when a
deployment really uses it, never at module import of the request path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import SecretStr
from starlette.requests import Request

from shared.catalog import PriceTable
from shared.engine import Engine, EngineConfig
from shared.job_events import EventBridgeEvents, JobEvents, MemoryEvents, event_bridge_client
from shared.jobs import DynamoJobRepository, JobStore
from shared.llm import ChatModel, OpenAIChatModel, RetryPolicy
from shared.modes import Billing, ModelPair
from shared.orgs import CachedOrgSettings, DynamoOrgRepository
from shared.perf import DynamoPerfSink, EmfObserver, Observer, PerfRecorder, PerfSink, log_observer
from shared.secrets import LazySecret
from shared.settings import Settings
from shared.stores.base import GuardedStore, Store
from shared.work import LambdaWork, LocalWork, WorkQueue, lambda_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
J = TypeVar("J", bound=JobStore)
logger = logging.getLogger(__name__)


class Lazy(Generic[T]):
    """`make()` on the first call only, from whichever thread asks first (boto3 clients must not be
    built concurrently); `peek()` tells whether it was made, without making it."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made: list[T] = []

    def __call__(self) -> T:
        with self._lock:
            if not self._made:
                self._made.append(self._make())
            return self._made[0]

    def peek(self) -> T | None:
        return self._made[0] if self._made else None


def once(make: Callable[[], T]) -> Lazy[T]:
    return Lazy(make)


def build_store(settings: Settings) -> GuardedStore:
    """Upstash if configured, else Redis if configured, else the in-process Memory store."""
    busy_cap_s = settings.dominus_store_busy_cap_ms / 1000
    connections = settings.dominus_store_connections
    inner: Store
    if settings.upstash_redis_rest_url:
        from shared.stores.upstash import UpstashStore

        token = _secret(settings.upstash_redis_rest_token, settings.dominus_upstash_token_secret_arn).get() or ""
        inner = UpstashStore.from_credentials(settings.upstash_redis_rest_url, token, busy_cap_s, connections)
    elif settings.redis_url:
        from shared.stores.redis_store import RedisStore

        inner = RedisStore.from_url(settings.redis_url, busy_cap_s, connections)
    else:
        from shared.stores.memory import MemoryStore

        inner = MemoryStore()
    return GuardedStore(
        inner,
        timeout_s=settings.dominus_store_timeout_ms / 1000,
        busy_cap_s=busy_cap_s,
        cooldown_s=settings.dominus_store_cooldown_ms / 1000,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        budget_s=settings.dominus_upstream_budget_s,
        attempt_timeout_s=settings.dominus_upstream_attempt_timeout_s,
        connect_timeout_s=settings.dominus_upstream_connect_timeout_s,
        max_attempts=settings.dominus_upstream_max_attempts,
    )


def _secret(value: SecretStr | None, arn: str | None) -> LazySecret:
    return LazySecret(value.get_secret_value() if value else None, arn)


def build_chat_model(settings: Settings) -> OpenAIChatModel:
    key = _secret(settings.openai_api_key, settings.dominus_openai_secret_arn)
    return OpenAIChatModel(api_key=key.get, base_url=settings.openai_base_url, policy=retry_policy(settings))


def dynamodb_client(endpoint_url: str | None = None) -> DynamoDBClient:
    import boto3
    from botocore.config import Config

    # Small timeouts and standard retries: DynamoDB answers in milliseconds or is having a bad day.
    config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("dynamodb", endpoint_url=endpoint_url, config=config)


def s3_client() -> S3Client:
    import boto3
    from botocore.config import Config

    # Photos and DSMs of tens of MB: a longer read timeout than DynamoDB's.
    config = Config(connect_timeout=2, read_timeout=15, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("s3", config=config)


def build_engine(
    settings: Settings,
    *,
    dynamodb: DynamoDBClient | Callable[[], DynamoDBClient] | None = None,
    chat: ChatModel | None = None,
    store: GuardedStore | None = None,
    recorder: PerfRecorder | None = None,
    perf_sink: PerfSink | None = None,
) -> Engine:
    """The engine on these settings. Its perf records go to `perf_sink` (by default DynamoDB, written
    from this process: right for Lambda, which writes them after the response), through `recorder`
    when one is given instead."""
    # Built on first use (boto3 costs ~180 ms to import and load): a cold cache hit never needs it.
    client = dynamodb or once(dynamodb_client)
    prices = PriceTable.with_overrides(settings.dominus_prices_json)
    repository = DynamoOrgRepository(client, settings.dominus_org_table, settings.dominus_default_balance)
    if recorder is None:
        observers: list[Observer] = [log_observer]
        if settings.dominus_env == "aws":
            observers.append(EmfObserver())
        sink = perf_sink or DynamoPerfSink(client, settings.dominus_perf_table, settings.dominus_perf_retention_days)
        recorder = PerfRecorder([sink], observers)
    return Engine(
        store=store or build_store(settings),
        orgs=CachedOrgSettings(repository, settings.dominus_org_settings_ttl_s),
        chat=chat or build_chat_model(settings),
        billing=Billing(prices, settings.dominus_usd_per_balance_token),
        recorder=recorder,
        config=EngineConfig(
            models=ModelPair(cheap=settings.dominus_cheap_model, smart=settings.dominus_smart_model),
            auto_threshold=settings.dominus_auto_threshold,
            lease_ms=settings.dominus_lease_ms,
            follow_wait_ms=settings.dominus_follow_wait_ms,
            org_settings_ttl_ms=int(settings.dominus_org_settings_ttl_s * 1000),
        ),
    )


@dataclass(frozen=True)
class Clients:
    """What a function's routes and event handlers are built on, each made on first use.

    Deployed, they come from the environment (`from_settings`); the dev server hands the builder its
    own (moto, the simulated model, its store): the same functions, with local clients.
    """

    settings: Settings
    dynamodb: Callable[[], DynamoDBClient]
    s3: Callable[[], S3Client]
    store: Callable[[], GuardedStore]
    engine: Lazy[Engine]
    has_model: bool  # a model to call: credentials deployed, or the local (simulated) one
    # Where clients post presigned uploads when that is not S3 itself (the dev server's forwarder).
    upload_url: Callable[[Request], str] | None = None
    # Runs an event handler's coroutine to its end; by default on a loop of this sandbox's own.
    run: Callable[[Coroutine[Any, Any, Any]], Any] | None = None
    # Where job-finished events go: EventBridge deployed, this process's memory locally.
    events: Callable[[], JobEvents] = field(default_factory=lambda: once(MemoryEvents))
    # Where a request hands work to run after it (a packet): its own Lambda deployed, threads locally.
    work: Callable[[], WorkQueue] = field(default_factory=lambda: once(LocalWork))

    @classmethod
    def from_settings(cls, settings: Settings) -> Clients:
        dynamodb, s3 = once(lambda: dynamodb_client()), once(s3_client)
        store = once(lambda: build_store(settings))
        engine = once(lambda: build_engine(settings, dynamodb=dynamodb, store=store()))
        events: Callable[[], JobEvents] = (
            once(lambda: EventBridgeEvents(once(event_bridge_client), settings.dominus_event_bus))
            if settings.dominus_env == "aws"
            else once(MemoryEvents)
        )
        work: Callable[[], WorkQueue] = (
            once(lambda: LambdaWork(once(lambda_client))) if settings.dominus_env == "aws" else once(LocalWork)
        )
        return cls(settings, dynamodb, s3, store, engine, settings.has_model_credentials, events=events, work=work)

    def job_store(self, kind: type[J]) -> Lazy[J]:
        """A function's job store (`kind`, a `shared.jobs.JobStore`) on the jobs table, the data bucket
        and the upload bucket, made on first use."""
        settings = self.settings
        return once(
            lambda: kind(
                DynamoJobRepository(self.dynamodb, settings.dominus_jobs_table),
                self.s3(),
                settings.dominus_bucket,
                upload_bucket=settings.dominus_upload_bucket,
                events=self.events(),
            )
        )

    def flush(self, timeout_s: float = 2.0) -> None:
        """Write what the invocation recorded (perf records, balance debits) before it is frozen."""
        engine = self.engine.peek()
        if engine is not None and not engine.flush_records(timeout_s):
            logger.warning("perf records still pending after %.1f s", timeout_s)
