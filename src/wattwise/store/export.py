"""One meter's stored history, row by row, from raw readings or one rollup tier (for export files).

Rows come in pages, each a time window ``[lo, hi)``, so a year of raw readings is read in
short queries rather than one cursor held open for as long as a slow client takes to download.
Windows, not ``ORDER BY ts LIMIT n`` after the last row: on a table whose statistics are stale
(a bulk load before autovacuum) PostgreSQL answered each LIMIT page by sorting every row left,
which made an export quadratic. A window's size follows the rows the last one held, aiming at
``page_rows``; an empty window jumps to the next row (an index lookup) instead of growing
across a gap into whatever dense stretch lies beyond.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Engine, text

from wattwise.store.rollups import RAW, TIERS, Tier

PAGE_ROWS = 10_000
RESOLUTIONS: dict[str, Tier] = {t.name: t for t in (RAW, *TIERS)}

Row = tuple[float | int | None, ...]


def columns(resolution: str, metrics: Sequence[str]) -> list[str]:
    """Value columns after ``ts``: raw values, or count and mean/min/max per metric of a tier; then ``wh``."""
    if resolution == RAW.name:
        return [*metrics, "wh"]
    stats = [f"{m}_{s}" for m in metrics for s in ("mean", "min", "max")]
    return ["count", *stats, "wh"]


def _select(tier: Tier, metrics: Sequence[str]) -> str:
    if tier is RAW:
        values = [*metrics, "wh"]
    else:
        values = ["n"]
        for m in metrics:
            # the mean of a bucket without this metric is unknown, not a division by zero
            mean = f"CASE WHEN {m}_n > 0 THEN {m}_sum / {m}_n END"
            values += [mean, f"{m}_min", f"{m}_max"]
        values.append("wh")
    return (
        f"SELECT ts, {', '.join(values)} FROM {tier.table} "
        "WHERE device_id = :device AND ts >= :lo AND ts < :hi ORDER BY ts"
    )


def _next_sql(tier: Tier) -> str:
    return f"SELECT min(ts) FROM {tier.table} WHERE device_id = :device AND ts >= :lo AND ts < :hi"


def history_pages(
    engine: Engine,
    device_id: int,
    *,
    resolution: str,
    metrics: Sequence[str],
    since: int,
    until: int,
    page_rows: int = PAGE_ROWS,
) -> Iterator[list[Row]]:
    """Pages of ``(ts, *values)`` in time order over [since, until); each page is a fresh short read.

    Metric names must already be checked against ``METRICS``: they become column names.
    """
    tier = RESOLUTIONS[resolution]
    sql, next_sql = text(_select(tier, metrics)), text(_next_sql(tier))
    window = page_rows * max(tier.width_ms, 1000)  # raw: first guess, a reading a second
    lo: int | None = since
    while lo is not None and lo < until:
        hi = min(lo + window, until)
        with engine.connect() as conn:
            page: list[Row] = [tuple(row) for row in conn.execute(sql, {"device": device_id, "lo": lo, "hi": hi})]
            if not page:
                lo = conn.execute(next_sql, {"device": device_id, "lo": hi, "hi": until}).scalar()
                continue
        yield page
        lo = hi
        # about page_rows at this density next time, growing at most fourfold a step
        window = max(min(window * page_rows // len(page), window * 4), tier.width_ms)
