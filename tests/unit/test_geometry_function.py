"""The geometry function's pieces without I/O: which S3 keys a caller may name, the JSON body, the
content hash, the store in front of the job index (hits, org scope, a failing store, single-flight),
and a preview that fails without failing the analysis.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from geometry.jobs import GeometryJobs, JobIndex
from geometry.service import S3Input, input_sha256, local_name
from geometry.work import preview_png
from shared.errors import Forbidden, InvalidInput
from shared.forms import Part, form_tags
from shared.http import parse_json_body
from shared.jobs import JobTags, MemoryJobRepository
from shared.objects import check_input_key
from shared.stores.base import GuardedStore
from shared.stores.memory import MemoryStore
from tests.support.fakes import FailingStore

pytestmark = pytest.mark.anyio

ORG = "acme"
SHA = "ab" * 32
JOB = "0123456789abcdef0123456789abcdef"


# --- which keys a caller may name ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["orgs/acme/uploads/roof.tif", "orgs/acme/roof.npy", "orgs/acme/uploads/2026/10/scan%20one.laz", "orgs/acme/a.b"],
)
def test_keys_under_the_own_org_prefix_are_accepted(key: str) -> None:
    assert check_input_key(ORG, key) == key


@pytest.mark.parametrize(
    "key",
    [
        "orgs/other/uploads/roof.tif",  # another org
        "orgs/acme-evil/uploads/roof.tif",  # an org whose id starts with ours
        "orgs/acmes/roof.tif",
        "orgs/acme",  # the prefix without its slash
        "orgs/acme/",  # the prefix itself
        "/orgs/acme/roof.tif",
        "ORGS/acme/roof.tif",
        "orgs/ACME/roof.tif",
        "orgs/acme/../other/roof.tif",  # path tricks, though S3 keys are literal
        "orgs/acme/uploads/../../other/roof.tif",
        "orgs/acme/./roof.tif",
        "orgs/acme//roof.tif",
        "orgs/acme/uploads/..",
        "orgs/acme\\..\\other\\roof.tif",
        "orgs/acme/roof.tif\x00.png",
        "orgs/acme/roof\n.tif",
        "uploads/roof.tif",
        "",
        "orgs/acme/" + "a" * 1100,
    ],
)
def test_every_other_key_is_forbidden_before_any_lookup(key: str) -> None:
    # Given an S3 client that fails the test if it is touched
    jobs = GeometryJobs(MemoryJobRepository(), cast("Any", _Untouchable()), "bucket")
    # When the key is not under the caller's own prefix
    with pytest.raises(Forbidden) as refused:
        jobs.read_input(ORG, key, 1_000)
    # Then it is 403, decided from the key alone, naming the prefix the caller may use
    assert refused.value.status == 403
    assert "orgs/acme/" in refused.value.message


class _Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"S3 was called ({name}) for a key that should have been refused first")


# --- the JSON body and the content hash ------------------------------------------------------------


def test_json_body_takes_a_key_and_a_resolution_and_never_a_tenant() -> None:
    body = parse_json_body(S3Input, b'{"s3_key": "orgs/acme/roof.npy", "resolution": 0.25}')
    assert (body.s3_key, body.resolution) == ("orgs/acme/roof.npy", 0.25)
    for bad in (b'{"s3_key": "orgs/acme/roof.npy", "org_id": "other"}', b"{}", b'{"s3_key": ""}', b"not json"):
        with pytest.raises(InvalidInput):
            parse_json_body(S3Input, bad)


def test_the_same_bytes_hash_the_same_whether_uploaded_or_read_from_s3() -> None:
    data = b"\x93NUMPY roof"
    uploaded = input_sha256(Part("file", "roof.npy", data), None, 0.25)
    from_s3 = input_sha256(Part("file", "orgs/acme/uploads/2026/roof.npy", data), None, 0.25)
    assert uploaded == from_s3
    assert input_sha256(Part("file", "orgs/acme/roof.tif", data), None, 0.25) != uploaded  # another reader
    assert input_sha256(Part("file", "roof.npy", data), None, 0.5) != uploaded


def test_tags_come_with_a_json_body_or_form_fields_and_make_another_claims_roof_its_own_job() -> None:
    body = parse_json_body(
        S3Input, b'{"s3_key": "orgs/acme/roof.npy", "tags": {"claim_id": "CLM-7", "structure": "2"}}'
    )
    assert body.tags == JobTags(claim_id="CLM-7", structure="2")
    with pytest.raises(InvalidInput, match=r"tags\.claim_id"):
        parse_json_body(S3Input, b'{"s3_key": "orgs/acme/roof.npy", "tags": {"claim_id": "no spaces"}}')
    form = [Part("claim_id", None, b"CLM-7"), Part("structure", None, b"2"), Part("file", "roof.npy", b"x")]
    assert form_tags(form, JobTags) == body.tags
    with pytest.raises(InvalidInput, match="Invalid tag `structure`"):
        form_tags([Part("structure", None, b"a b")], JobTags)
    data = Part("file", "roof.npy", b"\x93NUMPY roof")
    plain = input_sha256(data, None, 0.25)
    assert input_sha256(data, None, 0.25, JobTags()) == plain  # untagged jobs keep their earlier hash
    assert input_sha256(data, None, 0.25, body.tags) != plain
    assert input_sha256(data, None, 0.25, JobTags(claim_id="CLM-8")) != input_sha256(data, None, 0.25, body.tags)


def test_a_tagged_job_is_listed_under_its_claim() -> None:
    records = MemoryJobRepository()
    jobs = GeometryJobs(records, cast("Any", _Puts()), "bucket")
    report = {"totals": {"facets": 2, "area_sqft": 10.0, "squares": 0.1, "predominant_pitch": "6/12"}}
    job = jobs.create(ORG, input_sha256=SHA, input_name="roof.npy", report=report, tags=JobTags(claim_id="CLM-7"))
    (listed,) = records.claim_jobs(ORG, "CLM-7")
    assert listed.job_id == job and listed.kind is None and listed.tags == {"claim_id": "CLM-7"}


class _Puts:
    def put_object(self, **_: Any) -> None:
        return None


# --- the store in front of the job index -----------------------------------------------------------


def _index(store: Any = None) -> JobIndex:
    guarded = GuardedStore(store if store is not None else MemoryStore(), timeout_s=0.5, cooldown_s=5.0)
    return JobIndex(guarded, lease_ms=2_000, wait_ms=2_000)


async def test_a_remembered_job_is_found_in_its_own_org_only() -> None:
    index = _index()
    assert await index.lookup(ORG, SHA) is None
    await index.remember(ORG, SHA, JOB)
    assert await index.lookup(ORG, SHA) == JOB
    assert await index.lookup("other", SHA) is None
    assert index.keys(ORG, SHA).cache == f"dominus:v1:acme:cache:geometry:{SHA}"


async def test_a_value_that_is_not_a_job_id_is_never_used() -> None:
    store = MemoryStore()
    await store.set(JobIndex.keys(ORG, SHA).cache, "input#" + SHA, 60_000)
    assert await _index(store).lookup(ORG, SHA) is None


async def test_a_failing_store_misses_and_never_raises() -> None:
    index = _index(FailingStore())
    await index.remember(ORG, SHA, JOB)
    assert await index.lookup(ORG, SHA) is None


@pytest.mark.parametrize("store", [MemoryStore, FailingStore])
async def test_identical_concurrent_calls_produce_once(store: type[MemoryStore]) -> None:
    # Given a store that works, or one that is down
    index = _index(store())
    calls = 0

    async def produce() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return JOB

    # When five identical calls and one of another org arrive together
    calls_in_flight = [index.once(ORG, SHA, produce) for _ in range(5)] + [index.once("other", SHA, produce)]
    results = await asyncio.gather(*calls_in_flight)
    # Then each org's input is produced once, and every caller gets its job id
    assert results == [JOB] * 6
    assert calls == 2


async def test_a_producer_error_reaches_every_identical_caller() -> None:
    index = _index()
    calls = 0

    async def produce() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        raise InvalidInput("The raster is all nodata.")

    outcomes = await asyncio.gather(*(index.once(ORG, SHA, produce) for _ in range(3)), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(o, InvalidInput) and o.message == "The raster is all nodata." for o in outcomes)


# --- the preview -------------------------------------------------------------------------------------


def test_a_preview_that_fails_is_none_and_logged(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    from geometry import preview

    def broken(analysis: Any, **_: Any) -> bytes:
        raise RuntimeError("no font")

    monkeypatch.setattr(preview, "render_preview", broken)
    assert preview_png(cast("Any", object())) is None
    assert "preview failed" in caplog.text


def test_an_uploads_local_name_keeps_its_name_and_suffix_and_nothing_unsafe() -> None:
    assert local_name("my roof.TIF", "input") == "my_roof.tif"
    assert local_name("../../etc/passwd.npy", "input") == "passwd.npy"
    assert local_name(None, "mask") == "mask"
    assert local_name("....tif", "input") == "input.tif"
