"""Composition root: builds the engine's collaborators from `Settings`, once per process.

Everything heavy (boto3, redis, the upstash client, openai) is imported here or later, when a
deployment really uses it, never at module import of the request path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from shared.catalog import PriceTable
from shared.engine import Engine, EngineConfig
from shared.llm import ChatModel, OpenAIChatModel, RetryPolicy
from shared.modes import Billing, ModelPair
from shared.orgs import CachedOrgSettings, DynamoOrgRepository
from shared.perf import DynamoPerfSink, EmfObserver, Observer, PerfRecorder, log_observer
from shared.secrets import LazySecret
from shared.settings import Settings
from shared.stores.base import GuardedStore, Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
logger = logging.getLogger(__name__)


def once(make: Callable[[], T]) -> Callable[[], T]:
    """`make()` on the first call only, from whichever thread asks first (boto3 clients must not be
    built concurrently)."""
    lock = threading.Lock()
    made: list[T] = []

    def get() -> T:
        with lock:
            if not made:
                made.append(make())
            return made[0]

    return get


def build_store(settings: Settings) -> GuardedStore:
    """Upstash if configured, else Redis if configured, else the in-process Memory store."""
    timeout_s = settings.dominus_store_timeout_ms / 1000
    inner: Store
    if settings.upstash_redis_rest_url:
        from shared.stores.upstash import UpstashStore

        token = _secret(settings.upstash_redis_rest_token, settings.dominus_upstash_token_secret_arn).get() or ""
        inner = UpstashStore.from_credentials(settings.upstash_redis_rest_url, token, timeout_s)
    elif settings.redis_url:
        from shared.stores.redis_store import RedisStore

        inner = RedisStore.from_url(settings.redis_url, timeout_s)
    else:
        from shared.stores.memory import MemoryStore

        inner = MemoryStore()
    return GuardedStore(inner, timeout_s=timeout_s, cooldown_s=settings.dominus_store_cooldown_ms / 1000)


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


def build_engine(
    settings: Settings,
    *,
    dynamodb: DynamoDBClient | None = None,
    chat: ChatModel | None = None,
    store: GuardedStore | None = None,
    recorder: PerfRecorder | None = None,
) -> Engine:
    # Built on first use (boto3 costs ~180 ms to import and load): a cold cache hit never needs it.
    client = dynamodb or once(dynamodb_client)
    prices = PriceTable.with_overrides(settings.dominus_prices_json)
    repository = DynamoOrgRepository(client, settings.dominus_org_table, settings.dominus_default_balance)
    if recorder is None:
        observers: list[Observer] = [log_observer]
        if settings.dominus_env == "aws":
            observers.append(EmfObserver())
        sink = DynamoPerfSink(client, settings.dominus_perf_table, settings.dominus_perf_retention_days)
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


def engine_parts(engine: Engine) -> dict[str, Any]:
    """For health checks: what the engine runs on, without secrets."""
    return {"store": engine.store_name, "simulated_model": engine.simulated}


_process_engine: list[Engine] = []
_process_lock = threading.Lock()


def process_engine() -> Engine:
    """This process's engine (a Lambda sandbox's), built from the environment on first use."""
    with _process_lock:
        if not _process_engine:
            from shared.settings import load_settings

            _process_engine.append(build_engine(load_settings()))
        return _process_engine[0]


def flush_process_engine(timeout_s: float = 2.0) -> None:
    """Write what this invocation recorded (perf records, balance debits) before it is frozen."""
    if _process_engine and not _process_engine[0].flush_records(timeout_s):
        logger.warning("perf records still pending after %.1f s", timeout_s)
