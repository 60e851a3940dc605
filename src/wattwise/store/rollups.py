"""1-minute, 1-hour and 1-day rollups, recomputed from the tier below for the buckets a write touched.

Recomputing (rather than adding increments) makes a rollup a pure function of the rows under
it: late, backfilled or corrected readings land in the right buckets, and re-running a
refresh is harmless.

A write only marks the minutes it touched (``mark``, in the readings' own transaction); the
writer refreshes every marked bucket at most a second later (``refresh_marked``), so a
thousand single-reading uploads cost one refresh, not three thousand statements. After a
crash the marks are still there and the next start catches up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from wattwise.domain.readings import METRICS
from wattwise.store.bulk import insert_many

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    table: str
    width_ms: int


RAW = Tier("raw", "readings", 1)
TIERS: tuple[Tier, ...] = (
    Tier("1m", "rollup_1m", MINUTE_MS),
    Tier("1h", "rollup_1h", HOUR_MS),
    Tier("1d", "rollup_1d", DAY_MS),
)

_STAT_COLUMNS = ", ".join(f"{m}_{s}" for m in METRICS for s in ("n", "sum", "min", "max"))


def _from_raw() -> str:
    return ", ".join(f"count({m}), sum({m}), min({m}), max({m})" for m in METRICS)


def _from_tier() -> str:
    return ", ".join(f"sum({m}_n), sum({m}_sum), min({m}_min), max({m}_max)" for m in METRICS)


def _refresh_sql(target: Tier, source: Tier) -> str:
    width = target.width_ms
    n_expr, aggregates = ("count(*)", _from_raw()) if source is RAW else ("sum(n)", _from_tier())
    updates = ", ".join(f"{c} = excluded.{c}" for c in ["n", *_STAT_COLUMNS.split(", "), "wh"])
    return (
        f"INSERT INTO {target.table} (device_id, ts, n, {_STAT_COLUMNS}, wh) "
        f"SELECT device_id, (ts / {width}) * {width} AS bucket, {n_expr}, {aggregates}, sum(wh) "
        f"FROM {source.table} WHERE device_id = :device AND ts >= :lo AND ts < :hi "
        f"GROUP BY device_id, bucket "
        f"ON CONFLICT (device_id, ts) DO UPDATE SET {updates}"
    )


_REFRESH = {tier.name: text(_refresh_sql(tier, source)) for tier, source in zip(TIERS, (RAW, *TIERS[:-1]), strict=True)}


def runs(buckets: Iterable[int], width_ms: int) -> list[tuple[int, int]]:
    """Group bucket starts into contiguous [lo, hi) ranges, so one statement covers each."""
    out: list[tuple[int, int]] = []
    for b in sorted(set(buckets)):
        if out and out[-1][1] == b:
            out[-1] = (out[-1][0], b + width_ms)
        else:
            out.append((b, b + width_ms))
    return out


def mark(conn: Connection, device_id: int, touched_ts: Iterable[int]) -> None:
    """Note the minutes whose rollups must be recomputed."""
    minutes = {ts // MINUTE_MS * MINUTE_MS for ts in touched_ts}
    rows = [(device_id, m) for m in sorted(minutes)]
    insert_many(conn, "rollup_dirty", ("device_id", "ts"), rows, "ON CONFLICT (device_id, ts) DO NOTHING")


def pending(conn: Connection, device_id: int, lo: int, hi: int) -> bool:
    """Whether some rollup of this meter in [lo, hi) still waits for its refresh."""
    return (
        conn.execute(
            text("SELECT 1 FROM rollup_dirty WHERE device_id = :d AND ts >= :lo AND ts < :hi LIMIT 1"),
            {"d": device_id, "lo": lo - DAY_MS, "hi": hi},
        ).first()
        is not None
    )


def refresh_marked(conn: Connection) -> int:
    """Bring every marked bucket up to date and clear the marks; returns how many minutes."""
    marked = conn.execute(text("SELECT device_id, ts FROM rollup_dirty")).all()
    by_device: dict[int, list[int]] = {}
    for device_id, ts in marked:
        by_device.setdefault(int(device_id), []).append(int(ts))
    for device_id, minutes in by_device.items():
        refresh(conn, device_id, minutes)
    if marked:
        conn.execute(text("DELETE FROM rollup_dirty"))
    return len(marked)


def refresh(conn: Connection, device_id: int, touched_ts: Iterable[int]) -> None:
    """Recompute every rollup bucket that contains one of ``touched_ts``, finest tier first."""
    stamps = list(touched_ts)
    for tier in TIERS:
        buckets = {ts // tier.width_ms * tier.width_ms for ts in stamps}
        for lo, hi in runs(buckets, tier.width_ms):
            conn.execute(_REFRESH[tier.name], {"device": device_id, "lo": lo, "hi": hi})
