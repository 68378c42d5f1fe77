"""The metrics roll-up's building blocks: a mergeable latency sketch and per-group aggregates.

The API answers from stored roll-ups for closed periods and from raw records for the open one; these
tests pin down why both give the same numbers: every part of an aggregate merges exactly.
"""

import json
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from boto3.dynamodb.types import TypeDeserializer

from metrics.aggregate import GROUP_BY, Aggregate, aggregate, group_key, nano_usd, usd
from metrics.records import FIELDS, plain
from metrics.rollup import Bucket
from metrics.sketch import ALPHA, MIN_VALUE, LatencySketch
from shared.modes import Mode
from shared.outcomes import CacheOutcome
from shared.perf import DynamoPerfSink, PerfRecord

T0 = datetime(2026, 11, 24, 3, 15, 30, 250_000, tzinfo=UTC)
QUANTILES = (0.5, 0.95, 0.99)


def lognormal_latencies(n: int, seed: int = 7) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).lognormal(mean=math.log(800), sigma=0.8, size=n)]


def sketch_of(values: list[float]) -> LatencySketch:
    sketch = LatencySketch()
    for value in values:
        sketch.add(value)
    return sketch


def record(**fields: Any) -> PerfRecord:
    base: dict[str, Any] = {
        "org_id": "acme",
        "request_id": "req-1",
        "function": "analyze",
        "operation": "analyze",
        "model": "gpt-4o",
        "mode": Mode.AUTO,
        "cache": CacheOutcome.MISS,
        "status": "ok",
        "latency_ms": 100.0,
        "timestamp": T0,
    }
    return PerfRecord(**(base | fields))


def dynamodb_item(perf: PerfRecord) -> dict[str, Any]:
    """The record as the roll-up reads it back: the sink's item, deserialized (Decimal numbers)."""
    item = DynamoPerfSink(lambda: None, "perf", retention_days=30).item(perf)  # type: ignore[arg-type,return-value]
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def random_records(n: int, seed: int = 11) -> list[PerfRecord]:
    rng = random.Random(seed)
    latencies = lognormal_latencies(n, seed)
    out = []
    for i in range(n):
        cache = rng.choice(list(CacheOutcome))
        upstream = cache in (CacheOutcome.MISS, CacheOutcome.BYPASS)
        tokens_in, tokens_out = rng.randint(10, 5000), rng.randint(0, 2000)
        price = (tokens_in * 2.5 + tokens_out * 10.0) / 1e6
        stream = rng.random() < 0.4
        out.append(
            record(
                request_id=f"req-{i}",
                function=rng.choice(["analyze", "video", "smart_actions"]),
                operation=rng.choice(["analyze", "script", "storyboard", "summary"]),
                model=rng.choice(["gpt-4o", "gpt-4o-mini", "mystery"]),
                mode=rng.choice(list(Mode)),
                cache=cache,
                status=rng.choices(["ok", "error", "cancelled"], [90, 7, 3])[0],
                stream=stream,
                latency_ms=latencies[i],
                ttft_ms=latencies[i] * rng.uniform(0.05, 0.5) if stream and rng.random() < 0.9 else None,
                input_tokens=tokens_in if upstream else 0,
                cached_input_tokens=rng.randint(0, tokens_in) if upstream else 0,
                output_tokens=tokens_out if upstream else 0,
                cost_usd=None if rng.random() < 0.05 else (price if upstream else 0.0),
                saved_cost_usd=None if upstream else price,
                timestamp=T0 + timedelta(seconds=rng.uniform(0, 48 * 3600)),
            )
        )
    return out


# --- the sketch -------------------------------------------------------------------------------------


def test_quantiles_of_10k_lognormal_latencies_are_within_alpha_of_the_lower_order_statistic() -> None:
    # Given 10k lognormal latencies in one sketch
    values = lognormal_latencies(10_000)
    sketch = sketch_of(values)
    assert sketch.count == 10_000
    # Then every quantile is within ALPHA (relative) of numpy's "lower" order statistic
    for q in [*QUANTILES, *np.linspace(0, 1, 101)]:
        exact = float(np.percentile(values, 100 * q, method="lower"))
        estimate = sketch.quantile(float(q))
        assert estimate is not None
        assert abs(estimate - exact) <= ALPHA * exact * (1 + 1e-9), (q, estimate, exact)


def test_the_rank_convention_is_floor_q_times_n_minus_1() -> None:
    sketch = sketch_of([100.0, 200.0, 300.0, 400.0, 500.0])
    expected = {0.0: 100.0, 0.24: 100.0, 0.25: 200.0, 0.5: 300.0, 0.99: 400.0, 1.0: 500.0}
    for q, value in expected.items():
        estimate = sketch.quantile(q)
        assert estimate == pytest.approx(value, rel=ALPHA), q


