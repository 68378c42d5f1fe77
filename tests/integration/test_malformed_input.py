"""Malformed input against every route the dev server serves (each function's routes, built as deployed,
on the embedded moto server and the simulated model): bodies that are not JSON or not UTF-8, NaN,
Infinity, 1e999 and huge integers in every field, deep nesting, megabyte values and keys, other media
types, bad query and path parameters, bad org headers.

Whatever the input: never a 5xx; every error is the contract's envelope and a few KB at most (an
error never echoes the input); every status is one the route's OpenAPI operation declares; and a
number JSON cannot carry is a 422 naming the field it is in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from dominus_dev.functions import SPECS
from shared.deployment import function_app
from shared.runtime import Clients
from shared.settings import Settings
from tests.support.dev_server import running_dev_server

pytestmark = pytest.mark.integration

MAX_ERROR_BYTES = 5_000
MB = 1_000_000
JOB_ID = "0" * 32
# Bodies for the routes whose OpenAPI document has no example: a valid shape to break field by field.
BASES: dict[str, Any] = {
    "/v1/vision/uploads": {"name": "roof.jpg", "content_type": "image/jpeg", "tags": {"lead_id": "lead-1"}},
    "/v1/vision/analyze": {"s3_key": "uploads/fuzz/none.jpg", "tags": {"claim_id": "c-1"}},
    "/v1/geometry/analyze": {"s3_key": "orgs/fuzz/none.npy", "resolution": 0.1},
    "/v1/geometry/uploads": {"name": "site.tif", "resolution": 0.1, "tags": {"claim_id": "c-1"}},
    "/v1/orgs/me/ai-settings": {"mode_default": "auto", "cache_ttl_s": 86_400},
}
UNFAITHFUL_NUMBERS = ["NaN", "-Infinity", "1e999", "1" + "0" * 30, "9" * 5_000]
WHOLE_BODIES = [
    b"not json",
    b"\xff\xfe\xfd",
    b'{"notes": "\xc3\x28"}',
    b"NaN",
    b"1e999",
    b"[" * 30_000 + b"]" * 30_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b"",
    b"null",
    b"[]",
    b'"text"',
    json.dumps({"x" * MB: 1}).encode(),
    json.dumps({"notes": "y" * MB}).encode(),
]
QUERY_VALUES = ["x" * 8_000, "NaN", "1e999", "%ff", "-1"]
PATH_VALUES = ["x" * 5_000, "%ff", "..", "%00"]
ORG_HEADERS = ["bad:org", "x" * 300]
JSON = {"content-type": "application/json"}
NPY_HEADER = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }" + b" " * 51 + b"\n"


@dataclass(frozen=True)
class Probe:
    label: str
    request: dict[str, Any]  # httpx.Client.request keyword arguments besides the method
    expect: Callable[[httpx.Response], str | None] | None = None  # what else must hold: None, or what failed


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as the document writes it: /v1/vision/{job_id}
    operation: dict[str, Any] = field(repr=False)

    @property
    def url(self) -> str:
        return self.path.replace("{job_id}", JOB_ID)

    @property
    def media_types(self) -> set[str]:
        return set(self.operation.get("requestBody", {}).get("content", {}))

    def base(self) -> Any:
        json_body = self.operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        examples = json_body.get("examples")
        return next(iter(examples.values()))["value"] if examples else BASES.get(self.path, {})


def deployed_operations() -> list[Operation]:
    """Every operation of every function's deployed app (built without I/O: its clients are lazy)."""
    clients = Clients.from_settings(Settings(dominus_env="local"))
    found = []
    for spec in SPECS:
        for path, item in function_app(spec, clients).openapi()["paths"].items():
            found += [Operation(method.upper(), path, operation) for method, operation in item.items()]
    return found


OPERATIONS = deployed_operations()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    with running_dev_server() as (url, _runtime), httpx.Client(base_url=url, timeout=120) as client:
        document = client.get("/openapi.json").json()
        yield client, document


