"""The local Upstash-REST server, driven by the official upstash-redis clients and by raw HTTP.

The clients are built the way the project builds them (no telemetry, no retries), once with the
default base64 reply encoding and once without it, since the server must honour both.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from upstash_redis import Redis
from upstash_redis.asyncio import Redis as AsyncRedis
from upstash_redis.errors import UpstashError

from tests.support.redis_fixtures import RedisServer

pytestmark = pytest.mark.integration

# The single-flight lease release: delete the key only if it still holds our token.
COMPARE_AND_DELETE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
"""

TRICKY_VALUES = [
    "héllo wörld ✓ 🏠",
    'line\nbreak\t"quoted" \\ back',
    "\x00\x01\x7f\xff",
    "OK",  # the one string the client never base64-decodes: must still round-trip
    "",
    "eyJub3QiOiAiYmFzZTY0In0=",
]

Encoding = Literal["base64"] | None


@pytest.fixture(params=["base64", None], ids=["base64", "plain"])
def encoding(request: pytest.FixtureRequest) -> Encoding:
    value: Encoding = request.param
    return value


@pytest.fixture
def client(upstash_rest: tuple[str, str], encoding: Encoding) -> Iterator[Redis]:
    url, token = upstash_rest
    with Redis(url=url, token=token, rest_encoding=encoding, rest_retries=0, allow_telemetry=False) as r:
        yield r


def async_client(upstash_rest: tuple[str, str], encoding: Encoding) -> AsyncRedis:
    url, token = upstash_rest
    return AsyncRedis(url=url, token=token, rest_encoding=encoding, rest_retries=0, allow_telemetry=False)


def post(upstash_rest: tuple[str, str], path: str, body: Any, **headers: str) -> httpx.Response:
    url, token = upstash_rest
    all_headers = {"Authorization": f"Bearer {token}", **headers}
    return httpx.post(f"{url}{path}", json=body, headers=all_headers, timeout=10.0)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- sync client ---------------------------------------------------------------------------------


def test_given_free_key_when_set_nx_px_twice_then_only_first_wins_with_a_ttl(client: Redis) -> None:
    # The stubs say `str | None`, but the client turns SET's reply into a bool unless GET is asked for.
    first: object = client.set("lease", "holder-1", nx=True, px=10_000)
    second: object = client.set("lease", "holder-2", nx=True, px=10_000)
    assert (first, second) == (True, False)
    assert client.get("lease") == "holder-1"
    assert 0 < client.pttl("lease") <= 10_000


def test_given_key_set_with_short_px_when_it_elapses_then_key_is_gone(client: Redis) -> None:
    client.set("short", "v", px=50)
    time.sleep(0.3)
    assert client.get("short") is None


def test_given_keys_when_del_and_incr_then_counts_come_back_as_integers(client: Redis) -> None:
    client.set("a", "1")
    client.set("b", "2")
    assert client.delete("a", "b", "missing") == 2
    assert client.incr("counter") == 1
    assert client.incr("counter") == 2
    assert client.get("counter") == "2"


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_given_unicode_or_control_chars_when_set_then_get_round_trips(client: Redis, value: str) -> None:
    client.set("k", value)
    assert client.get("k") == value


def test_given_non_integer_when_incr_then_clean_upstash_error_with_redis_text(client: Redis) -> None:
    client.set("word", "hello")
    with pytest.raises(UpstashError) as caught:
        client.incr("word")
    assert str(caught.value) == "ERR value is not an integer or out of range"


def test_given_pipeline_when_exec_then_one_result_per_command(client: Redis) -> None:
    pipe = client.pipeline()
    pipe.set("a", "1")
    pipe.incr("a")
    pipe.get("a")
    pipe.delete("a")
    pipe.get("a")
    assert pipe.exec() == [True, 2, "2", 1, None]


