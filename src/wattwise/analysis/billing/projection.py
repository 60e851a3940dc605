"""Bill so far, each day's cost, and the projected bill at the cycle's end with a range.

The projection rests on the meter's own recent days, weekday-aware: each day still to come
is expected to look like the recent days of its kind (weekday or weekend), hour by hour —
hours matter for time-of-use tariffs, and slabs make the bill a non-linear function of the
total, so the bill is computed on whole simulated cycles, not extrapolated in money. The
point estimate uses the average recent day of each kind; the range is the 10th to 90th
percentile of bills over cycles completed with randomly drawn recent days of the right kind
(a bootstrap, seeded, so the same data always gives the same answer). Days are drawn
independently, so a heat wave that lasts the rest of the cycle lies outside the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from wattwise.analysis.billing.compute import (
    ZERO,
    Bill,
    Connection,
    PartUsage,
    bill_from_usage,
    measured_usage,
    site_zone,
    split_cycle,
    to_kwh,
)
from wattwise.analysis.billing.tariff import Tariff
from wattwise.analysis.energy import (
    HOUR_MS,
    BillingCycle,
    EnergySeries,
    local_date,
    local_midnight_ms,
)

DEFAULT_HISTORY_DAYS = 28
DEFAULT_SAMPLES = 200
LOW_PCT, HIGH_PCT = 10.0, 90.0
MAX_GAP_MS = 2 * HOUR_MS  # a longer silence makes a day unfit to learn from


@dataclass(frozen=True, slots=True)
class DayCost:
    """A local day's energy and what it added to the cycle's bill (fixed charges excluded)."""

    day: date
    kwh: Decimal
    cost: Decimal
    kwh_to_date: Decimal
    bill_to_date: Decimal


@dataclass(frozen=True, slots=True)
class Projection:
    """Where a cycle stands at ``as_of_ms`` and where it is heading."""

    cycle: BillingCycle
    as_of_ms: int
    bill_to_date: Bill  # the bill if nothing more were used
    today: DayCost
    projected: Bill  # at the cycle's end, average recent days of each kind
    low: Decimal  # 10th percentile of the projected total
    high: Decimal  # 90th percentile
    low_kwh: Decimal
    high_kwh: Decimal
    sample_totals: tuple[Decimal, ...]  # bootstrap totals, for budget probabilities
    sample_kwh: tuple[Decimal, ...]
    history_days: int  # recent whole days the projection learnt from
    path: tuple[tuple[date, Bill], ...]  # point projection at the end of each day to come

    @property
    def currency(self) -> str:
        return self.bill_to_date.currency


def _local_hours(day: date, zone: ZoneInfo) -> tuple[list[int], list[int]]:
    """Hour boundaries (UTC ms) of a local day and the local clock hour each one starts."""
    a = local_midnight_ms(day, zone)
    b = local_midnight_ms(day + timedelta(days=1), zone)
    bounds = [*range(a, b, HOUR_MS), b]
    clock = [datetime.fromtimestamp(t / 1000, zone).hour for t in bounds[:-1]]
    return bounds, clock


def day_profiles(series: EnergySeries, days: Sequence[date], zone: ZoneInfo) -> npt.NDArray[np.float64]:
    """Wh per local clock hour (days × 24); a 25-hour day adds its repeated hour, a 23-hour
    day leaves its skipped hour at zero, so each row still sums to the day's energy."""
    out = np.zeros((len(days), 24))
    for i, d in enumerate(days):
        bounds, clock = _local_hours(d, zone)
        wh = np.diff(series.cumulative_at(bounds))
        np.add.at(out[i], clock, wh)
    return out


def _is_weekend(d: date) -> bool:
    return d.weekday() >= 5


def covered(series: EnergySeries, start_ms: int, end_ms: int, max_gap_ms: int = MAX_GAP_MS) -> bool:
    """Whether the meter reported throughout ``[start_ms, end_ms)``, with no gap above ``max_gap_ms``.

    A day the meter was offline for is not a day of low use: learning from it would pull
    the projection down.
    """
    lo = int(np.searchsorted(series.ts_ms, start_ms, side="left"))
    hi = int(np.searchsorted(series.ts_ms, end_ms, side="right"))
    # the instants at which the meter is known to have been counting
    known = np.concatenate(
        [series.ts_ms[max(lo - 1, 0) : hi + 1], series.ts_ms[max(lo - 1, 0) : hi + 1] + series.bucket_ms]
    )
    if known.size == 0:
        return False
    known.sort()
    edges = np.concatenate([[start_ms], known[(known > start_ms) & (known < end_ms)], [end_ms]])
    return bool(
        known[0] <= start_ms + max_gap_ms and known[-1] >= end_ms - max_gap_ms and np.diff(edges).max() <= max_gap_ms
    )


