"""Billing benchmark: a year of bills from hourly energy, and how good the projected bill is.

    .venv/bin/python bench/billing.py [--data ../shared/data] [--households 6]

1. Time to compute a year of bills for one meter from hourly rollups, for each shipped
   tariff, beside a reference measured in the same run: a plain numpy sum of the same
   hours per cycle (what any bill needs at the least). Printed as a ratio.
2. Projected-bill error: the bill projected part-way through a cycle against the cycle's
   actual bill, as the median absolute percentage error (MdAPE) over many cycles, and how
   often the actual bill fell inside the projected 10-90 % range.
   - simulated households (wattwise.devices.simulator), a year each, Tamil Nadu
     bi-monthly cycles, projected on days 7, 15, 30 and 45 of each cycle;
   - real consumption (IHEPC Sceaux, AMPds2 Burnaby: 1-minute whole-house power, all of
     it we have is 10 and 7 whole days), 4-day cycles projected after 1, 2 and 3 days,
     on a flat tariff (so the error is the energy error).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from wattwise.analysis.billing.compute import Connection, compute_bill
from wattwise.analysis.billing.presets import load_preset
from wattwise.analysis.billing.projection import project_bill
from wattwise.analysis.billing.tariff import Tariff, tariff_from_dict
from wattwise.analysis.energy import (
    HOUR_MS,
    BillingCycle,
    EnergySeries,
    billing_cycles,
    local_midnight_ms,
)

MINUTE_MS = 60_000
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def median_time(fn: Callable[[], object], repeat: int = 7) -> float:
    fn()  # warm caches (zone files, numpy)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def simulated_hourly(seed: int, tz: str, first: date, last: date) -> EnergySeries:
    """A simulated household's meter counter read every hour, as hourly energy."""
    from wattwise.devices.simulator.household import initial_state, make_household, regular_times, simulate

    zone = ZoneInfo(tz)
    start = local_midnight_ms(first, zone)
    start -= start % HOUR_MS
    end = local_midnight_ms(last, zone)
    house = make_household(seed, timezone=tz)
    _, samples, _ = simulate(house, initial_state(house, start), regular_times(start, end, HOUR_MS))
    counter = np.concatenate([[house.energy_start_wh], samples.energy])
    return EnergySeries.of(samples.ts - HOUR_MS, np.diff(counter), HOUR_MS)


# -- 1. speed ----------------------------------------------------------------------------


def year_of_bills(
    tariff: Tariff, cycles: Sequence[BillingCycle], series: EnergySeries, tz: str, conn: Connection
) -> object:
    return [compute_bill(tariff, c, series, tz, conn) for c in cycles]


def cycle_sums(series: EnergySeries, bounds: np.ndarray) -> object:
    """The reference: energy per cycle as a plain numpy sum of the same hours."""
    idx = np.searchsorted(series.ts_ms, bounds)
    return np.add.reduceat(series.wh, idx[:-1])


def bench_speed() -> None:
    print("1. A year of bills for one meter from hourly energy (simulated household, 2025)")
    cases: list[tuple[str, str, int, Connection]] = [
        ("in-tn-domestic", "Asia/Kolkata", 2, Connection()),
        ("in-kl-domestic", "Asia/Kolkata", 2, Connection()),
        ("in-dl-domestic", "Asia/Kolkata", 1, Connection(sanctioned_kw=Decimal(3))),
        ("us-pge-e-tou-c", "America/Los_Angeles", 1, Connection()),
    ]
    print(f"   {'tariff':<16} {'cycles':>6} {'hours':>6} {'bills ms':>9} {'numpy sum ms':>13} {'ratio':>7}")
    for pid, tz, months, conn in cases:
        tariff = load_preset(pid)
        series = simulated_hourly(1, tz, date(2025, 1, 1), date(2026, 1, 1))
        cycles = billing_cycles(date(2025, 1, 1), months, date(2025, 1, 1), date(2025, 12, 31))
        zone = ZoneInfo(tz)
        bounds = np.array(
            [local_midnight_ms(c.start, zone) for c in cycles] + [local_midnight_ms(cycles[-1].end, zone)]
        )

        t_bills = median_time(partial(year_of_bills, tariff, cycles, series, tz, conn))
        t_ref = median_time(partial(cycle_sums, series, bounds))
        print(
            f"   {pid:<16} {len(cycles):>6} {series.ts_ms.size:>6} {t_bills * 1e3:>9.2f} "
            f"{t_ref * 1e3:>13.3f} {t_bills / t_ref:>7.0f}x"
        )
    print("   aim: under 200 ms for a year of bills")


# -- 2. projection error -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    projected: float
    actual: float
    low: float
    high: float
    projected_kwh: float
    actual_kwh: float


def evaluate(
    tariff: Tariff, series: EnergySeries, tz: str, cycles: Sequence[BillingCycle], cut_days: Sequence[int]
) -> list[Outcome]:
    zone = ZoneInfo(tz)
    out = []
    for c in cycles:
        actual = compute_bill(tariff, c, series, tz)
        for k in cut_days:
            if k >= c.days:
                continue
            as_of = local_midnight_ms(c.start + timedelta(days=k), zone)
            p = project_bill(tariff, c, series.until(as_of), as_of, tz)  # only what was known by then
            out.append(
                Outcome(
                    float(p.projected.total),
                    float(actual.total),
                    float(p.low),
                    float(p.high),
                    float(p.projected.kwh),
                    float(actual.kwh),
                )
            )
    return out


