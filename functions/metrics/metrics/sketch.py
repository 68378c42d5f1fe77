"""A mergeable quantile sketch for latencies in milliseconds (DDSketch-style logarithmic buckets).

Buckets. With relative accuracy ``ALPHA`` = 0.01 and ``GAMMA`` = (1 + ALPHA) / (1 - ALPHA), a value
x > ``MIN_VALUE`` falls in bucket i = ceil(log_GAMMA(x)), which covers (GAMMA**(i-1), GAMMA**i]; values
<= ``MIN_VALUE`` (0.01 ms, also zero or negative ones) are counted in a separate zero bucket. The sketch
is only the bucket counts, so merging adds counts: associative, commutative and exact. Merging the
hourly sketches of a day gives exactly (``==``, same ``to_json()``) the sketch of all the day's values.

Rank convention ("lower"): ``quantile(q)`` estimates the value of 0-based rank floor(q * (n - 1)) among
the n values sorted ascending, i.e. ``numpy.percentile(values, 100 * q, method="lower")``.

Guarantee: let x be that order statistic. If x > MIN_VALUE, the estimate v satisfies
|v - x| <= ALPHA * x (up to float rounding, ~1e-15 relative). If x <= MIN_VALUE, v = 0.0.
Why: the bucket index is non-decreasing in x, so the rank-th value of the sketch lies in the same bucket
as the true rank-th value, and the estimate is the bucket's point 2 * GAMMA**i / (GAMMA + 1), whose
relative distance to both ends of (GAMMA**(i-1), GAMMA**i] is (GAMMA - 1) / (GAMMA + 1) = ALPHA.

Size: one bucket per 2% of range, so 1 ms .. 1 hour spans at most ~760 buckets whatever the count; the
serialized form (`to_dict`) stores only non-empty buckets as two parallel arrays, indices
delta-encoded. Pure Python: this runs in a zip Lambda without numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

ALPHA: Final = 0.01
GAMMA: Final = (1 + ALPHA) / (1 - ALPHA)
MIN_VALUE: Final = 0.01
"""Values at or below this (ms) go to the zero bucket and are reported as 0.0."""

_LOG_GAMMA: Final = math.log(GAMMA)


def bucket_index(value: float) -> int:
    """The bucket of a value > MIN_VALUE: ceil(log_GAMMA(value))."""
    return math.ceil(math.log(value) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The value reported for a bucket: within ALPHA (relative) of every value the bucket covers."""
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


class LatencySketch:
    """Counts of latencies per logarithmic bucket; see the module docstring for the guarantee."""

    __slots__ = ("_buckets", "_count", "_zero")

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._zero = 0
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self, value: float) -> None:
        """Count one value (ms). Raises ValueError for NaN or infinity."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"a latency must be finite, got {value!r}")
        if value <= MIN_VALUE:
            self._zero += 1
        else:
            index = bucket_index(value)
            self._buckets[index] = self._buckets.get(index, 0) + 1
        self._count += 1

    def merge(self, other: LatencySketch) -> None:
        """Add `other`'s counts to this sketch (in place): the sketch of both sets of values."""
        for index, n in other._buckets.items():
            self._buckets[index] = self._buckets.get(index, 0) + n
        self._zero += other._zero
        self._count += other._count

    def quantile(self, q: float) -> float | None:
        """The value of rank floor(q * (n - 1)) within ALPHA relative error; None when empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be within [0, 1], got {q!r}")
        if self._count == 0:
            return None
        rank = math.floor(q * (self._count - 1))
        if rank < self._zero:
            return 0.0
        seen = self._zero
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen > rank:
                return bucket_value(index)
        raise AssertionError("unreachable: counts add up to the total")  # pragma: no cover

    def to_dict(self) -> dict[str, Any]:
        """A canonical JSON-able form: {"z": zero count, "i": [first index, gaps...], "c": [counts]}."""
        indices = sorted(self._buckets)
        deltas = [b - a for a, b in zip([0, *indices], indices, strict=False)]
        return {"z": self._zero, "i": deltas, "c": [self._buckets[i] for i in indices]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencySketch:
        deltas, counts = list(data["i"]), list(data["c"])
        if len(deltas) != len(counts):
            raise ValueError("a sketch needs as many counts as bucket indices")
        sketch = cls()
        sketch._zero = _count_of(data["z"])
        index = 0
        for position, (delta, n) in enumerate(zip(deltas, counts, strict=True)):
            step = int(delta)
            if position > 0 and step <= 0:
                raise ValueError("bucket indices must increase")
            index += step
            count = _count_of(n)
            if count == 0:
                raise ValueError("a stored bucket cannot be empty")
            sketch._buckets[index] = count
        sketch._count = sketch._zero + sum(sketch._buckets.values())
        return sketch

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LatencySketch:
        return cls.from_dict(json.loads(text))

    def copy(self) -> LatencySketch:
        clone = LatencySketch()
        clone.merge(self)
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencySketch):
            return NotImplemented
        return self._zero == other._zero and self._buckets == other._buckets

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"LatencySketch(count={self._count}, buckets={len(self._buckets)}, zero={self._zero})"


def _count_of(value: Any) -> int:
    """A non-negative integer count, also from a DynamoDB Decimal; rejects fractions and negatives."""
    count = int(value)
    if count != value or count < 0:
        raise ValueError(f"a count must be a non-negative integer, got {value!r}")
    return count
