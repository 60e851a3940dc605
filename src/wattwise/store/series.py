"""Answer "min/mean/max of a metric over time" with at most N buckets, from the cheapest exact tier.

Buckets are aligned to multiples of their width since the epoch, and the result covers every
bucket that meets [start, end). A rollup tier can answer exactly whenever its width divides
the bucket width, so the answer is identical whichever tier serves it — only the cost differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from wattwise.domain.readings import METRICS
from wattwise.store.rollups import HOUR_MS, MINUTE_MS, RAW, TIERS, Tier, whole_hours

SECOND_MS = 1000
_NICE_MS: tuple[int, ...] = tuple(
    s * SECOND_MS
    for s in (
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        10800,
        21600,
        43200,
        86400,
        2 * 86400,
        7 * 86400,
        14 * 86400,
        28 * 86400,
        91 * 86400,
        182 * 86400,
        364 * 86400,
    )
)
MAX_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class Series:
    metric: str
    start: int
    end: int
    bucket_ms: int
    tier: str
    ts: list[int] = field(default_factory=list)
    min: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    max: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)


def bucket_count(start: int, end: int, width: int) -> int:
    return -(-end // width) - start // width


def choose_width(start: int, end: int, points: int) -> int:
    """The finest "nice" bucket width that covers [start, end) in at most ``points`` buckets."""
    for width in _NICE_MS:
        if bucket_count(start, end, width) <= points:
            return width
    span = end - start
    return -(-span // max(points - 1, 1) // _NICE_MS[-1]) * _NICE_MS[-1]


def choose_tier(width: int) -> Tier:
    """The coarsest tier whose buckets divide ``width`` (the cheapest exact answer)."""
    for tier in reversed((RAW, *TIERS)):
        if width % tier.width_ms == 0:
            return tier
    return RAW


def finest_holding(start: int, horizons: dict[str, int]) -> Tier:
    """The finest tier that still holds data from ``start`` (``horizons``: retention)."""
    for tier in (RAW, *TIERS):
        if start >= horizons.get(tier.name, 0):
            return tier
    return TIERS[-1]


def widen(width: int, tier: Tier) -> int:
    """The smallest nice width ≥ ``width`` that ``tier`` can answer exactly."""
    for nice in _NICE_MS:
        if nice >= width and nice % tier.width_ms == 0:
            return nice
    return -(-width // tier.width_ms) * tier.width_ms


def _sql(tier: Tier, metric: str, width: int) -> str:
    if tier is RAW:
        stats = f"min({metric}), sum({metric}), count({metric}), max({metric})"
        present = f"{metric} IS NOT NULL"
    else:
        stats = f"min({metric}_min), sum({metric}_sum), sum({metric}_n), max({metric}_max)"
        present = f"{metric}_n > 0"
    return (
        f"SELECT (ts / {width}) * {width} AS bucket, {stats} FROM {tier.table} "
        f"WHERE device_id = :device AND ts >= :lo AND ts < :hi AND {present} "
        f"GROUP BY bucket ORDER BY bucket"
    )


def query_series(
    conn: Connection,
    device_id: int,
    *,
    metric: str,
    start: int,
    end: int,
    points: int = 1000,
    tier: str | None = None,
    retention: dict[str, int] | None = None,
) -> Series:
    """Buckets of ``metric`` for one meter; ``tier`` forces a tier (tests compare them).

    Where retention has removed the detail a range would need, buckets widen to what the
    remaining tiers hold, so an old range is answered coarser rather than incompletely.
    """
    if metric not in METRICS:
        raise ValueError(f"metric: must be one of {', '.join(METRICS)}, got {metric!r}")
    if end <= start:
        raise ValueError("end: must be after start")
    if not 1 <= points <= MAX_POINTS:
        raise ValueError(f"points: must be between 1 and {MAX_POINTS}")
    width = widen(choose_width(start, end, points), finest_holding(start, retention or {}))
    chosen = choose_tier(width)
    if tier is not None:
        by_name = {t.name: t for t in (RAW, *TIERS)}
        if tier not in by_name or width % by_name[tier].width_ms:
            raise ValueError(f"tier: {tier!r} cannot answer buckets of {width} ms exactly")
        chosen = by_name[tier]
    lo, hi = start // width * width, -(-end // width) * width
    series = Series(metric=metric, start=lo, end=hi, bucket_ms=width, tier=chosen.name)
    for bucket, low, total, n, high in conn.execute(
        text(_sql(chosen, metric, width)), {"device": device_id, "lo": lo, "hi": hi}
    ):
        series.ts.append(int(bucket))
        series.min.append(float(low))
        series.mean.append(float(total) / int(n))
        series.max.append(float(high))
        series.count.append(int(n))
    return series


def recent_readings(conn: Connection, device_id: int, limit: int) -> list[dict[str, float | int | None]]:
    """The meter's last ``limit`` readings, oldest first (for the seed dashboards' live graph)."""
    rows = conn.execute(
        text(f"SELECT ts, {', '.join(METRICS)} FROM readings WHERE device_id = :d ORDER BY ts DESC LIMIT :n"),
        {"d": device_id, "n": limit},
    )
    return [dict(row._mapping) for row in reversed(list(rows))]


# -- a period's extremes, count and silences (the site report) ---------------------------


def _edges(start: int, end: int) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
    """Cut ``[start, end)`` into the whole UTC hours inside it (the hourly rollup answers them
    exactly) and the parts before and after them (read from the raw readings)."""
    hours = whole_hours(start, end)
    if hours is None:
        return [(start, end)], None
    first, last = hours
    return [(lo, hi) for lo, hi in ((start, first), (last, end)) if lo < hi], hours


def extreme(
    conn: Connection, device_id: int, metric: str, start: int, end: int, *, highest: bool
) -> tuple[float, int] | None:
    """The highest (or lowest) ``metric`` of the meter's readings in ``[start, end)`` and the
    reading's time (the earliest of equals); None without a reading of it.

    The whole hours are looked up in the hourly rollup and only the winning hour is read in
    detail, from the raw readings, or the minutes where raw readings have expired (then the
    time is that minute's start, or the hour's where minutes have expired too).
    """
    if metric not in METRICS:
        raise ValueError(f"metric: must be one of {', '.join(METRICS)}, got {metric!r}")
    order, stat = ("DESC", "max") if highest else ("ASC", "min")
    raw = text(
        f"SELECT {metric}, ts FROM readings WHERE device_id = :d AND ts >= :lo AND ts < :hi "
        f"AND {metric} IS NOT NULL ORDER BY {metric} {order}, ts LIMIT 1"
    )

    def rolled(table: str) -> Any:
        return text(
            f"SELECT {metric}_{stat}, ts FROM {table} WHERE device_id = :d AND ts >= :lo AND ts < :hi "
            f"AND {metric}_n > 0 ORDER BY {metric}_{stat} {order}, ts LIMIT 1"
        )

    def best(query: Any, lo: int, hi: int) -> tuple[float, int] | None:
        row = conn.execute(query, {"d": device_id, "lo": lo, "hi": hi}).first()
        return None if row is None else (float(row[0]), int(row[1]))

    edges, hours = _edges(start, end)
    found: list[tuple[float, int, bool]] = []  # value, time, whether it is an hour's start
    for lo, hi in edges:
        if (in_part := best(raw, lo, hi)) is not None:
            found.append((*in_part, False))
    if hours is not None and (in_hours := best(rolled("rollup_1h"), *hours)) is not None:
        found.append((*in_hours, True))
    if not found:
        return None
    value, ts, whole_hour = sorted(found, key=lambda f: (-f[0] if highest else f[0], f[1]))[0]
    if not whole_hour:
        return value, ts
    detail = best(raw, ts, ts + HOUR_MS) or best(rolled("rollup_1m"), ts, ts + HOUR_MS)
    return detail if detail is not None else (value, ts)


def reading_count(conn: Connection, device_id: int, start: int, end: int) -> int:
    """How many readings the meter stored in ``[start, end)``: the whole hours from the hourly
    rollup's counts, the rest from the raw readings."""
    edges, hours = _edges(start, end)
    total = 0
    for lo, hi in edges:
        total += int(
            conn.execute(
                text("SELECT count(*) FROM readings WHERE device_id = :d AND ts >= :lo AND ts < :hi"),
                {"d": device_id, "lo": lo, "hi": hi},
            ).scalar_one()
        )
    if hours is not None:
        total += int(
            conn.execute(
                text("SELECT coalesce(sum(n), 0) FROM rollup_1h WHERE device_id = :d AND ts >= :lo AND ts < :hi"),
                {"d": device_id, "lo": hours[0], "hi": hours[1]},
            ).scalar_one()
        )
    return total


