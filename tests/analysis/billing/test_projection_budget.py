"""Bill to date, today's cost, the projected bill with its range, budgets and their crossing day.

The household: 10 kWh every weekday and 20 kWh every Saturday and Sunday, spread evenly
over the hours, on Tamil Nadu's bi-monthly tariff, cycle 1 Jan to 28 Feb 2025 (59 days).
1 Jan 2025 is a Wednesday.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import numpy as np

from wattwise.analysis.billing.budget import Budget, budget_status
from wattwise.analysis.billing.compute import compute_bill
from wattwise.analysis.billing.overview import cycle_overview
from wattwise.analysis.billing.presets import load_preset
from wattwise.analysis.billing.projection import daily_costs, project_bill
from wattwise.analysis.billing.serialize import overview_as_dict
from wattwise.analysis.energy import HOUR_MS, BillingCycle, EnergySeries, combine, local_midnight_ms
from wattwise.domain.energy import interval_energy

IST = ZoneInfo("Asia/Kolkata")
CYCLE = BillingCycle(date(2025, 1, 1), date(2025, 3, 1))
TN = load_preset("in-tn-domestic")


def household(first: date, last: date) -> EnergySeries:
    """One reading at the end of every local hour carrying that hour's energy."""
    ts, wh = [], []
    d = first
    while d < last:
        per_hour = (20_000.0 if d.weekday() >= 5 else 10_000.0) / 24
        start = local_midnight_ms(d, IST)
        ts.extend(start + (h + 1) * HOUR_MS for h in range(24))
        wh.extend([per_hour] * 24)
        d += timedelta(days=1)
    return EnergySeries.of(ts, wh)


SERIES = household(date(2024, 12, 1), date(2025, 3, 1))


def at(day: date, hour: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=IST).timestamp() * 1000)


def test_bill_to_date_and_projection_on_20_january() -> None:
    p = project_bill(TN, CYCLE, SERIES, at(date(2025, 1, 20)))
    # 1-19 Jan: 13 weekdays x 10 + 6 weekend days x 20 = 250 kWh
    # bill so far: 100 x 0 + 100 x 2.35 + 50 x 4.70 = 235 + 235 = 470.00
    assert p.bill_to_date.kwh == D("250.000")
    assert p.bill_to_date.total == D("470.00")
    # 20 Jan - 28 Feb: 30 weekdays x 10 + 10 weekend days x 20 = 500 kWh more, 750 in all
    # 750 units: 0 + 300 x 4.70 + 100 x 6.30 + 100 x 8.40 + 150 x 9.45
    #          = 1410 + 630 + 840 + 1417.50 = 4297.50
    assert p.projected.kwh == D("750.000")
    assert p.projected.total == D("4297.50")
    # Every recent weekday is alike and so is every weekend day: the range is a point.
    assert (p.low, p.high) == (D("4297.50"), D("4297.50"))
    assert p.history_days == 28


def test_the_projection_tells_weekdays_from_weekends() -> None:
    """Averaging all recent days alike would give 250 + 40 x 12.857 = 764.3 kWh, not 750."""
    p = project_bill(TN, CYCLE, SERIES, at(date(2025, 1, 20)))
    assert p.projected.kwh == compute_bill(TN, CYCLE, SERIES).kwh == D("750.000")


def test_todays_cost_at_noon_is_what_todays_units_added() -> None:
    p = project_bill(TN, CYCLE, SERIES, at(date(2025, 1, 20), 12))
    # by noon on Monday 20 Jan: 5 kWh; 255 units cost 235 + 55 x 4.70 = 493.50; before: 470.00
    assert p.today.day == date(2025, 1, 20)
    assert p.today.kwh == D("5.000")
    assert p.today.cost == D("23.50")
    assert p.bill_to_date.total == D("493.50")


def test_daily_costs_free_units_first_then_the_slab_rates() -> None:
    days = daily_costs(TN, CYCLE, SERIES, at(date(2025, 1, 20)))
    assert len(days) == 19
    # 1-8 Jan use the first 100 free units; 9 Jan's 10 kWh fall in 101-200 at 2.35
    assert [d.cost for d in days[:8]] == [D("0.00")] * 8
    assert days[8].cost == D("23.50")
    assert sum(d.cost for d in days) == D("470.00")