def test_given_transaction_when_exec_then_results_in_order(client: Redis) -> None:
    tx = client.multi()
    tx.set("n", "10", px=10_000)
    tx.incr("n")
    tx.rpush("list", "x", "ü")
    tx.lrange("list", 0, -1)
    assert tx.exec() == [True, 11, 2, ["x", "ü"]]


def test_given_lease_when_compare_and_delete_then_only_the_owner_deletes(client: Redis) -> None:
    client.set("lease", "token-1")
    assert client.eval(COMPARE_AND_DELETE, keys=["lease"], args=["token-2"]) == 0
    assert client.get("lease") == "token-1"
    assert client.eval(COMPARE_AND_DELETE, keys=["lease"], args=["token-1"]) == 1
    assert client.get("lease") is None


def test_given_loaded_script_when_evalsha_then_it_runs(client: Redis) -> None:
    sha = client.script_load(COMPARE_AND_DELETE)
    client.set("lease", "t")
    assert client.evalsha(sha, keys=["lease"], args=["t"]) == 1
    assert client.exists("lease") == 0


def test_given_wrong_token_when_command_then_unauthorized(upstash_rest: tuple[str, str]) -> None:
    url, _ = upstash_rest
    with (
        Redis(url=url, token="wrong", rest_retries=0, allow_telemetry=False) as r,
        pytest.raises(UpstashError, match="Unauthorized"),
    ):
        r.get("k")


def test_given_redis_restarted_between_requests_when_command_then_it_succeeds(
    upstash_rest: tuple[str, str], redis_server: RedisServer
) -> None:
    url, token = upstash_rest
    with Redis(url=url, token=token, rest_retries=0, allow_telemetry=False) as r:
        r.set("before", "1")  # leaves a pooled connection that the restart kills
        redis_server.stop()
        redis_server.start()
        assert r.get("before") is None  # no persistence: the restart emptied it
        r.set("after", "2")
        assert r.get("after") == "2"


def test_given_redis_stopped_when_command_then_error_and_recovers_after_restart(
    upstash_rest: tuple[str, str], redis_server: RedisServer
) -> None:
    url, token = upstash_rest
    with Redis(url=url, token=token, rest_retries=0, allow_telemetry=False) as r:
        r.set("before", "1")
        redis_server.stop()
        try:
            with pytest.raises(UpstashError, match="redis unavailable"):
                r.get("before")
        finally:
            redis_server.start()
        r.set("after", "2")
        assert r.get("after") == "2"


# --- async client --------------------------------------------------------------------------------


def test_given_async_client_when_commands_pipeline_transaction_and_eval_then_same_results(
    upstash_rest: tuple[str, str], encoding: Encoding
) -> None:
    async def scenario() -> list[Any]:
        r = async_client(upstash_rest, encoding)
        try:
            got: list[Any] = [
                await r.set("lease", "tok", nx=True, px=5_000),
                await r.set("lease", "other", nx=True, px=5_000),
                await r.get("lease"),
                await r.eval(COMPARE_AND_DELETE, keys=["lease"], args=["tok"]),
                await r.get("lease"),
                await r.set("uni", TRICKY_VALUES[0]),
                await r.get("uni"),
            ]
            pipe = r.pipeline()
            pipe.incr("c")
            pipe.incr("c")
            got.append(await pipe.exec())
            tx = r.multi()
            tx.incr("c")
            tx.get("c")
            got.append(await tx.exec())
            return got
        finally:
            await r.close()

    assert asyncio.run(scenario()) == [True, False, "tok", 1, None, True, TRICKY_VALUES[0], [1, 2], [3, "3"]]


def test_given_async_client_when_redis_error_then_upstash_error(
    upstash_rest: tuple[str, str], encoding: Encoding
) -> None:
    async def scenario() -> None:
        r = async_client(upstash_rest, encoding)
        try:
            await r.rpush("list", "x")
            await r.get("list")
        finally:
            await r.close()

    with pytest.raises(UpstashError, match=r"^WRONGTYPE "):
        asyncio.run(scenario())


