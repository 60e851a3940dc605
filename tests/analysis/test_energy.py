"""Energy per hour, day, week, month and billing cycle in the site's own time zone."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwise.analysis.energy import (
    HOUR_MS,
    BillingCycle,
    EnergySeries,
    add_months,
    billing_cycles,
    energy_by_cycle,
    energy_by_period,
    local_midnight_ms,
    sum_periods,
)

LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")


def hourly(zone: ZoneInfo, first: date, last: date, wh: float = 1000.0) -> EnergySeries:
    """A meter using ``wh`` every real hour, as UTC-aligned hourly rollups."""
    a, b = local_midnight_ms(first, zone), local_midnight_ms(last, zone)
    start = a - a % HOUR_MS
    ts = np.arange(start, b + HOUR_MS, HOUR_MS)
    return EnergySeries.of(ts, np.full(ts.size, wh), HOUR_MS)


def test_spring_forward_day_has_23_hours_and_autumn_day_25() -> None:
    series = hourly(LONDON, date(2025, 3, 29), date(2025, 10, 28))
    days = {p.start.date(): p for p in energy_by_period(series, "day", LONDON)}
    assert days[date(2025, 3, 30)].hours == 23
    assert days[date(2025, 3, 30)].kwh == pytest.approx(23.0)
    assert days[date(2025, 10, 26)].hours == 25
    assert days[date(2025, 10, 26)].kwh == pytest.approx(25.0)
    assert days[date(2025, 6, 1)].kwh == pytest.approx(24.0)


def test_hours_of_a_dst_day_add_up_to_the_day() -> None:
    series = hourly(LONDON, date(2025, 10, 25), date(2025, 10, 28))
    start = local_midnight_ms(date(2025, 10, 26), LONDON)
    end = local_midnight_ms(date(2025, 10, 27), LONDON)
    hours = energy_by_period(series, "hour", LONDON, start, end)
    assert len(hours) == 25
    # The repeated 01:00 appears twice, once in summer time and once in winter time.
    assert [h.start.hour for h in hours[:4]] == [0, 1, 1, 2]
    assert sum(h.wh for h in hours) == pytest.approx(series.between(start, end))


def test_weeks_and_months_tile_the_span_without_losing_energy() -> None:
    series = hourly(LONDON, date(2025, 1, 1), date(2026, 1, 1))
    total = float(series.wh.sum())
    months = energy_by_period(series, "month", LONDON)
    weeks = energy_by_period(series, "week", LONDON)
    assert sum(m.wh for m in months) == pytest.approx(total)
    assert sum(w.wh for w in weeks) == pytest.approx(total)
    march = next(m for m in months if m.start.month == 3 and m.start.year == 2025)
    assert march.kwh == pytest.approx(31 * 24 - 1)  # one hour lost to summer time
    assert all(w.start.weekday() == 0 for w in weeks[1:])  # ISO weeks start on Monday


def test_india_days_start_at_1830_utc_and_split_hourly_rollups() -> None:
    # Hourly rollups are UTC-aligned; an Indian day starts half-way through one of them.
    series = hourly(KOLKATA, date(2025, 1, 1), date(2025, 1, 4), wh=500.0)
    days = energy_by_period(series, "day", KOLKATA)
    jan2 = next(d for d in days if d.start.date() == date(2025, 1, 2))
    assert datetime.fromtimestamp(jan2.start_ms / 1000, ZoneInfo("UTC")).strftime("%H:%M") == "18:30"
    assert jan2.kwh == pytest.approx(12.0)
    hours = energy_by_period(series, "hour", KOLKATA, jan2.start_ms, jan2.end_ms)
    assert len(hours) == 24
    assert all(h.wh == pytest.approx(500.0) for h in hours)


def test_a_reading_at_midnight_counts_for_the_day_it_ends() -> None:
    midnight = local_midnight_ms(date(2025, 1, 2), KOLKATA)
    # Two readings: 300 Wh used in the minute before midnight, 200 Wh in the minute after.
    series = EnergySeries.of([midnight, midnight + 60_000], [300.0, 200.0])
    days = energy_by_period(series, "day", KOLKATA)
    assert [(d.start.date(), d.wh) for d in days] == [
        (date(2025, 1, 1), 300.0),
        (date(2025, 1, 2), 200.0),
    ]


def test_billing_cycles_of_two_months_from_an_anchor() -> None:
    cycles = billing_cycles(date(2025, 1, 15), 2, date(2025, 2, 1), date(2025, 6, 1))
    assert [(c.start, c.end) for c in cycles] == [
        (date(2025, 1, 15), date(2025, 3, 15)),
        (date(2025, 3, 15), date(2025, 5, 15)),
        (date(2025, 5, 15), date(2025, 7, 15)),
    ]
    assert cycles[0].months() == 2 and cycles[0].days == 59


def test_a_cycle_anchored_on_the_31st_comes_back_to_it() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    cycles = billing_cycles(date(2025, 1, 31), 1, date(2025, 2, 1), date(2025, 4, 1))
    assert [c.start for c in cycles] == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31)]


def test_energy_per_cycle_and_a_site_as_the_sum_of_its_meters() -> None:
    a = hourly(KOLKATA, date(2025, 1, 1), date(2025, 3, 2), wh=100.0)
    b = hourly(KOLKATA, date(2025, 1, 1), date(2025, 3, 2), wh=50.0)
    cycle = BillingCycle(date(2025, 1, 1), date(2025, 3, 1))
    per_a = energy_by_cycle(a, [cycle], KOLKATA)
    assert per_a[0].kwh == pytest.approx(59 * 24 * 0.1)
    site = sum_periods([energy_by_period(a, "day", KOLKATA), energy_by_period(b, "day", KOLKATA)])
    assert site[5].wh == pytest.approx(24 * 150.0)


def test_bad_series_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        EnergySeries.of([2, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match="overlap"):
        EnergySeries.of([0, 1000], [1.0, 1.0], bucket_ms=HOUR_MS)
    with pytest.raises(ValueError, match="must end after"):
        BillingCycle(date(2025, 1, 2), date(2025, 1, 2))


ZONES = ["Asia/Kolkata", "Asia/Kathmandu", "Europe/London", "America/Los_Angeles", "Australia/Lord_Howe"]


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start_h=st.integers(0, 24 * 400),
    hours=st.integers(1, 24 * 60),
    bucket=st.sampled_from([0, 60_000, HOUR_MS]),
    seed=st.integers(0, 2**16),
)
def test_hours_days_weeks_and_months_always_add_up_to_the_total(
    zone: str, start_h: int, hours: int, bucket: int, seed: int
) -> None:
    """Whatever the zone (half-hour and 45-minute offsets, 30-minute DST) and resolution."""
    rng = np.random.default_rng(seed)
    step = bucket or 7 * 60_000
    start = 1_704_067_200_000 + start_h * HOUR_MS  # from 2024-01-01 UTC
    ts = np.arange(start, start + hours * HOUR_MS, step)
    series = EnergySeries.of(ts, rng.uniform(0, 500, ts.size), bucket)
    total = float(series.wh.sum())
    for period in ("hour", "day", "week", "month"):
        got = energy_by_period(series, period, ZoneInfo(zone))
        assert sum(p.wh for p in got) == pytest.approx(total, rel=1e-9, abs=1e-6)
        assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(got))


def test_until_keeps_what_was_recorded_by_then_and_shares_the_hour_holding_it_by_time() -> None:
    hourly = EnergySeries.of([0, HOUR_MS, 2 * HOUR_MS], [100.0, 600.0, 50.0], HOUR_MS)
    cut = hourly.until(HOUR_MS + HOUR_MS // 3)  # 20 minutes into the second hour
    assert cut.ts_ms.tolist() == [0, HOUR_MS] and cut.wh.tolist() == pytest.approx([100.0, 200.0])
    # its last bucket now read whole gives the same total as the series read up to then
    end = cut.recorded_by(HOUR_MS + HOUR_MS // 3)
    assert cut.between(0, end) == pytest.approx(hourly.between(0, HOUR_MS + HOUR_MS // 3))
    assert hourly.until(HOUR_MS).ts_ms.tolist() == [0]  # on a boundary: nothing of the next hour
    readings = EnergySeries.of([10, 20, 30], [1.0, 2.0, 3.0])
    assert readings.until(20).wh.tolist() == [1.0, 2.0]