def test_a_kwh_budget_crossed_on_16_february() -> None:
    p = project_bill(TN, CYCLE, SERIES, at(date(2025, 1, 20)))
    past = daily_costs(TN, CYCLE, SERIES, p.as_of_ms)
    status = budget_status(Budget(D(600), "kwh"), p, past)
    # 250 by 19 Jan; 350 more reached on Sunday 16 Feb (cumulative 610)
    assert status.crossing == date(2025, 2, 16)
    assert status.state == "at_risk"
    assert status.probability_over == 1.0


def test_a_money_budget_crossed_when_the_units_pass_the_601_800_slab() -> None:
    p = project_bill(TN, CYCLE, SERIES, at(date(2025, 1, 20)))
    past = daily_costs(TN, CYCLE, SERIES, p.as_of_ms)
    status = budget_status(Budget(D(3000)), p, past)
    # 610 units on 16 Feb cost 1410 + 630 + 840 + 10 x 9.45 = 2974.50 (under);
    # 620 on 17 Feb cost 3069.00 (over)
    assert status.crossing == date(2025, 2, 17)
    assert (status.used, status.projected) == (D("470.00"), D("4297.50"))


def test_budget_already_over_and_budget_on_track() -> None:
    p = project_bill(TN, CYCLE, SERIES, at(date(2025, 1, 20)))
    past = daily_costs(TN, CYCLE, SERIES, p.as_of_ms)
    over = budget_status(Budget(D(400)), p, past)
    # 235.1 units cost 400: crossed on 19 Jan, when the cycle reached 250 units
    assert (over.state, over.crossing) == ("over", date(2025, 1, 19))
    fine = budget_status(Budget(D(5000)), p, past)
    assert (fine.state, fine.crossing, fine.probability_over) == ("on_track", None, 0.0)