# --- the wire format -----------------------------------------------------------------------------


def test_given_base64_header_when_replies_then_strings_encoded_except_ok_and_integers(
    upstash_rest: tuple[str, str],
) -> None:
    enc = {"Upstash-Encoding": "base64"}
    assert post(upstash_rest, "/", ["SET", "k", "välue"], **enc).json() == {"result": "OK"}
    assert post(upstash_rest, "/", ["GET", "k"], **enc).json() == {"result": b64("välue")}
    assert post(upstash_rest, "/", ["RPUSH", "l", "a", 7], **enc).json() == {"result": 2}
    assert post(upstash_rest, "/", ["LRANGE", "l", 0, -1], **enc).json() == {"result": [b64("a"), b64("7")]}
    assert post(upstash_rest, "/", ["GET", "missing"], **enc).json() == {"result": None}
    assert post(upstash_rest, "/", ["PING"], **enc).json() == {"result": b64("PONG")}


def test_given_no_encoding_header_when_replies_then_strings_plain(upstash_rest: tuple[str, str]) -> None:
    post(upstash_rest, "/", ["RPUSH", "l", "a", "ü"])
    assert post(upstash_rest, "/", ["LRANGE", "l", 0, -1]).json() == {"result": ["a", "ü"]}
    assert post(upstash_rest, "/", ["EVAL", "return {KEYS[1], ARGV[1], 3}", 1, "k", 2.5]).json() == {
        "result": ["k", "2.5", 3]
    }


def test_given_no_or_wrong_bearer_when_request_then_401(upstash_rest: tuple[str, str]) -> None:
    url, token = upstash_rest
    for headers in ({}, {"Authorization": token}, {"Authorization": f"Bearer {token}x"}):
        reply = httpx.post(url, json=["PING"], headers=headers, timeout=10.0)
        assert (reply.status_code, reply.json()) == (401, {"error": "Unauthorized"})


def test_given_redis_error_when_single_command_then_400_with_error(upstash_rest: tuple[str, str]) -> None:
    reply = post(upstash_rest, "/", ["NOSUCHCOMMAND", "x"])
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("ERR unknown command")


@pytest.mark.parametrize("body", ["not json", [], [["GET", "k"]], ["GET", {"k": 1}], ["SET", "k", True]])
def test_given_malformed_command_when_posted_then_400(upstash_rest: tuple[str, str], body: Any) -> None:
    url, token = upstash_rest
    content = body if isinstance(body, str) else None
    reply = httpx.post(
        url,
        content=content,
        json=None if content is not None else body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )
    assert reply.status_code == 400
    assert "error" in reply.json()


def test_given_pipeline_with_failing_command_when_posted_then_others_still_apply(
    upstash_rest: tuple[str, str],
) -> None:
    body = [["SET", "a", "1"], ["NOSUCHCOMMAND"], ["INCR", "a"]]
    reply = post(upstash_rest, "/pipeline", body)
    assert reply.status_code == 200
    first, second, third = reply.json()
    assert (first, third) == ({"result": "OK"}, {"result": 2})
    assert second["error"].startswith("ERR unknown command")


def test_given_transaction_with_runtime_error_when_posted_then_error_in_place(
    upstash_rest: tuple[str, str],
) -> None:
    body = [["SET", "w", "word"], ["INCR", "w"], ["GET", "w"]]
    assert post(upstash_rest, "/multi-exec", body).json() == [
        {"result": "OK"},
        {"error": "ERR value is not an integer or out of range"},
        {"result": "word"},
    ]


def test_given_transaction_with_invalid_command_when_posted_then_nothing_applies(
    upstash_rest: tuple[str, str],
) -> None:
    reply = post(upstash_rest, "/multi-exec", [["SET", "a", "1"], ["NOSUCHCOMMAND"]])
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("EXECABORT")
    assert post(upstash_rest, "/", ["EXISTS", "a"]).json() == {"result": 0}
