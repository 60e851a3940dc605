"""One meter's stored history, row by row, from raw readings or one rollup tier (for export files).

Rows come in pages keyed by time (``ts > last``), so a year of raw readings is read in short
queries rather than one cursor held open for as long as a slow client takes to download.
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
        "WHERE device_id = :device AND ts > :after AND ts < :until ORDER BY ts LIMIT :limit"
    )


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
    sql = text(_select(RESOLUTIONS[resolution], metrics))
    after = since - 1
    while True:
        with engine.connect() as conn:
            params = {"device": device_id, "after": after, "until": until, "limit": page_rows}
            page: list[Row] = [tuple(row) for row in conn.execute(sql, params)]
        if page:
            yield page
        if len(page) < page_rows:
            return
        after = int(page[-1][0] or 0)  # ts is never NULL (primary key)