def test_sketches_of_split_data_merge_into_exactly_the_sketch_of_all_of_it() -> None:
    # Given the values split into 24 "hours" of uneven size, merged in a shuffled order
    values = lognormal_latencies(10_000)
    cuts = sorted(random.Random(3).sample(range(1, len(values)), 23))
    parts = [values[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True)]
    random.Random(5).shuffle(parts)
    merged = LatencySketch()
    for part in parts:
        merged.merge(sketch_of(part))
    # Then the merge is the sketch of all the values, exactly
    whole = sketch_of(values)
    assert merged == whole
    assert merged.to_json() == whole.to_json()
    assert merged.count == whole.count
    assert [merged.quantile(q) for q in QUANTILES] == [whole.quantile(q) for q in QUANTILES]


def test_json_round_trips_exactly_and_is_small() -> None:
    for values, limit in ((lognormal_latencies(10_000), 1500), (lognormal_latencies(200), 700)):
        sketch = sketch_of([*values, 0.0, MIN_VALUE / 2])
        text = sketch.to_json()
        assert len(text) < limit, len(text)
        back = LatencySketch.from_json(text)
        assert back == sketch
        assert back.to_json() == text
        assert back.count == sketch.count
        assert [back.quantile(q) for q in QUANTILES] == [sketch.quantile(q) for q in QUANTILES]
        # the same from a DynamoDB map (Decimal numbers)
        as_decimals = json.loads(text, parse_int=Decimal)
        assert LatencySketch.from_dict(as_decimals) == sketch


def test_an_empty_sketch_has_no_quantiles_and_round_trips() -> None:
    sketch = LatencySketch()
    assert sketch.count == 0
    assert sketch.quantile(0.5) is None
    assert LatencySketch.from_json(sketch.to_json()) == sketch


def test_tiny_values_fall_in_the_zero_bucket_and_sub_millisecond_ones_keep_their_accuracy() -> None:
    sketch = sketch_of([0.0, MIN_VALUE, 0.5, 0.5])
    assert sketch.quantile(0.0) == 0.0
    assert sketch.quantile(1 / 3) == 0.0
    assert sketch.quantile(1.0) == pytest.approx(0.5, rel=ALPHA)
    assert LatencySketch.from_json(sketch.to_json()) == sketch


def test_bad_input_is_refused() -> None:
    sketch = LatencySketch()
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            sketch.add(bad)
    with pytest.raises(ValueError, match="q must be"):
        sketch.quantile(1.5)
    for corrupt in ('{"z":0,"i":[5,0],"c":[1,1]}', '{"z":0,"i":[5],"c":[1,2]}', '{"z":-1,"i":[],"c":[]}'):
        with pytest.raises(ValueError):  # noqa: PT011 - each has its own message
            LatencySketch.from_json(corrupt)


# --- aggregates -------------------------------------------------------------------------------------


def test_counts_rates_tokens_and_costs_of_hand_made_records() -> None:
    # Given a miss, a hit (saving 0.002), a shared result, a bypass that failed, and an unpriced call
    records = [
        record(latency_ms=1000.0, input_tokens=1000, cached_input_tokens=200, output_tokens=100, cost_usd=0.0045),
        record(cache=CacheOutcome.HIT, latency_ms=20.0, cost_usd=0.0, saved_cost_usd=0.002),
        record(cache=CacheOutcome.SHARED, latency_ms=900.0, cost_usd=0.0, saved_cost_usd=0.0045),
        record(cache=CacheOutcome.BYPASS, status="error", latency_ms=3000.0, error_code="upstream_timeout"),
        record(model="mystery", status="cancelled", latency_ms=50.0, input_tokens=10, output_tokens=5),
    ]
    agg = Aggregate()
    for r in records:
        agg.add(r)
    stats = agg.stats()
    assert stats == {
        "calls": 5,
        "hits": 1,
        "misses": 2,
        "shared": 1,
        "bypass": 1,
        "hit_rate": 0.2,
        "shared_rate": 0.2,
        "bypass_rate": 0.2,
        "errors": 1,
        "error_rate": 0.2,
        "input_tokens": 1010,
        "cached_input_tokens": 200,
        "output_tokens": 105,
        "cost_usd": 0.0045,
        "saved_cost_usd": 0.0065,
        "unpriced_calls": 2,
        "latency_ms": stats["latency_ms"],
        "ttft_ms": {"p50": None, "p95": None, "streams": 0},
    }
    assert agg.cancelled == 1
    # latencies sorted: 20, 50, 900, 1000, 3000 -> ranks floor(q * 4): 2, 3, 3
    assert stats["latency_ms"]["p50"] == pytest.approx(900.0, rel=ALPHA)
    assert stats["latency_ms"]["p95"] == pytest.approx(1000.0, rel=ALPHA)
    assert stats["latency_ms"]["p99"] == pytest.approx(1000.0, rel=ALPHA)


