"""How a call was served, as the `X-Dominus-Cache` header and the perf records name it."""

from enum import StrEnum


class CacheOutcome(StrEnum):
    HIT = "hit"  # answered from the cache; no upstream call, nothing billed
    MISS = "miss"  # this call went upstream (and led any identical calls in flight)
    SHARED = "shared"  # an identical call in flight answered this one
    BYPASS = "bypass"  # cache and de-duplication were off or the store was down