def _history(
    series: EnergySeries, today: date, zone: ZoneInfo, history_days: int
) -> tuple[list[date], npt.NDArray[np.float64]]:
    """Recent whole days before today that the meter reported throughout, and their profiles."""
    if series.ts_ms.size == 0:
        return [], np.zeros((0, 24))
    days = [today - timedelta(days=k) for k in range(history_days, 0, -1)]
    days = [
        d for d in days if covered(series, local_midnight_ms(d, zone), local_midnight_ms(d + timedelta(days=1), zone))
    ]
    return days, day_profiles(series, days, zone)


def _period_keys(
    tariff: Tariff, cycle: BillingCycle, days: Sequence[date], zone: ZoneInfo
) -> tuple[list[tuple[int, str, str]], npt.NDArray[np.int64]]:
    """For each future day and local clock hour: which (part, season, period) prices it."""
    pieces = split_cycle(tariff, cycle)
    keys: list[tuple[int, str, str]] = []
    index: dict[tuple[int, str, str], int] = {}
    grid = np.zeros((len(days), 24), dtype=np.int64)
    for i, d in enumerate(days):
        part = next(n for n, (s, e, _) in enumerate(pieces) if s <= d < e)
        tou = pieces[part][2].tou
        for h in range(24):
            if tou is None:
                key = (part, "", "")
            else:
                season = tou.season_of(d.month, d.day)
                key = (part, season.name, season.period_at(h, _is_weekend(d)))
            if key not in index:
                index[key] = len(keys)
                keys.append(key)
            grid[i, h] = index[key]
    return keys, grid


def _add_usage(
    base: list[PartUsage], keys: list[tuple[int, str, str]], wh_by_key: npt.NDArray[np.float64]
) -> list[PartUsage]:
    """Measured usage per part plus projected Wh per (part, season, period)."""
    out = []
    for n, u in enumerate(base):
        extra = {k: to_kwh(float(wh_by_key[j])) for j, k in enumerate(keys) if k[0] == n}
        if u.by_period is None:
            out.append(PartUsage(u.kwh + sum(extra.values(), ZERO)))
        else:
            merged = dict(u.by_period)
            for (_, season, period), kwh in extra.items():
                merged[(season, period)] = merged.get((season, period), ZERO) + kwh
            out.append(PartUsage(sum(merged.values(), ZERO), merged))
    return out


