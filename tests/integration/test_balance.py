"""The balance under load, over HTTP as the CRM calls it: the dev server on a real Redis store, the
embedded moto DynamoDB and the simulated model.

A call holds its worst case on the balance before it goes upstream, and settles to its real cost with
its perf record; so a burst of concurrent calls cannot spend more than the balance holds, and the ones
it cannot cover are refused with 403 before anything is sent. An answer the org already has costs
nothing, and is served at any balance, in every mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from boto3.dynamodb.types import TypeDeserializer

from dominus_dev.local import LocalRuntime
from shared.orgs import DynamoOrgRepository
from tests.support.dev_server import lead_with_notes, new_org, running_dev_server
from tests.support.functions import sse_events
from tests.support.redis_fixtures import RedisServer

pytestmark = pytest.mark.integration

CALLS = 100


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[tuple[str, LocalRuntime]]:
    # A generous store timeout: a busy machine must not turn these calls into bypasses. Org settings
    # are read on every call, so a balance set here is the one the next call sees.
    with running_dev_server(
        redis_url=redis_server.url, dominus_store_timeout_ms=5_000, dominus_org_settings_ttl_s=0
    ) as running:
        yield running


def _orgs(runtime: LocalRuntime) -> DynamoOrgRepository:
    return DynamoOrgRepository(
        runtime.aws.client("dynamodb"), runtime.settings.dominus_org_table, runtime.settings.dominus_default_balance
    )


def _records(runtime: LocalRuntime, org: str) -> list[dict[str, Any]]:
    pages = (
        runtime.aws.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=runtime.settings.dominus_perf_table,
            KeyConditionExpression="org_id = :o",
            ExpressionAttributeValues={":o": {"S": org}},
        )
    )
    deserializer = TypeDeserializer()
    return [{k: deserializer.deserialize(v) for k, v in item.items()} for page in pages for item in page["Items"]]


async def _call(client: httpx.AsyncClient, org: str, path: str, body: dict[str, Any], mode: str | None) -> int:
    """The status a client sees; a stream that started must end with its result."""
    params = {"mode": mode} if mode else {}
    reply = await client.post(path, json=body, params=params, headers={"X-Org-Id": org})
    if reply.status_code == 200 and path.endswith("/stream"):
        names = [name for name, _ in sse_events(reply.text)]
        assert names[-2:] == ["result", "done"], names
    elif reply.status_code == 403:
        assert reply.json()["error"]["code"] == "insufficient_balance"
    return reply.status_code


async def _burst(url: str, org: str, path: str, mode: str | None) -> list[int]:
    limits = httpx.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        return await asyncio.gather(
            *(
                _call(client, org, path, lead_with_notes(f"burst call {i}"), mode) for i in range(CALLS)
            )  # distinct: all misses
        )


@pytest.mark.parametrize("path", ["/v1/analyze", "/v1/analyze/stream"], ids=["buffered", "stream"])
@pytest.mark.parametrize(("balance", "mode"), [(40, None), (100, "smart")], ids=["40-auto", "100-smart"])
def test_a_hundred_concurrent_billed_calls_never_spend_more_than_the_balance(
    server: tuple[str, LocalRuntime], path: str, balance: int, mode: str | None
) -> None:
    url, runtime = server
    org = new_org()
    _orgs(runtime).set_balance(org, balance)

    statuses = asyncio.run(_burst(url, org, path, mode))

    assert set(statuses) <= {200, 403}, statuses
    served, refused = statuses.count(200), statuses.count(403)
    assert served and refused, (served, refused)  # the balance covers some of the burst, not all of it
    assert runtime.engine is not None
    assert runtime.engine.flush_records(30)  # holds settle with the perf records
    left = _orgs(runtime).get(org).token_balance
    records = _records(runtime, org)
    debited = sum(int(r.get("debited_tokens", 0)) for r in records)
    assert left >= 0 and debited == balance - left  # every token that left the balance is a recorded debit
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == served
    assert all(r["cost_usd"] is not None and r["cost_usd"] > 0 and r["debited_tokens"] >= 1 for r in ok)
    assert [r["error_code"] for r in records if r["status"] == "error"] == ["insufficient_balance"] * refused
    assert all(int(r.get("debited_tokens", 0)) == 0 for r in records if r["status"] == "error")


@pytest.mark.parametrize("mode", ["cheap", "smart", "auto"])
@pytest.mark.parametrize("path", ["/v1/analyze", "/v1/analyze/stream"], ids=["buffered", "stream"])
def test_an_answer_cached_at_a_high_balance_is_served_at_zero_in_every_mode(
    server: tuple[str, LocalRuntime], path: str, mode: str
) -> None:
    url, runtime = server
    org, body = new_org(), lead_with_notes(f"cached before the balance ran out ({mode})")
    with httpx.Client(base_url=url, timeout=60, headers={"X-Org-Id": org}) as client:
        first = client.post(path, json=body, params={"mode": mode})
        assert first.status_code == 200, first.text
        assert runtime.engine is not None
        assert runtime.engine.flush_records(30)  # its hold is settled (a later refund would add to a reset)
        _orgs(runtime).set_balance(org, 0)
        again = client.post(path, json=body, params={"mode": mode})
        assert again.status_code == 200, again.text
        if path.endswith("/stream"):
            meta = sse_events(again.text)[0][1]
            first_meta = sse_events(first.text)[0][1]
            assert (meta["cache"], meta["model"]) == ("hit", first_meta["model"])
        else:
            assert again.headers["X-Dominus-Cache"] == "hit"
            assert again.headers["X-Dominus-Model"] == first.headers["X-Dominus-Model"]
            assert again.json() == first.json()
        fresh = client.post(path, json=lead_with_notes(f"not cached ({mode})"), params={"mode": mode})
        assert fresh.status_code == 403 and fresh.json()["error"]["code"] == "insufficient_balance"
