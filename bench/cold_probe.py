"""One call in a fresh process, as a cold Lambda serves it: `python bench/cold_probe.py ORG EXPECTED`.

Run by `bench.coldstart` as a script (not as part of the `bench` package, whose imports it must not
pay). The environment names the servers (REDIS_URL, OPENAI_BASE_URL, the tables, AWS_ENDPOINT_URL).
It imports the request path, builds the engine with the Redis store as a Lambda does (boto3 only
when DynamoDB is first needed), makes one call, flushes the perf record as a Lambda handler does,
and prints one JSON line: phase timings (ms), the cache outcome,
and whether `openai` was imported. A call expected to be a hit must not import openai.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from pydantic import BaseModel, Field  # noqa: E402

import shared.runtime  # noqa: E402
import shared.settings  # noqa: E402
from shared.engine import CallContext  # noqa: E402
from shared.requests import AIRequest, Message  # noqa: E402

IMPORTED = time.perf_counter()
ANSWERED = "# cold probe: answered"


class Assessment(BaseModel):
    score: int = Field(ge=0, le=100)
    summary: str = Field(max_length=500)
    reasons: list[str] = Field(max_length=5)


def ms(since: float, until: float) -> float:
    return round((until - since) * 1000, 2)


def main(org: str, expected: str) -> None:
    settings = shared.settings.load_settings()
    # As a Lambda builds it: the DynamoDB client (and boto3) only when something needs DynamoDB.
    engine = shared.runtime.build_engine(settings)
    built = time.perf_counter()
    request = AIRequest(
        operation="analyze",
        version="1",
        messages=[Message("system", "You assess roofing leads."), Message("user", "Assess lead 42 (cold start)")],
        response_model=Assessment,
    )
    result = asyncio.run(engine.generate(CallContext(org, "req-cold-0001", "analyze"), request))
    called = time.perf_counter()
    boto3_before_flush = "boto3" in sys.modules
    print(ANSWERED, file=sys.stderr, flush=True)  # -X importtime lines after this are not the hit path's
    engine.flush_records(10)
    flushed = time.perf_counter()
    openai_loaded = "openai" in sys.modules
    report = {
        "imports_ms": ms(STARTED, IMPORTED),
        "build_ms": ms(IMPORTED, built),
        "call_ms": ms(built, called),
        "flush_ms": ms(called, flushed),
        "total_ms": ms(STARTED, flushed),
        "outcome": result.meta.cache.value,
        "openai_loaded": openai_loaded,
        "boto3_before_flush": boto3_before_flush,
    }
    print(json.dumps(report), flush=True)
    assert result.meta.cache.value == expected, f"expected a {expected}, got {result.meta.cache.value}"
    if expected == "hit":
        assert not openai_loaded, "a cache hit imported openai"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