def summarise(label: str, outcomes: Sequence[Outcome]) -> None:
    if not outcomes:
        print(f"   {label}: no cycles")
        return
    ape = [abs(o.projected - o.actual) / o.actual * 100 for o in outcomes if o.actual > 0]
    ape_kwh = [abs(o.projected_kwh - o.actual_kwh) / o.actual_kwh * 100 for o in outcomes if o.actual_kwh > 0]
    inside = sum(1 for o in outcomes if o.low <= o.actual <= o.high) / len(outcomes)
    print(
        f"   {label}: {len(outcomes)} projections; bill MdAPE {statistics.median(ape):.1f} % "
        f"(90th pct {np.percentile(ape, 90):.1f} %), kWh MdAPE {statistics.median(ape_kwh):.1f} %, "
        f"actual inside the 10-90 % range {inside:.0%}"
    )


def bench_simulated(households: int) -> None:
    tz = "Asia/Kolkata"
    tariff = load_preset("in-tn-domestic")
    cycles = billing_cycles(date(2025, 1, 1), 2, date(2025, 1, 1), date(2025, 12, 31))
    outcomes: list[Outcome] = []
    by_day: dict[int, list[Outcome]] = {}
    for seed in range(households):
        series = simulated_hourly(100 + seed, tz, date(2024, 12, 1), date(2026, 1, 1))
        for k in (7, 15, 30, 45):
            got = evaluate(tariff, series, tz, cycles, [k])
            by_day.setdefault(k, []).extend(got)
            outcomes.extend(got)
    print(f"2a. Simulated households ({households} x 6 bi-monthly cycles of 2025, Tamil Nadu tariff)")
    summarise("all cut days", outcomes)
    for k, got in by_day.items():
        summarise(f"after {k:>2} days", got)


def load_ihepc(path: Path) -> EnergySeries:
    zone = ZoneInfo("Europe/Paris")
    ts, wh = [], []
    with path.open() as fh:
        next(fh)
        for line in fh:
            cols = line.rstrip("\n").split(";")
            if len(cols) < 9 or cols[2] in ("?", ""):
                continue  # missing minute, or the cut last line
            d, m, y = (int(x) for x in cols[0].split("/"))
            hh, mm, _ = (int(x) for x in cols[1].split(":"))
            ts.append(int(datetime(y, m, d, hh, mm, tzinfo=zone).timestamp() * 1000))
            wh.append(float(cols[2]) * 1000 / 60)
    return EnergySeries.of(ts, wh, MINUTE_MS)


def load_ampds2(path: Path) -> EnergySeries:
    zone = ZoneInfo("America/Vancouver")
    ts, wh = [], []
    with path.open() as fh:
        next(fh)
        for line in fh:
            cols = line.split(",")
            moment = datetime.fromisoformat(cols[0]).replace(tzinfo=zone)
            ts.append(int(moment.timestamp() * 1000))
            wh.append(float(cols[1]) / 60)
    return EnergySeries.of(ts, wh, MINUTE_MS)


def flat(currency: str, tz: str) -> Tariff:
    return tariff_from_dict(
        {
            "id": "flat",
            "name": "flat",
            "currency": currency,
            "timezone": tz,
            "versions": [{"effective_from": "2000-01-01", "energy_rate": "0.20"}],
        }
    )


def bench_real(data: Path) -> None:
    print("2b. Real consumption, 4-day cycles (all the whole days we have), flat tariff")
    sets = [
        ("IHEPC Sceaux", data / "ihepc-1min" / "household_power_consumption.txt", load_ihepc, "Europe/Paris",
         date(2006, 12, 17), date(2006, 12, 27)),
        ("AMPds2 Burnaby", data / "ampds2-1min" / "ampds2_enriched_train_2013-11-21_2013-11-27.csv", load_ampds2,
         "America/Vancouver", date(2013, 11, 21), date(2013, 11, 28)),
    ]  # fmt: skip
    everything: list[Outcome] = []
    for name, path, loader, tz, first, end in sets:
        if not path.exists():
            print(f"   {name}: {path} not found, skipped")
            continue
        series = loader(path)
        tariff = flat("EUR", tz)
        # cycles of 4 days with at least 3 whole days before them to learn from
        starts = [first + timedelta(days=k) for k in range(3, (end - first).days - 3)]
        cycles = [BillingCycle(s, s + timedelta(days=4)) for s in starts]
        got = evaluate(tariff, series, tz, cycles, [1, 2, 3])
        summarise(name, got)
        everything.extend(got)
    if everything:
        summarise("both", everything)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--households", type=int, default=6, help="simulated households for 2a")
    args = parser.parse_args()
    bench_speed()
    bench_simulated(args.households)
    bench_real(args.data)


if __name__ == "__main__":
    main()
