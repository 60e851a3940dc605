"""The last reading and the energy total of each meter (for exporters and status views)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from wattwise.domain.readings import METRICS


@dataclass(frozen=True, slots=True)
class MeterState:
    device_id: int
    ts: int | None
    values: dict[str, float | None]
    energy_wh: float  # everything the meter has consumed since its first reading


_LAST = text(f"SELECT ts, {', '.join(METRICS)} FROM readings WHERE device_id = :d ORDER BY ts DESC LIMIT 1")
# From the daily rollups: refresh pending rollups first (Writer.flush) for an exact total.
_TOTAL = text("SELECT coalesce(sum(wh), 0) FROM rollup_1d WHERE device_id = :d")


def meter_state(conn: Connection, device_id: int) -> MeterState:
    row = conn.execute(_LAST, {"d": device_id}).first()
    total = float(conn.execute(_TOTAL, {"d": device_id}).scalar_one())
    if row is None:
        return MeterState(device_id=device_id, ts=None, values=dict.fromkeys(METRICS), energy_wh=total)
    return MeterState(
        device_id=device_id, ts=int(row.ts), values={m: getattr(row, m) for m in METRICS}, energy_wh=total
    )
