"""Energy per calendar period (hour, day, week, month, billing cycle) in a site's time zone.

The store hands out energy as ``(ts_ms, wh)`` pairs: either one per reading (``wh`` is the
energy since the meter's previous reading, so it was used *before* ``ts_ms``: a reading at
local midnight belongs to the day that ends) or one per UTC-aligned rollup bucket (``wh``
spread evenly over ``[ts_ms, ts_ms + bucket_ms)``).
Calendar questions are asked in local time, whose boundaries need not fall on UTC hours
(India is UTC+05:30, Nepal +05:45) and whose days are 23 or 25 hours long across a DST
change. Both are answered with one rule: the energy of ``[a, b)`` is ``E(b) - E(a)``, where
``E`` is the cumulative energy — a step function for readings, piecewise linear for
buckets — so periods that tile a span always add up to the span's total.
"""

from __future__ import annotations

import bisect
import calendar
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

Period = Literal["hour", "day", "week", "month"]
PERIODS: tuple[Period, ...] = ("hour", "day", "week", "month")


@dataclass(frozen=True, slots=True)
class EnergySeries:
    """Energy of one meter (or a site) over time; see the module docstring for the rule.

    ``bucket_ms == 0`` means one entry per reading; otherwise each entry is a rollup bucket
    starting at ``ts_ms`` and lasting ``bucket_ms`` (60_000 or 3_600_000 from the store).
    """

    ts_ms: npt.NDArray[np.int64]
    wh: npt.NDArray[np.float64]
    bucket_ms: int = 0

    @staticmethod
    def of(ts_ms: Sequence[int] | npt.ArrayLike, wh: npt.ArrayLike, bucket_ms: int = 0) -> EnergySeries:
        """Build a series from any array-likes, checking what would make totals wrong."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        values = np.asarray(wh, dtype=np.float64)
        if ts.shape != values.shape or ts.ndim != 1:
            raise ValueError(f"ts_ms and wh must be 1-D and of one length, got {ts.shape} and {values.shape}")
        if bucket_ms < 0:
            raise ValueError(f"bucket_ms must be 0 (readings) or a bucket length, got {bucket_ms}")
        if ts.size > 1 and bool(np.any(np.diff(ts) <= 0)):
            raise ValueError("ts_ms must be strictly increasing")
        if bucket_ms and ts.size > 1 and bool(np.any(np.diff(ts) < bucket_ms)):
            raise ValueError(f"buckets of {bucket_ms} ms overlap: starts are closer than that")
        if not bool(np.all(np.isfinite(values))):
            raise ValueError("wh must be finite numbers")
        return EnergySeries(ts, values, bucket_ms)

    def cumulative_at(self, instants_ms: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Energy in Wh accumulated up to each instant (``E(t)`` of the module docstring)."""
        t = np.asarray(instants_ms, dtype=np.int64)
        csum = np.concatenate(([0.0], np.cumsum(self.wh)))
        if self.bucket_ms == 0:  # readings at or before t
            return csum[np.searchsorted(self.ts_ms, t, side="right")]
        # Corner points of a piecewise-linear E: flat in gaps between buckets.
        xp = np.empty(2 * self.ts_ms.size, dtype=np.float64)
        xp[0::2] = self.ts_ms
        xp[1::2] = self.ts_ms + self.bucket_ms
        fp = np.empty_like(xp)
        fp[0::2] = csum[:-1]
        fp[1::2] = csum[1:]
        if xp.size == 0:
            return np.zeros(t.shape, dtype=np.float64)
        return np.interp(t.astype(np.float64), xp, fp)

    def between(self, start_ms: int, end_ms: int) -> float:
        """Energy in Wh used between the two instants."""
        c = self.cumulative_at([start_ms, end_ms])
        return float(c[1] - c[0])

    def recorded_by(self, as_of_ms: int) -> int:
        """Where to read ``between`` to for all the energy recorded by ``as_of_ms``.

        A bucket cut by a period's boundary (a local midnight inside a UTC hour) shares its
        energy out by time, but an as-of instant is no boundary: the bucket holding it (the
        hour in progress) holds only what was used before it, so it counts whole, as the
        energy of a period does. Buckets start at multiples of their width since the epoch.
        """
        if self.bucket_ms == 0:
            return as_of_ms
        return -(-as_of_ms // self.bucket_ms) * self.bucket_ms

    def until(self, as_of_ms: int) -> EnergySeries:
        """What was recorded by ``as_of_ms`` when the series holds more (a bill asked "as of" an
        earlier time): readings stamped by then; buckets that start before it, the one holding it
        shared out by time. Its last bucket may then be read whole (:meth:`recorded_by`)."""
        if self.bucket_ms == 0:
            hi = int(np.searchsorted(self.ts_ms, as_of_ms, side="right"))
            return EnergySeries(self.ts_ms[:hi], self.wh[:hi], 0)
        start = as_of_ms // self.bucket_ms * self.bucket_ms
        hi = int(np.searchsorted(self.ts_ms, start, side="left"))
        ts, wh = self.ts_ms[:hi], self.wh[:hi]
        part = self.between(start, as_of_ms) if start < as_of_ms else 0.0
        if part:
            ts, wh = np.append(ts, np.int64(start)), np.append(wh, part)
        return EnergySeries(ts, wh, self.bucket_ms)

    def span_ms(self) -> tuple[int, int]:
        """Instants ``a < b`` with ``between(a, b)`` holding all of the series' energy."""
        if self.ts_ms.size == 0:
            raise ValueError("the series is empty")
        if self.bucket_ms == 0:
            return int(self.ts_ms[0]) - 1, int(self.ts_ms[-1])
        return int(self.ts_ms[0]), int(self.ts_ms[-1]) + self.bucket_ms

    def window(self, start_ms: int, end_ms: int) -> EnergySeries:
        """The entries that belong to the span (buckets by start, readings by end; not split)."""
        if self.bucket_ms == 0:
            lo, hi = np.searchsorted(self.ts_ms, [start_ms, end_ms], side="right")
        else:
            lo, hi = np.searchsorted(self.ts_ms, [start_ms, end_ms], side="left")
        return EnergySeries(self.ts_ms[lo:hi], self.wh[lo:hi], self.bucket_ms)


@dataclass(frozen=True, slots=True)
class PeriodEnergy:
    """Energy of one calendar period; ``start``/``end`` are local, aware datetimes."""

    start: datetime
    end: datetime
    start_ms: int
    end_ms: int
    wh: float

    @property
    def hours(self) -> float:
        """Real length in hours (23 or 25 on a DST-change day)."""
        return (self.end_ms - self.start_ms) / HOUR_MS

    @property
    def kwh(self) -> float:
        return self.wh / 1000.0


@dataclass(frozen=True, slots=True)
class BillingCycle:
    """A billing cycle from local midnight of ``start`` to local midnight of ``end`` (exclusive)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a billing cycle must end after it starts: {self.start} .. {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def months(self) -> int | None:
        """Whole calendar months the cycle spans, or None if it is not a whole number of them."""
        for n in range(1, 13):
            if add_months(self.start, n) == self.end:
                return n
        return None

    def days_iter(self) -> Iterator[date]:
        d = self.start
        while d < self.end:
            yield d
            d += timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {(self.end - timedelta(days=1)).isoformat()}"


def add_months(d: date, n: int) -> date:
    """``d`` moved by ``n`` calendar months, clamped to the month end (31 Jan + 1: 28/29 Feb)."""
    m = d.month - 1 + n
    year, month = d.year + m // 12, m % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def billing_cycles(anchor: date, months: int, first: date, last: date) -> list[BillingCycle]:
    """Cycles of ``months`` months anchored on ``anchor``, covering ``first``..``last``.

    Cycle starts are ``anchor + k*months`` computed from the anchor each time, so a cycle
    anchored on the 31st starts on the last day of shorter months and returns to the 31st.
    """
    if months < 1:
        raise ValueError(f"a billing cycle lasts at least one month, got {months}")
    k = 0
    while add_months(anchor, k * months) > first:
        k -= 1
    while add_months(anchor, (k + 1) * months) <= first:
        k += 1
    cycles = []
    while add_months(anchor, k * months) <= last:
        cycles.append(BillingCycle(add_months(anchor, k * months), add_months(anchor, (k + 1) * months)))
        k += 1
    return cycles


def cycle_containing(anchor: date, months: int, day: date) -> BillingCycle:
    """The cycle of ``billing_cycles(anchor, months, ...)`` that contains ``day``."""
    return billing_cycles(anchor, months, day, day)[0]


def local_midnight_ms(day: date, tz: ZoneInfo) -> int:
    """UTC epoch ms of the first instant of ``day`` in ``tz``.

    Where midnight itself does not exist (a DST gap at 00:00), the day starts at the gap.
    """
    return int(datetime.combine(day, time(0), tzinfo=tz).timestamp() * 1000)


def local_date(ts_ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, tz).date()


def _period_start(day: date, period: Period) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO week: Monday
    if period == "month":
        return day.replace(day=1)
    return day


def _next_start(day: date, period: Period) -> date:
    if period == "week":
        return day + timedelta(days=7)
    if period == "month":
        return add_months(day, 1)
    return day + timedelta(days=1)


def period_bounds(start_ms: int, end_ms: int, period: Period, tz: ZoneInfo) -> list[int]:
    """Boundaries (UTC ms) of the local periods that overlap ``[start_ms, end_ms)``, in order."""
    if end_ms <= start_ms:
        return []
    first_day = _period_start(local_date(start_ms, tz), "day" if period == "hour" else period)
    bounds: list[int] = []
    day = first_day
    while True:
        b = local_midnight_ms(day, tz)
        if b >= end_ms:
            bounds.append(b)
            break
        if period == "hour":
            nxt = local_midnight_ms(day + timedelta(days=1), tz)
            bounds.extend(range(b, nxt, HOUR_MS))
            day += timedelta(days=1)
        else:
            bounds.append(b)
            day = _next_start(day, period)
    # Keep only periods overlapping the span: hours of the first and last day may not.
    lo = max(bisect.bisect_right(bounds, start_ms) - 1, 0)
    hi = bisect.bisect_left(bounds, end_ms)
    return bounds[lo : hi + 1]


def energy_by_period(
    series: EnergySeries,
    period: Period,
    tz: ZoneInfo | str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[PeriodEnergy]:
    """Energy per local hour/day/week/month overlapping the span (default: the series' span).

    Periods are whole; a period only partly covered by data holds what data there is.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if start_ms is None or end_ms is None:
        if series.ts_ms.size == 0:
            return []
        lo, hi = series.span_ms()
        start_ms = lo if start_ms is None else start_ms
        end_ms = hi if end_ms is None else end_ms
    bounds = period_bounds(start_ms, end_ms, period, zone)
    return _periods(series, bounds, zone)


def energy_by_cycle(series: EnergySeries, cycles: Sequence[BillingCycle], tz: ZoneInfo | str) -> list[PeriodEnergy]:
    """Energy per billing cycle (local midnight to local midnight)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    out = []
    for c in cycles:
        a, b = local_midnight_ms(c.start, zone), local_midnight_ms(c.end, zone)
        out.append(PeriodEnergy(_local(a, zone), _local(b, zone), a, b, series.between(a, b)))
    return out


def sum_periods(per_meter: Sequence[Sequence[PeriodEnergy]]) -> list[PeriodEnergy]:
    """A site's energy per period from its meters' (all computed over the same periods)."""
    if not per_meter:
        return []
    first = per_meter[0]
    for other in per_meter[1:]:
        if [(p.start_ms, p.end_ms) for p in other] != [(p.start_ms, p.end_ms) for p in first]:
            raise ValueError("meters' periods differ: compute them over the same span and period")
    return [
        PeriodEnergy(p.start, p.end, p.start_ms, p.end_ms, sum(m[i].wh for m in per_meter)) for i, p in enumerate(first)
    ]


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def _periods(series: EnergySeries, bounds: list[int], tz: ZoneInfo) -> list[PeriodEnergy]:
    if len(bounds) < 2:
        return []
    cum = series.cumulative_at(bounds)
    wh = np.diff(cum)
    return [
        PeriodEnergy(_local(a, tz), _local(b, tz), a, b, float(w))
        for a, b, w in zip(bounds[:-1], bounds[1:], wh, strict=True)
    ]


def combine(series: Sequence[EnergySeries]) -> EnergySeries:
    """A site's energy from its meters' (same resolution): entries at one instant are added."""
    if not series:
        return EnergySeries.of([], [])
    buckets = {s.bucket_ms for s in series}
    if len(buckets) != 1:
        raise ValueError(f"meters' series must share one resolution to be combined, got {sorted(buckets)} ms")
    ts = np.concatenate([s.ts_ms for s in series])
    wh = np.concatenate([s.wh for s in series])
    uniq, inverse = np.unique(ts, return_inverse=True)
    total = np.zeros(uniq.size)
    np.add.at(total, inverse, wh)
    return EnergySeries(uniq.astype(np.int64), total, buckets.pop())