def _draw_days(
    pool_of: dict[bool, npt.NDArray[np.int64]], kinds: Sequence[bool], samples: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """History-day indices (samples × future days) for simulated completions of the cycle.

    Two stages: each simulated cycle first resamples the recent days of each kind (so its
    average day may be higher or lower than the recent average, as the rest of a cycle
    often is), then draws each day to come from that resample. Drawing days straight from
    the recent ones would treat the recent average as certain and give a range too narrow.
    """
    out = np.empty((samples, len(kinds)), dtype=np.int64)
    resampled = {k: p[rng.integers(0, p.size, size=(samples, p.size))] for k, p in pool_of.items()}
    rows = np.arange(samples)
    for d, kind in enumerate(kinds):
        chosen = resampled[kind]
        out[:, d] = chosen[rows, rng.integers(0, chosen.shape[1], size=samples)]
    return out


def daily_costs(
    tariff: Tariff,
    cycle: BillingCycle,
    series: EnergySeries,
    as_of_ms: int,
    tz: ZoneInfo | str | None = None,
    connection: Connection = Connection(),
) -> list[DayCost]:
    """Each day of the cycle up to ``as_of_ms``: units, the cost they added, the bill so far.

    A day's cost is the bill through that day less the bill through the day before, so the
    costs add up to the bill to date less the fixed charges (on a slab tariff, later days
    cost more per unit — that is the tariff, not noise).
    """
    zone = site_zone(tariff, tz)
    out = []
    prev = bill_from_usage(tariff, cycle, measured_usage(tariff, cycle, series, zone, until_ms=0), connection)
    d = cycle.start
    while d < cycle.end and local_midnight_ms(d, zone) < as_of_ms:
        end_ms = min(local_midnight_ms(d + timedelta(days=1), zone), series.recorded_by(as_of_ms))
        bill = bill_from_usage(tariff, cycle, measured_usage(tariff, cycle, series, zone, end_ms), connection)
        out.append(DayCost(d, bill.kwh - prev.kwh, bill.total - prev.total, bill.kwh, bill.total))
        prev = bill
        d += timedelta(days=1)
    return out


def project_bill(
    tariff: Tariff,
    cycle: BillingCycle,
    series: EnergySeries,
    as_of_ms: int,
    tz: ZoneInfo | str | None = None,
    connection: Connection = Connection(),
    history_days: int = DEFAULT_HISTORY_DAYS,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> Projection:
    """Bill so far, today's cost and the projected bill at the end of ``cycle``.

    ``series`` should reach back ``history_days`` before ``as_of_ms`` (the previous cycle's
    days count); with no whole day of history, the average rate so far this cycle is used
    (since the meter's first reading, when it began in the middle of the cycle). It must hold
    only what was recorded by ``as_of_ms`` (``EnergySeries.until``; the store's
    ``accounting.energy.recorded_series``): the bucket holding ``as_of_ms`` counts whole.
    """
    zone = site_zone(tariff, tz)
    cycle_start_ms = local_midnight_ms(cycle.start, zone)
    cycle_end_ms = local_midnight_ms(cycle.end, zone)
    as_of_ms = min(max(as_of_ms, cycle_start_ms), cycle_end_ms)
    measured = measured_usage(tariff, cycle, series, zone, series.recorded_by(as_of_ms))
    to_date = bill_from_usage(tariff, cycle, measured, connection)

    today = min(local_date(as_of_ms, zone), cycle.end - timedelta(days=1))
    today_start = local_midnight_ms(today, zone)
    before_today = bill_from_usage(tariff, cycle, measured_usage(tariff, cycle, series, zone, today_start), connection)
    today_cost = DayCost(
        today,
        to_date.kwh - before_today.kwh,
        to_date.total - before_today.total,
        to_date.kwh,
        to_date.total,
    )

    # Weights of each remaining local clock hour: today's hours after now, then whole days.
    future = [d for d in cycle.days_iter() if d >= today]
    weights = np.zeros((len(future), 24))
    for i, d in enumerate(future):
        bounds, clock = _local_hours(d, zone)
        for a, b, h in zip(bounds[:-1], bounds[1:], clock, strict=True):
            weights[i, h] += np.clip((b - max(a, as_of_ms)) / (b - a), 0.0, 1.0)
    keys, grid = _period_keys(tariff, cycle, future, zone)
    onehot = np.zeros((len(future), 24, len(keys)))
    np.put_along_axis(onehot, grid[:, :, None], 1.0, axis=2)
    onehot *= weights[:, :, None]

    hist_days, profiles = _history(series, today, zone, history_days)
    learnt = len(hist_days)
    if not hist_days:
        # A meter installed in mid-cycle: its rate over the hours it measured, not spread over the
        # days before it existed (a reading's energy lies before it; a bucket's after its start).
        since = max(cycle_start_ms, int(series.ts_ms[0])) if series.ts_ms.size else cycle_start_ms
        elapsed_h = max((as_of_ms - since) / HOUR_MS, 1.0)
        rate = series.between(since, series.recorded_by(as_of_ms)) / elapsed_h
        profiles = np.full((1, 24), rate)
        hist_days = [today]
    weekend = np.array([_is_weekend(d) for d in hist_days])

    pool_of = {}
    for kind in (False, True):
        same = np.flatnonzero(weekend == kind)
        pool_of[kind] = same if same.size else np.arange(len(hist_days))
    kinds = [_is_weekend(d) for d in future]
    pools = [pool_of[k] for k in kinds]
    mean_profiles = np.array([profiles[p].mean(axis=0) for p in pools]).reshape(len(future), 24)
    daily_wh = np.cumsum(np.einsum("dh,dhj->dj", mean_profiles, onehot), axis=0)
    path = tuple(
        (d, bill_from_usage(tariff, cycle, _add_usage(measured, keys, row), connection))
        for d, row in zip(future, daily_wh, strict=True)
    )
    projected = path[-1][1] if path else to_date

    picks = _draw_days(pool_of, kinds, samples, np.random.default_rng(seed))
    sampled = profiles[picks]  # samples × days × 24
    wh_by_key = np.einsum("sdh,dhj->sj", sampled, onehot)
    bills = [bill_from_usage(tariff, cycle, _add_usage(measured, keys, row), connection) for row in wh_by_key]
    totals = np.array([float(b.total) for b in bills])
    kwhs = np.array([float(b.kwh) for b in bills])
    q = tariff.round_to

    def pct(values: npt.NDArray[np.float64], p: float, quantum: Decimal) -> Decimal:
        return Decimal(repr(float(np.percentile(values, p)))).quantize(quantum)

    return Projection(
        cycle=cycle,
        as_of_ms=as_of_ms,
        bill_to_date=to_date,
        today=today_cost,
        projected=projected,
        low=pct(totals, LOW_PCT, q),
        high=pct(totals, HIGH_PCT, q),
        low_kwh=pct(kwhs, LOW_PCT, Decimal("0.001")),
        high_kwh=pct(kwhs, HIGH_PCT, Decimal("0.001")),
        sample_totals=tuple(b.total for b in bills),
        sample_kwh=tuple(b.kwh for b in bills),
        history_days=learnt,
        path=path,
    )


def crossing_date(past: Sequence[DayCost], projection: Projection, limit: Decimal, in_kwh: bool) -> date | None:
    """The local day on which the bill (or kWh) so far first exceeds ``limit``, past or to come.

    ``past`` is ``daily_costs`` up to the projection's instant (measured); days to come
    follow the point projection. None: not crossed, and not expected to be by the cycle's end.
    """
    for dc in past:
        if (dc.kwh_to_date if in_kwh else dc.bill_to_date) > limit:
            return dc.day
    for d, bill in projection.path:
        if (bill.kwh if in_kwh else bill.total) > limit:
            return d
    return None
