"""Forget old detail, keep the summary: raw readings and 1-minute rollups may expire.

Hourly and daily rollups are kept for ever (they are small: 8,760 + 365 rows per meter-year),
so history stays zoomable to years while the database stops growing with raw readings.
Readings older than the raw horizon are refused at ingest, because a minute recomputed
from a partial set of raw readings would be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Retention:
    raw_days: int = 0  # 0: keep for ever
    minute_days: int = 0

    def horizons(self, now_ms: int) -> dict[str, int]:
        """Oldest timestamp each tier still holds (tiers kept for ever are absent)."""
        out: dict[str, int] = {}
        if self.raw_days > 0:
            out["raw"] = (now_ms - self.raw_days * DAY_MS) // 60_000 * 60_000
        if self.minute_days > 0:
            out["1m"] = (now_ms - self.minute_days * DAY_MS) // 3_600_000 * 3_600_000
        return out


def prune(conn: Connection, retention: Retention, now_ms: int) -> int:
    """Delete what has expired; run after the rollups are refreshed. Returns rows deleted."""
    horizons = retention.horizons(now_ms)
    deleted = 0
    for tier, table in (("raw", "readings"), ("1m", "rollup_1m")):
        if tier in horizons:
            result = conn.execute(text(f"DELETE FROM {table} WHERE ts < :h"), {"h": horizons[tier]})
            deleted += result.rowcount or 0
    return deleted
