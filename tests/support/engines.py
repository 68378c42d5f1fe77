"""Real engines for integration tests and benchmarks: real store, moto DynamoDB, simulated model over HTTP.

`worker_generate` runs in child processes (multiprocessing spawn), so it takes only plain data.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from shared.engine import CallContext, Engine
from shared.outcomes import CacheOutcome
from shared.runtime import build_engine, dynamodb_client
from shared.settings import Settings
from tests.support.fakes import assessment_request


def engine_settings(*, tables: dict[str, str], model_base_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings as plain keyword arguments (they cross process boundaries)."""
    base: dict[str, Any] = {
        "dominus_perf_table": tables["PerfLogTable"],
        "dominus_org_table": tables["OrgSettingsTable"],
        "openai_base_url": model_base_url,
        "openai_api_key": "sk-test-not-a-real-key",
        "dominus_org_settings_ttl_s": 0,
        # Generous (production: 12 s and 25 s): a hundred concurrent calls to the simulated model take
        # ~20 s on a busy machine. Tests of the timeouts themselves set their own.
        "dominus_upstream_attempt_timeout_s": 60,
        "dominus_upstream_budget_s": 120,
        "dominus_store_cooldown_ms": 0,
        # The most the settings allow (production: 250 ms). These engines test caching, single-flight and
        # billing, not the store's timeout, which a busy machine trips: a call then bypasses the store.
        "dominus_store_timeout_ms": 5_000,
    }
    return base | overrides


def make_engine(settings_kwargs: dict[str, Any], endpoint_url: str) -> Engine:
    return build_engine(Settings(**settings_kwargs), dynamodb=dynamodb_client(endpoint_url))


def worker_generate(
    settings_kwargs: dict[str, Any], env: dict[str, str], calls: int, start_at: float, org_id: str
) -> list[tuple[str, str]]:
    """In a child process: fire `calls` identical calls at `start_at`; (cache outcome, answer JSON) each."""
    os.environ.update(env)
    engine = make_engine(settings_kwargs, env["AWS_ENDPOINT_URL"])

    async def fire() -> list[tuple[str, str]]:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        results = await asyncio.gather(
            *(
                engine.generate(CallContext(org_id, f"req-{os.getpid()}-{i:04d}", "analyze"), assessment_request())
                for i in range(calls)
            )
        )
        await engine.aclose()
        return [(r.meta.cache.value, r.value.model_dump_json()) for r in results]

    outcomes = asyncio.run(fire())
    engine.flush_records(10)
    return outcomes


def outcome_counts(outcomes: list[str]) -> dict[str, int]:
    return {o.value: outcomes.count(o.value) for o in CacheOutcome if o.value in outcomes}