def test_an_empty_aggregate_has_zero_rates_and_no_percentiles() -> None:
    stats = Aggregate().stats()
    assert stats["calls"] == 0
    assert stats["hit_rate"] == stats["error_rate"] == stats["shared_rate"] == stats["bypass_rate"] == 0.0
    assert stats["cost_usd"] == 0.0
    assert stats["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert stats["ttft_ms"] == {"p50": None, "p95": None, "streams": 0}


def test_rates_are_rounded_fractions() -> None:
    agg = Aggregate()
    for cache in (CacheOutcome.HIT, CacheOutcome.MISS, CacheOutcome.MISS):
        agg.add(record(cache=cache))
    assert agg.stats()["hit_rate"] == 0.3333


def test_time_to_first_token_comes_only_from_streams() -> None:
    agg = Aggregate()
    agg.add(record(stream=False, ttft_ms=5.0))  # a buffered call's ttft is ignored
    agg.add(record(stream=True, ttft_ms=200.0))
    agg.add(record(stream=True, ttft_ms=400.0))
    agg.add(record(stream=True, ttft_ms=None))  # a stream that failed before its first token
    stats = agg.stats()["ttft_ms"]
    assert stats["streams"] == 3
    assert agg.ttft.count == 2
    assert stats["p50"] == pytest.approx(200.0, rel=ALPHA)
    assert stats["p95"] == pytest.approx(200.0, rel=ALPHA)  # rank floor(0.95 * 1) = 0
    assert agg.latency.count == 4


def test_costs_sum_exactly_in_any_order() -> None:
    costs = [0.1, 0.2, 0.3, 1e-9, 0.123456789, 2.5e-7]
    assert sum(costs) != sum(reversed(costs))  # floats would not
    forward, backward = Aggregate(), Aggregate()
    for cost in costs:
        forward.add(record(cost_usd=cost))
    for cost in reversed(costs):
        backward.add(record(cost_usd=cost))
    assert forward == backward
    assert forward.cost_nano_usd == 723_457_040
    assert forward.stats()["cost_usd"] == 0.723457
    assert nano_usd(0.0045) == nano_usd(Decimal("0.0045")) == 4_500_000
    assert usd(1_500) == 0.000002  # half-even at 6 decimals: 0.0000015 -> 0.000002


def test_merged_hourly_roll_ups_equal_one_aggregate_over_all_records() -> None:
    # Given 3000 records over 48 hours (from 03:15), rolled up per hour and stored as JSON
    records = random_records(3000)
    hourly = {hour: Aggregate.from_json(agg.to_json()) for hour, agg in aggregate(records, "hour").items()}
    assert len(hourly) == 49
    # When the hours are merged in a shuffled order
    hours = list(hourly.values())
    random.Random(1).shuffle(hours)
    merged = Aggregate()
    for agg in hours:
        merged.merge(agg)
    # Then it is exactly one aggregate over every record, added in another order
    whole = Aggregate()
    for r in reversed(records):
        whole.add(r)
    assert merged == whole
    assert merged.to_json() == whole.to_json()
    assert merged.stats() == whole.stats()


def test_a_closed_period_from_roll_ups_plus_the_open_one_from_raw_records_matches_raw_records() -> None:
    # Given records split at an hour boundary: closed hours are rolled up per (hour, group) and stored
    records = random_records(2000, seed=21)
    cutoff = T0.replace(minute=0, second=0, microsecond=0) + timedelta(hours=30)
    closed = [r for r in records if r.timestamp < cutoff]
    open_period = [r for r in records if r.timestamp >= cutoff]
    for group_by in ("function", "model", "day"):
        roll_ups = [
            {key: agg.to_json() for key, agg in aggregate(hour_records, group_by).items()}
            for hour_records in _by_hour(closed).values()
        ]
        # When the answer merges the stored roll-ups with the open period's raw records
        answer: dict[str, Aggregate] = {}
        for stored in roll_ups:
            for key, text in stored.items():
                answer.setdefault(key, Aggregate()).merge(Aggregate.from_json(text))
        for key, agg in aggregate(open_period, group_by).items():
            answer.setdefault(key, Aggregate()).merge(agg)
        # Then it is exactly the answer from the raw records alone
        raw = aggregate(records, group_by)
        assert answer == raw
        assert {k: a.stats() for k, a in answer.items()} == {k: a.stats() for k, a in raw.items()}


def _by_hour(records: list[PerfRecord]) -> dict[str, list[PerfRecord]]:
    hours: dict[str, list[PerfRecord]] = {}
    for r in records:
        hours.setdefault(group_key(r, "hour"), []).append(r)
    return hours


def test_api_numbers_match_a_recomputation_from_the_raw_records() -> None:
    records = random_records(4000, seed=99)
    for key, agg in aggregate(records, "function").items():
        mine = [r for r in records if r.function == key]
        stats = agg.stats()
        assert stats["calls"] == len(mine)
        assert stats["hits"] == sum(r.cache == CacheOutcome.HIT for r in mine)
        assert stats["errors"] == sum(r.status == "error" for r in mine)
        assert stats["output_tokens"] == sum(r.output_tokens for r in mine)
        assert stats["cost_usd"] == pytest.approx(sum(r.cost_usd or 0.0 for r in mine), abs=1e-6)
        assert stats["saved_cost_usd"] == pytest.approx(sum(r.saved_cost_usd or 0.0 for r in mine), abs=1e-6)
        assert stats["unpriced_calls"] == sum(r.cost_usd is None for r in mine)
        latencies = [r.latency_ms for r in mine]
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            exact = float(np.percentile(latencies, 100 * q, method="lower"))
            assert abs(stats["latency_ms"][name] - exact) <= ALPHA * exact + 0.05  # + rounding to 0.1 ms
        ttfts = [r.ttft_ms for r in mine if r.stream and r.ttft_ms is not None]
        assert stats["ttft_ms"]["streams"] == sum(r.stream for r in mine)
        for name, q in (("p50", 0.5), ("p95", 0.95)):
            exact = float(np.percentile(ttfts, 100 * q, method="lower"))
            assert abs(stats["ttft_ms"][name] - exact) <= ALPHA * exact + 0.05


def test_dynamodb_items_aggregate_exactly_like_the_records_they_came_from() -> None:
    records = random_records(500, seed=4)
    items = [dynamodb_item(r) for r in records]
    assert isinstance(items[0]["latency_ms"], Decimal)
    for group_by in GROUP_BY:
        assert aggregate(items, group_by) == aggregate(records, group_by)


def test_items_read_off_the_wire_with_only_the_projected_fields_aggregate_exactly_like_their_records() -> None:
    records = random_records(500, seed=5)
    sink = DynamoPerfSink(lambda: None, "perf", retention_days=30)  # type: ignore[arg-type,return-value]
    wire = [{name: value for name, value in sink.item(r).items() if name in FIELDS} for r in records]
    read = [plain(item) for item in wire]
    assert isinstance(read[0]["latency_ms"], str)  # the decimal text DynamoDB holds
    for group_by in GROUP_BY:
        assert aggregate(read, group_by) == aggregate(records, group_by)
    from_wire, from_items = Bucket(), Bucket()
    for item, full in zip(read, records, strict=True):
        from_wire.add(item)
        from_items.add(dynamodb_item(full))
    assert from_wire.errors == from_items.errors  # request ids and times taken from the sort key
    assert len(from_wire.errors) == 10


def test_aggregate_json_round_trips_exactly_also_from_decimals() -> None:
    agg = Aggregate()
    for r in random_records(300, seed=8):
        agg.add(r)
    text = agg.to_json()
    assert Aggregate.from_json(text) == agg
    assert Aggregate.from_json(text).to_json() == text
    assert Aggregate.from_dict(json.loads(text, parse_int=Decimal)) == agg
    with pytest.raises(ValueError, match="format"):
        Aggregate.from_json('{"v": 99}')


def test_group_keys_for_each_group_by() -> None:
    perf = record(
        function="smart_actions",
        operation="carrier-email",
        model="gpt-4o-mini",
        mode=Mode.CHEAP,
        timestamp=datetime(2026, 11, 23, 22, 30, tzinfo=timezone(timedelta(hours=-5))),  # 03:30 UTC next day
    )
    expected = {
        "function": "smart_actions",
        "operation": "carrier-email",
        "model": "gpt-4o-mini",
        "mode": "cheap",
        "hour": "2026-11-24T03",
        "day": "2026-11-24",
    }
    assert {g: group_key(perf, g) for g in GROUP_BY} == expected
    assert {g: group_key(dynamodb_item(perf), g) for g in GROUP_BY} == expected
    assert group_key({"timestamp": "2026-11-24T03:59:59.999Z"}, "hour") == "2026-11-24T03"
    assert group_key({"timestamp": "2026-11-24T03:59:59.999Z"}, "day") == "2026-11-24"
    assert group_key({"timestamp": "2026-11-23T22:59:59.999-05:00"}, "hour") == "2026-11-24T03"
    with pytest.raises(ValueError, match="group_by"):
        group_key(perf, "org")  # type: ignore[arg-type]


def test_aggregate_groups_records_with_sorted_keys() -> None:
    records = [record(model="gpt-4o-mini"), record(model="gpt-4o"), record(model="gpt-4o-mini")]
    groups = aggregate(records, "model")
    assert list(groups) == ["gpt-4o", "gpt-4o-mini"]
    assert [g.calls for g in groups.values()] == [1, 2]