_GAP = (
    "SELECT prev, ts FROM ("
    " SELECT ts, LAG(ts) OVER (ORDER BY ts) AS prev FROM {table} WHERE device_id = :d AND ts >= :lo AND ts < :hi"
    ") AS steps WHERE prev IS NOT NULL AND ts - prev >= :least ORDER BY ts - prev DESC, ts LIMIT :n"
)  # the longest steps between the times of a table's rows (readings, or minutes with readings)
_LAST_IN = text("SELECT max(ts) FROM readings WHERE device_id = :d AND ts >= :lo AND ts < :hi")
_FIRST_IN = text("SELECT min(ts) FROM readings WHERE device_id = :d AND ts >= :lo AND ts < :hi")
#: at most this many stretches between minutes are looked up in the raw readings; past it, all of them are scanned
_MAX_CANDIDATES = 50


def _between_minutes(
    conn: Connection, device_id: int, start: int, end: int
) -> tuple[list[tuple[int, int]] | None, tuple[int, int] | None]:
    """The gaps between readings that may be the longest, found in the 1-minute rollup and
    timed exactly from the raw readings, and the longest step between minutes with readings.
    The gaps are None when the minutes cannot tell (no stretch of three minutes or more without
    readings, or too many alike): then only every reading's time can.

    Two minutes with readings and none in between, ``a`` and ``b``, hold a gap between
    ``b - a - 1 min`` and ``b - a + 1 min``; any other gap is under 2 minutes. So once some
    ``b - a`` is 3 minutes or more, only the stretches within 2 minutes of the longest can win.
    """
    params = {"d": device_id, "lo": start // MINUTE_MS * MINUTE_MS, "hi": end}
    steps = text(_GAP.format(table="rollup_1m"))
    found = conn.execute(steps, {**params, "least": 0, "n": 1}).first()
    longest = None if found is None else (int(found[0]), int(found[1]))
    if longest is None or longest[1] - longest[0] < 3 * MINUTE_MS:
        return None, longest
    least = longest[1] - longest[0] - 2 * MINUTE_MS + 1
    rows = list(conn.execute(steps, {**params, "least": least, "n": _MAX_CANDIDATES + 1}))
    if len(rows) > _MAX_CANDIDATES:
        return None, longest
    gaps = []
    for a, b in rows:
        before = conn.execute(_LAST_IN, {"d": device_id, "lo": int(a), "hi": int(a) + MINUTE_MS}).scalar()
        after = conn.execute(_FIRST_IN, {"d": device_id, "lo": int(b), "hi": int(b) + MINUTE_MS}).scalar()
        # where the raw readings of a minute have expired, its start stands for them
        gaps.append((int(a) if before is None else int(before), int(b) if after is None else int(after)))
    return gaps, longest


def longest_silence(
    conn: Connection, device_id: int, start: int, end: int, *, scan_at_most: int | None = None
) -> tuple[int, int, bool]:
    """The longest stretch of ``[start, end)`` without a reading of the meter, as (from, to,
    exact): between two readings, or from ``start`` to the first, or from the last to ``end``
    (a meter that went silent).

    The 1-minute rollup finds long silences and the raw readings time them. A meter never
    silent for three minutes has its readings' times read one by one — unless it has more than
    ``scan_at_most`` readings in the range: then the answer is the longest stretch from a minute
    with readings to the end of the next one (``exact`` False), which the silence lasted at most.
    """
    # two queries: SQLite answers a lone min() or max() from the index, both together by a scan
    first = conn.execute(_FIRST_IN, {"d": device_id, "lo": start, "hi": end}).scalar()
    last = conn.execute(_LAST_IN, {"d": device_id, "lo": start, "hi": end}).scalar()
    if first is None or last is None:
        return start, end, True
    spans = [(start, int(first), True), (int(last), end, True)]
    inside, longest = _between_minutes(conn, device_id, int(first), int(last) + 1)
    if inside is not None:
        spans += [(a, b, True) for a, b in inside]
    elif (
        longest is not None
        and scan_at_most is not None
        and reading_count(conn, device_id, int(first), int(last) + 1) > scan_at_most
    ):
        spans.append((longest[0], longest[1] + MINUTE_MS, False))
    else:
        params = {"d": device_id, "lo": start, "hi": end, "least": 0, "n": 1}
        spans += [(int(a), int(b), True) for a, b in conn.execute(text(_GAP.format(table="readings")), params)]
    return max(spans, key=lambda s: (s[1] - s[0], s[2], -s[0]))
