"""The answer of `GET /v1/metrics/ai-performance`: one org's calls in a window, grouped.

The window [from, to) splits into the whole hours the roll-up has closed (up to its watermark), read
from roll-ups (a whole closed day from its day item, unless grouping by hour), and the rest (the
partial hours at either edge, and the hours since the watermark), read from raw records. Aggregates
merge exactly, so the answer is the same whichever way a period is read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from metrics.aggregate import GroupBy, group_key
from metrics.records import PerfLog
from metrics.rollup import HOUR, Bucket, Dims, Rollups, floor_hour, latest_errors
from metrics.sketch import ALPHA
from shared.errors import BadRequest
from shared.perf import hour_key, perf_timestamp

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=93)
MAX_HOURLY_WINDOW = timedelta(days=31)  # group_by=hour: at most 744 groups
DAY = timedelta(days=1)
_DIM_INDEX: dict[str, int] = {"function": 0, "operation": 1, "model": 2, "mode": 3}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def parse_moment(value: str, name: str) -> datetime:
    """ISO 8601 with a zone (`Z` or `+01:00`), or a date (midnight UTC); a naive time is UTC."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"`{name}` must be an ISO 8601 time such as 2026-11-24T03:00:00Z, not {text[:40]!r}."
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def window(start: str | None, end: str | None, group_by: GroupBy, now: datetime) -> Window:
    """The window asked for, with the defaults (the last 7 days) and limits applied; 400 otherwise."""
    to = parse_moment(end, "to") if end else now
    since = parse_moment(start, "from") if start else to - DEFAULT_WINDOW
    if since >= to:
        raise BadRequest("`from` must be before `to`.")
    if to - since > MAX_WINDOW:
        raise BadRequest(f"The window may span at most {MAX_WINDOW.days} days; ask for a shorter one.")
    if group_by == "hour" and to - since > MAX_HOURLY_WINDOW:
        raise BadRequest(f"group_by=hour covers at most {MAX_HOURLY_WINDOW.days} days; use group_by=day.")
    return Window(since, to)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def answer(
    org_id: str,
    span: Window,
    group_by: GroupBy,
    function: str | None,
    *,
    log: PerfLog,
    rollups: Rollups,
) -> dict[str, Any]:
    groups: dict[str, Bucket] = defaultdict(Bucket)
    first = ceil_hour(span.start)
    watermark = rollups.watermark()
    last = min(floor_hour(span.end), watermark + HOUR) if watermark is not None else first
    raw = [(span.start, span.end)] if last <= first else [(span.start, first), (last, span.end)]
    for start, end in raw:
        for record in log.org_records(org_id, start, end, function):
            groups[group_key(record, group_by)].add(record)
    rolled_hours = 0
    if last > first:
        for period, dims, bucket in rolled_items(org_id, first, last, group_by, rollups):
            if function is None or dims[0] == function:
                groups[rolled_key(period, dims, group_by)].merge(bucket)
        rolled_hours = int((last - first) / HOUR)
    totals = Bucket()
    for bucket in groups.values():
        totals.merge(bucket)
    window_hours = (span.end - span.start) / HOUR
    return {
        "org_id": org_id,
        "from": perf_timestamp(span.start),
        "to": perf_timestamp(span.end),
        "group_by": group_by,
        "function": function,
        "source": {"rollup_hours": rolled_hours, "raw_hours": round(window_hours - rolled_hours, 3)},
        "totals": totals.aggregate.stats(),
        "groups": [{"key": key, **groups[key].aggregate.stats()} for key in ordered(groups, group_by)],
        "recent_errors": latest_errors(totals.errors),
        "sketch": {"relative_error": ALPHA},
    }


def rolled_items(
    org_id: str, first: datetime, last: datetime, group_by: GroupBy, rollups: Rollups
) -> list[tuple[str, Dims, Bucket]]:
    """The roll-ups covering the whole hours [first, last): day items for whole days (unless grouping
    by hour), hour items for the rest."""
    if group_by == "hour":
        return rollups.items(org_id, "h", hour_key(first), hour_key(last - HOUR))
    day_start = first if first.hour == 0 else floor_hour(first).replace(hour=0) + DAY
    day_end = last.replace(hour=0)  # the first day not wholly inside
    if day_end <= day_start:
        return rollups.items(org_id, "h", hour_key(first), hour_key(last - HOUR))
    items = rollups.items(org_id, "d", day_start.strftime("%Y-%m-%d"), (day_end - DAY).strftime("%Y-%m-%d"))
    if first < day_start:
        items += rollups.items(org_id, "h", hour_key(first), hour_key(day_start - HOUR))
    if day_end < last:
        items += rollups.items(org_id, "h", hour_key(day_end), hour_key(last - HOUR))
    return items


def rolled_key(period: str, dims: Dims, group_by: GroupBy) -> str:
    if group_by == "hour":
        return period
    if group_by == "day":
        return period[:10]
    return dims[_DIM_INDEX[group_by]]


def ordered(groups: dict[str, Bucket], group_by: GroupBy) -> list[str]:
    """Time groups in time order; the others by cost, dearest first, then by name."""
    if group_by in ("hour", "day"):
        return sorted(groups)
    return sorted(groups, key=lambda key: (-groups[key].aggregate.cost_nano_usd, key))
