"""Energy per local hour, day, week, month and billing cycle for a meter or a whole site.

The series comes from the 1-hour rollups (flushed first when a rollup in range is behind
its readings, so the current period is exact); the periods are the engine's
(``wattwise.analysis.energy``): local boundaries, 23- or 25-hour DST days, and hours
split by time where a local boundary falls inside a UTC hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from wattwise.analysis.energy import (
    HOUR_MS,
    BillingCycle,
    EnergySeries,
    PeriodEnergy,
    billing_cycles,
    combine,
    energy_by_cycle,
    energy_by_period,
    local_date,
    local_midnight_ms,
    period_bounds,
)
from wattwise.runtime import Services
from wattwise.store import devices as device_store
from wattwise.store import hourly_energy
from wattwise.store.clock import now_ms
from wattwise.store.hourly_energy import raw_energy

Granularity = Literal["hour", "day", "week", "month", "cycle"]
GRANULARITIES: tuple[Granularity, ...] = ("hour", "day", "week", "month", "cycle")
MAX_PERIODS = 10_000  # about 14 months of hours


def site_meters(conn: Connection, site_id: int) -> list[int]:
    """The meters whose sum is the site's energy: sub-meters sit behind a main meter, so not them.

    A site of sub-meters only (no main or plain meter) is the sum of its sub-meters.
    """
    meters = device_store.list_devices(conn, frozenset({site_id}))
    counted = [m.id for m in meters if m.role != "sub"]
    return counted or [m.id for m in meters]


def load_series(services: Services, device_ids: Sequence[int], start_ms: int, end_ms: int) -> EnergySeries:
    """The meters' summed hourly energy covering ``[start_ms, end_ms)`` (and the hours straddling its ends)."""
    lo, hi = start_ms - HOUR_MS, end_ms + HOUR_MS
    with services.engine.connect() as conn:
        behind = hourly_energy.stale(conn, device_ids, lo, hi)
    if behind:
        services.writer.flush()  # rollups follow commits within a second; read them exact
    with services.engine.connect() as conn:
        per_meter = hourly_energy.hourly_energy(conn, device_ids, lo, hi)
    series = [EnergySeries.of(ts, wh, HOUR_MS) for ts, wh in per_meter.values()]
    return combine(series) if series else EnergySeries.of([], [], HOUR_MS)


def recorded_series(services: Services, device_ids: Sequence[int], start_ms: int, until_ms: int) -> EnergySeries:
    """The meters' summed hourly energy from ``start_ms`` up to what was recorded by ``until_ms``.

    The hour holding ``until_ms`` holds only the energy of the readings stamped by then, read
    from the raw tier, and later hours are left out; so the series' last bucket may be read
    whole (``EnergySeries.recorded_by``) whether ``until_ms`` is now (the hour in progress) or
    in the past (a bill asked "as of" an earlier time). Where the raw readings of that hour
    have expired (``WATTWISE_RAW_RETENTION_DAYS``), the hour's energy is shared out by time.
    """
    series = load_series(services, device_ids, start_ms, until_ms)
    hour = until_ms // HOUR_MS * HOUR_MS
    raw_from = services.retention.horizons(now_ms()).get("raw")
    if hour == until_ms or (raw_from is not None and raw_from > hour):
        return series.until(until_ms)
    with services.engine.connect() as conn:
        part = sum(raw_energy(conn, device_ids, hour, until_ms).values())
    before = series.until(hour)  # the hours before it, whole
    if not part:
        return before
    return EnergySeries.of([*before.ts_ms.tolist(), hour], [*before.wh.tolist(), part], HOUR_MS)


def cycles_between(anchor: date, months: int, start_ms: int, end_ms: int, zone: ZoneInfo) -> list[BillingCycle]:
    """The billing cycles that overlap ``[start_ms, end_ms)``."""
    last = local_date(max(start_ms, end_ms - 1), zone)
    return billing_cycles(anchor, months, local_date(start_ms, zone), last)


def energy_table(
    services: Services,
    device_ids: Sequence[int],
    zone: ZoneInfo,
    period: Granularity,
    start_ms: int,
    end_ms: int,
    cycle: tuple[date, int],
) -> list[PeriodEnergy]:
    """Energy of each local period overlapping ``[start_ms, end_ms)``; ``cycle`` is (anchor, months)."""
    if end_ms <= start_ms:
        raise ValueError(f"end: must be after start ({end_ms} ≤ {start_ms})")
    if period == "cycle":
        anchor, months = cycle
        cycles = cycles_between(anchor, months, start_ms, end_ms, zone)
        if len(cycles) > MAX_PERIODS:
            raise ValueError(f"start: {len(cycles)} cycles asked for; at most {MAX_PERIODS}")
        lo, hi = local_midnight_ms(cycles[0].start, zone), local_midnight_ms(cycles[-1].end, zone)
        return energy_by_cycle(load_series(services, device_ids, lo, hi), cycles, zone)
    # Count the periods before reading anything: a range of decades in hours is refused.
    first, last = local_date(start_ms, zone), local_date(end_ms, zone)
    approx = {"hour": 24, "day": 1}.get(period, 0) * ((last - first).days + 1)
    if approx > MAX_PERIODS:
        raise ValueError(f"start: about {approx} {period}s asked for; at most {MAX_PERIODS} (narrow the range)")
    bounds = period_bounds(start_ms, end_ms, period, zone)
    if not bounds:
        return []
    series = load_series(services, device_ids, bounds[0], bounds[-1])
    return energy_by_period(series, period, zone, start_ms, end_ms)


def default_start(period: Granularity, end_ms: int, zone: ZoneInfo, cycle_months: int) -> int:
    """Where a table starts when the caller does not say: a useful stretch before ``end_ms``."""
    today = local_date(end_ms, zone)
    back = {
        "hour": timedelta(days=0),
        "day": timedelta(days=30),
        "week": timedelta(weeks=11),
        "month": timedelta(days=334),
        "cycle": timedelta(days=31 * cycle_months * 5),
    }[period]
    return local_midnight_ms(today - back, zone)