def leaves(node: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where a value sits in the document: every key and the first item of every list, and the root."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*loc, key))
    elif isinstance(node, list) and node:
        yield from leaves(node[0], (*loc, 0))
    yield loc


def with_token(base: Any, loc: tuple[Any, ...], token: str) -> bytes:
    """`base` as JSON with the value at `loc` replaced by the raw JSON text `token`."""
    if not loc:
        return token.encode()
    document = json.loads(json.dumps(base))
    node = document
    for part in loc[:-1]:
        node = node[part]
    node[loc[-1]] = "__TOKEN__"
    return json.dumps(document).replace('"__TOKEN__"', token).encode()


def names_field(name: str) -> Callable[[httpx.Response], str | None]:
    def check(reply: httpx.Response) -> str | None:
        if reply.status_code != 422:
            return f"expected 422 naming {name}"
        fields = [detail["field"] for detail in reply.json()["error"].get("details", [])]
        return None if name in fields else f"422 does not name {name}: {fields}"

    return check


def status_is(status: int) -> Callable[[httpx.Response], str | None]:
    return lambda reply: None if reply.status_code == status else f"expected {status}"


def probes(op: Operation) -> Iterator[Probe]:
    base = op.base()
    body = json.dumps(base).encode() if op.media_types else None
    for parameter in [p for p in op.operation.get("parameters", []) if p["in"] == "query"] + [{"name": "unknown"}]:
        for value in QUERY_VALUES:
            query = {parameter["name"]: value}
            yield Probe(f"?{parameter['name']}={value[:20]}", {"params": query, "content": body, "headers": JSON})
    if "{job_id}" in op.path:
        for value in PATH_VALUES:
            yield Probe(f"job_id={value[:20]}", {"url": op.path.replace("{job_id}", value)})
    for org in ORG_HEADERS:
        yield Probe(f"X-Org-Id {org[:20]}", {"content": body, "headers": {**JSON, "x-org-id": org}}, status_is(400))
    if not op.media_types:
        yield Probe("a body where none is read", {"content": b"x" * 100_000, "headers": {"content-type": "text/plain"}})
        return
    if "application/json" in op.media_types:
        for raw in WHOLE_BODIES:
            yield Probe(f"body {raw[:24]!r}", {"content": raw, "headers": JSON})
        yield from number_probes(op, base)
    for content_type in ("text/plain", "application/xml", "image/png"):
        yield Probe(f"as {content_type}", {"content": body, "headers": {"content-type": content_type}}, status_is(415))
    if "multipart/form-data" in op.media_types:
        yield from multipart_probes()


def number_probes(op: Operation, base: Any) -> Iterator[Probe]:
    """Each unfaithful number in turn at every place in the body, two per place (a stream twin has its
    buffered twin's body model: its root only)."""
    places = [()] if op.path.endswith("/stream") else list(leaves(base))
    for i, loc in enumerate(places):
        name = ".".join(str(part) for part in loc) or "body"
        for token in (UNFAITHFUL_NUMBERS[i % 5], UNFAITHFUL_NUMBERS[(i + 2) % 5]):
            raw = with_token(base, loc, token)
            yield Probe(f"{name} = {token[:12]}", {"content": raw, "headers": JSON}, names_field(name))


def multipart_probes() -> Iterator[Probe]:
    tiny_npy = ("roof.npy", NPY_HEADER + b"\x00" * 32, "application/octet-stream")
    for value in ["nan", "inf", "-inf", "1e999", "-1", "0", "x" * 5_000, "9" * 5_000]:
        yield Probe(f"form resolution={value[:12]}", {"files": {"file": tiny_npy}, "data": {"resolution": value}})
    for name, value in [("s3_key", "x" * MB), ("s3_key", "orgs/someone-else/x.npy"), ("lead_id", "x" * 100_000)]:
        yield Probe(f"form {name}={value[:20]}", {"data": {name: value}})
    junk = [b"", b"x" * 100, NPY_HEADER + b"\xff" * 10, b"nan nan nan\n" * 10, b"1e999 2 3\n" * 5]
    for data in junk:
        for filename in ("roof.npy", "roof.xyz", "roof.tif", "photo.jpg"):
            yield Probe(
                f"file {filename} {data[:12]!r}", {"files": {"file": (filename, data, "application/octet-stream")}}
            )


def judged(reply: httpx.Response, probe: Probe, declared: set[str]) -> str | None:
    """What is wrong with the reply, or None."""
    problems = []
    if reply.status_code >= 500:
        problems.append("a server error")
    if str(reply.status_code) not in declared:
        problems.append(f"{reply.status_code} is not declared ({sorted(declared)})")
    if reply.status_code >= 400:
        if len(reply.content) > MAX_ERROR_BYTES:
            problems.append(f"a {len(reply.content):,}-byte error")
        try:
            error = reply.json()["error"]
            assert {"code", "message", "request_id"} <= set(error)
        except (ValueError, KeyError, TypeError, AssertionError):
            problems.append("not the error envelope")
    if probe.expect is not None and (unmet := probe.expect(reply)):
        problems.append(unmet)
    return f"{probe.label}: {reply.status_code} {'; '.join(problems)} {reply.text[:160]!r}" if problems else None


def test_the_dev_server_serves_every_deployed_operation(server: tuple[httpx.Client, dict[str, Any]]) -> None:
    _, document = server
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert {(op.method, op.path) for op in OPERATIONS} == served - {("GET", "/healthz")}


@pytest.mark.parametrize("op", OPERATIONS, ids=[f"{op.method} {op.path}" for op in OPERATIONS])
def test_malformed_input_gets_a_small_declared_4xx(server: tuple[httpx.Client, dict[str, Any]], op: Operation) -> None:
    client, document = server
    declared = set(document["paths"][op.path][op.method.lower()]["responses"])
    failures = []
    for probe in probes(op):
        request = {"url": op.url, **probe.request}
        reply = client.request(op.method, **request)
        if (failure := judged(reply, probe, declared)) is not None:
            failures.append(failure)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])
