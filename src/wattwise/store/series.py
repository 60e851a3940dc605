"""Answer "min/mean/max of a metric over time" with at most N buckets, from the cheapest exact tier.

Buckets are aligned to multiples of their width since the epoch, and the result covers every
bucket that meets [start, end). A rollup tier can answer exactly whenever its width divides
the bucket width, so the answer is identical whichever tier serves it — only the cost differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from wattwise.domain.readings import METRICS
from wattwise.store.rollups import RAW, TIERS, Tier

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
