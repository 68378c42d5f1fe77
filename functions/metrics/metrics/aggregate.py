"""Per-group sums of perf records that merge exactly: the roll-ups and the API's answers.

An `Aggregate` holds only counts, integer sums and bucket counts (`LatencySketch`), so adding records
one by one, in any order, and merging aggregates of any split of the records (hours into a day, stored
roll-ups plus the open period's raw records) give the same state, field for field; `stats()` is a pure
function of that state, so the API answers the same either way.

Money is summed in integer nano-USD: each record's cost is read as the decimal it was stored as (a float
through its shortest repr, the way `shared.perf` writes it to DynamoDB, or the Decimal read back) and
rounded half-even to 1e-9 USD, so a PerfRecord and its DynamoDB item add the same amount.

Records are `shared.perf.PerfRecord`s or plain mappings with the same field names, as read from
DynamoDB (numbers as Decimals or as their decimal text, enum values as strings, the timestamp as an
ISO string).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, get_args

from metrics.sketch import LatencySketch

if TYPE_CHECKING:
    from shared.perf import PerfRecord

GroupBy = Literal["function", "operation", "model", "mode", "hour", "day"]
GROUP_BY: Final[tuple[GroupBy, ...]] = get_args(GroupBy)

RecordLike: TypeAlias = "PerfRecord | Mapping[str, Any]"
"""A PerfRecord, or its DynamoDB item read back (a dict with Decimal numbers, or with numbers as
their decimal text: `metrics.records.plain`)."""

FORMAT_VERSION: Final = 1
"""Stored in `to_json()`; a change of the sketch's ALPHA or bucket layout must change it."""

NANO: Final = Decimal(1).scaleb(-9)


@dataclass(eq=True)
class Aggregate:
    calls: int = 0
    hits: int = 0
    misses: int = 0
    shared: int = 0
    bypass: int = 0
    errors: int = 0
    cancelled: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_nano_usd: int = 0
    saved_nano_usd: int = 0
    unpriced_calls: int = 0
    """Calls whose cost is unknown (cost_usd None: a model without a price); not counted as free."""
    streams: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch)
    ttft: LatencySketch = field(default_factory=LatencySketch)
    """Time to first token, of streamed calls that have one."""

    def add(self, record: RecordLike) -> None:
        get = _getter(record)
        self.calls += 1
        cache = _text(get("cache"))
        if cache == "hit":
            self.hits += 1
        elif cache == "miss":
            self.misses += 1
        elif cache == "shared":
            self.shared += 1
        elif cache == "bypass":
            self.bypass += 1
        status = _text(get("status"))
        if status == "error":
            self.errors += 1
        elif status == "cancelled":
            self.cancelled += 1
        self.input_tokens += int(get("input_tokens") or 0)
        self.cached_input_tokens += int(get("cached_input_tokens") or 0)
        self.output_tokens += int(get("output_tokens") or 0)
        cost = get("cost_usd")
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_nano_usd += nano_usd(cost)
        saved = get("saved_cost_usd")
        if saved is not None:
            self.saved_nano_usd += nano_usd(saved)
        latency = get("latency_ms")
        if latency is not None and math.isfinite(float(latency)):
            self.latency.add(float(latency))
        if bool(get("stream")):
            self.streams += 1
            ttft = get("ttft_ms")
            if ttft is not None and math.isfinite(float(ttft)):
                self.ttft.add(float(ttft))

    def merge(self, other: Aggregate) -> None:
        """Add `other` into this aggregate (in place)."""
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, LatencySketch):
                mine.merge(getattr(other, f.name))
            else:
                setattr(self, f.name, mine + getattr(other, f.name))

    def copy(self) -> Aggregate:
        clone = Aggregate()
        clone.merge(self)
        return clone

    def stats(self) -> dict[str, Any]:
        """The API's numbers for this group."""
        return {
            "calls": self.calls,
            "hits": self.hits,
            "misses": self.misses,
            "shared": self.shared,
            "bypass": self.bypass,
            "hit_rate": _rate(self.hits, self.calls),
            "shared_rate": _rate(self.shared, self.calls),
            "bypass_rate": _rate(self.bypass, self.calls),
            "errors": self.errors,
            "error_rate": _rate(self.errors, self.calls),
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": usd(self.cost_nano_usd),
            "saved_cost_usd": usd(self.saved_nano_usd),
            "unpriced_calls": self.unpriced_calls,
            "latency_ms": {
                "p50": _ms(self.latency.quantile(0.50)),
                "p95": _ms(self.latency.quantile(0.95)),
                "p99": _ms(self.latency.quantile(0.99)),
            },
            "ttft_ms": {
                "p50": _ms(self.ttft.quantile(0.50)),
                "p95": _ms(self.ttft.quantile(0.95)),
                "streams": self.streams,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.to_dict() if isinstance(value, LatencySketch) else value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aggregate:
        if int(data.get("v", 0)) != FORMAT_VERSION:
            raise ValueError(f"unsupported aggregate format {data.get('v')!r}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = data.get(f.name)
            if f.name in ("latency", "ttft"):
                values[f.name] = LatencySketch() if raw is None else LatencySketch.from_dict(raw)
            else:
                number = int(raw or 0)
                if number != (raw or 0):
                    raise ValueError(f"{f.name} must be an integer, got {raw!r}")
                values[f.name] = number
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Aggregate:
        return cls.from_dict(json.loads(text))


def nano_usd(amount: float | Decimal | int | str) -> int:
    """USD as integer nano-USD, half-even. A float is read through its repr, as DynamoDB stores it."""
    if isinstance(amount, float):
        if not math.isfinite(amount):
            raise ValueError(f"a cost must be finite, got {amount!r}")
        amount = repr(amount)
    return int(Decimal(amount).quantize(NANO, rounding=ROUND_HALF_EVEN).scaleb(9))


def usd(nano: int) -> float:
    """Integer nano-USD as a float USD rounded to 6 decimals (one rounding, from the exact sum)."""
    return float(Decimal(nano).scaleb(-9).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def group_key(record: RecordLike, group_by: GroupBy) -> str:
    """The group a record falls in: a field's value, or its UTC hour ("2026-11-24T03") or day."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}")
    if group_by in ("hour", "day"):
        stored = _getter(record)("timestamp")
        if isinstance(stored, str) and stored.endswith("Z"):  # UTC, as the table holds it: its prefix
            return stored[: 13 if group_by == "hour" else 10]
        return timestamp_of(record).strftime("%Y-%m-%dT%H" if group_by == "hour" else "%Y-%m-%d")
    return _text(_getter(record)(group_by))


def aggregate(records: Iterable[RecordLike], group_by: GroupBy) -> dict[str, Aggregate]:
    """One aggregate per group, keys sorted."""
    groups: dict[str, Aggregate] = {}
    for record in records:
        key = group_key(record, group_by)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Aggregate()
        group.add(record)
    return dict(sorted(groups.items()))


def timestamp_of(record: RecordLike) -> datetime:
    """A record's timestamp as an aware UTC datetime (a naive one is taken as UTC)."""
    value = _getter(record)("timestamp")
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise ValueError(f"a record needs a timestamp, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _getter(record: RecordLike) -> Callable[[str], Any]:
    if isinstance(record, Mapping):
        return record.get
    return lambda name: getattr(record, name, None)


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    return "" if value is None else str(value)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