def test_the_range_widens_when_recent_days_vary() -> None:
    rng = np.random.default_rng(7)
    noisy = EnergySeries.of(SERIES.ts_ms, SERIES.wh * rng.uniform(0.3, 1.7, SERIES.wh.size // 24).repeat(24))
    p = project_bill(TN, CYCLE, noisy, at(date(2025, 1, 20)))
    assert p.low < p.projected.total < p.high
    assert project_bill(TN, CYCLE, noisy, at(date(2025, 1, 20))).high == p.high  # seeded


def test_a_counter_reset_in_mid_cycle_is_billed_as_energy_used() -> None:
    """A PZEM counter read every hour, +500 Wh each hour, reset to zero on 10 Jan at noon."""
    start = local_midnight_ms(date(2025, 1, 1), IST)
    times = [start + k * HOUR_MS for k in range(31 * 24 + 1)]
    counter, counters = 900_000.0, []
    for t in times:
        counters.append(counter)
        counter = 0.0 if t == at(date(2025, 1, 10), 12) else counter  # the reset
        counter += 500.0
    wh = [
        interval_energy(a, ea, None, b, eb, None)
        for a, ea, b, eb in zip(times, counters, times[1:], counters[1:], strict=False)
    ]
    series = EnergySeries.of(times[1:], wh)
    assert counters[-1] - counters[0] < 0  # the naive difference would be negative
    bill = compute_bill(TN, BillingCycle(date(2025, 1, 1), date(2025, 2, 1)), series)
    # 31 days x 12 kWh = 372 units on a monthly cycle (slabs halved, total above 250):
    # 50 x 0 + 150 x 4.70 + 50 x 6.30 + 50 x 8.40 + 72 x 9.45 = 705 + 315 + 420 + 680.40
    assert bill.kwh == D("372.000")
    assert bill.total == D("2120.40")


def test_a_meter_with_no_history_projects_from_its_rate_so_far() -> None:
    fresh = household(date(2025, 1, 1), date(2025, 1, 2))  # installed on 1 Jan at midnight
    p = project_bill(TN, CYCLE, fresh, at(date(2025, 1, 1), 13))
    # 13 hours at 10/24 kWh an hour, projected at that rate over all 59 days: 590 kWh
    assert p.history_days == 0
    assert p.projected.kwh == D("590.000")


def test_a_meter_installed_mid_cycle_projects_from_the_hours_it_measured() -> None:
    fresh = household(date(2025, 1, 20), date(2025, 1, 21))  # installed on 20 Jan (a Monday) at midnight
    p = project_bill(TN, CYCLE, fresh, at(date(2025, 1, 20), 13))
    # 10/24 kWh an hour from 20 Jan to the cycle's end (40 days), not 13 hours' use spread over 19 days more
    assert p.history_days == 0
    assert p.projected.kwh == D("400.000")


def test_cycle_overview_for_a_site_of_two_meters() -> None:
    """Two meters of half the household each: the site's overview is the household's."""
    half = EnergySeries.of(SERIES.ts_ms, SERIES.wh / 2)
    site = combine([half, half])
    o = cycle_overview(TN, site, at(date(2025, 1, 20)), date(2024, 11, 1), 2, budget=Budget(D(3000)))
    assert o.cycle == CYCLE  # bi-monthly cycles anchored on 1 Nov: 1 Jan - 28 Feb
    assert len(o.days) == 19 and o.days[-1].bill_to_date == D("470.00")
    assert o.projection.projected.total == D("4297.50")
    assert o.budget is not None and o.budget.crossing == date(2025, 2, 17)
    view = json.loads(json.dumps(overview_as_dict(o)))
    assert view["budget"] == {
        "state": "at_risk", "limit": "3000", "unit": "INR", "used": "470.00", "projected": "4297.50",
        "projected_high": "4297.50", "fraction_used": 470 / 3000, "probability_over": 1.0, "crossing": "2025-02-17",
    }  # fmt: skip
    assert view["projection"]["path"][-1] == {"day": "2025-02-28", "kwh": "750.000", "total": "4297.50"}


LA = ZoneInfo("America/Los_Angeles")
PGE = load_preset("us-pge-e-tou-c")


def la_hours(first: date, last: date, wh_at: Callable[[int], float]) -> EnergySeries:
    a, b = local_midnight_ms(first, LA), local_midnight_ms(last, LA)
    ts = np.arange(a, b, HOUR_MS)
    hours = [datetime.fromtimestamp(t / 1000, LA).hour for t in ts.tolist()]
    return EnergySeries.of(ts, [wh_at(h) for h in hours], HOUR_MS)


def test_time_of_use_projection_prices_the_hours_the_household_uses() -> None:
    """Two homes of 24 kWh a day: one all between 4 and 9 pm, one never then."""
    july = BillingCycle(date(2025, 7, 1), date(2025, 8, 1))
    evening = la_hours(date(2025, 6, 1), date(2025, 7, 11), lambda h: 4800.0 if 16 <= h < 21 else 0.0)
    night = la_hours(date(2025, 6, 1), date(2025, 7, 11), lambda h: 0.0 if 16 <= h < 21 else 24_000 / 19)
    as_of = int(datetime(2025, 7, 11, tzinfo=LA).timestamp() * 1000)
    a = project_bill(PGE, july, evening, as_of)
    b = project_bill(PGE, july, night, as_of)
    assert a.projected.kwh == b.projected.kwh == D("744.000")
    # evening: 744 x 0.60729 = 451.82376 -> 451.82, less the baseline 303.8 x 0.10135 = 30.79
    assert a.projected.total == D("421.03")
    # night: 744 x 0.50429 = 375.19176 -> 375.19, less 30.79
    assert b.projected.total == D("344.40")


def test_projection_over_the_autumn_dst_change_counts_25_hours() -> None:
    nov = BillingCycle(date(2025, 11, 1), date(2025, 12, 1))
    steady = la_hours(date(2025, 10, 1), date(2025, 11, 1), lambda h: 1000.0)
    p = project_bill(PGE, nov, steady, local_midnight_ms(date(2025, 11, 1), LA))
    assert p.projected.kwh == D("721.000")  # 30 days x 24 h + the repeated hour of 2 Nov


def test_days_the_meter_was_offline_are_not_learnt_as_days_of_no_use() -> None:
    """The meter was off from Friday 10 Jan to Saturday 11 Jan: those days' energy is unknown."""
    keep = (SERIES.ts_ms <= at(date(2025, 1, 10))) | (SERIES.ts_ms > at(date(2025, 1, 12)))
    gappy = EnergySeries.of(SERIES.ts_ms[keep], SERIES.wh[keep])
    p = project_bill(TN, CYCLE, gappy, at(date(2025, 1, 20)))
    # measured 250 - 10 - 20 = 220 kWh; the 40 days to come still 10 and 20 kWh each: +500
    assert p.bill_to_date.kwh == D("220.000")
    assert p.projected.kwh == D("720.000")
    assert p.history_days == 26
