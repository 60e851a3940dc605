"""A cycle's bill, line by line, from a tariff and the energy the meter measured.

Rules (each one a sentence a consumer can check on a printed bill):

- A cycle in which the tariff changes is split at the change into parts; each part is
  billed under the version in force with the energy measured in it, and its slab widths,
  monthly fixed charges and subsidy caps are scaled by its share of the cycle's days.
  (A utility that reads the meter once per cycle splits the units by days instead:
  ``bill_for_units`` does that.)
- Slabs are stated per ``slab_months``; a cycle of other length scales them by
  ``factor`` = cycle months / slab months (or days / (days_per_month × slab_months) when the
  cycle is not whole calendar months). Billing a two-month cycle on monthly slabs is thus
  "halve the units, bill one month, double it", as Kerala's rule says.
- Each line is rounded to the tariff's ``round_to`` (half up); add-ons are percentages of
  the rounded lines they name; the subsidy comes last, off the whole bill.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from wattwise.analysis.billing.tariff import (
    FixedCharge,
    Schedule,
    Season,
    Tariff,
    TariffError,
    TariffVersion,
)
from wattwise.analysis.energy import BillingCycle, EnergySeries, local_midnight_ms

KWH = Decimal("0.001")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Connection:
    """Facts about the consumer's connection that some tariffs price on."""

    phases: int = 1
    sanctioned_kw: Decimal | None = None
    subsidy: bool = True  # opted in, where a subsidy is opt-in


@dataclass(frozen=True, slots=True)
class BillLine:
    """One printed line: ``group`` is energy, per_unit, fixed, addon or subsidy."""

    group: str
    charge_id: str
    label: str
    quantity: Decimal | None
    unit: str
    rate: Decimal | None
    amount: Decimal
    part: int = 0

    @property
    def is_percent(self) -> bool:
        """A tax, surcharge or subsidy: its rate is a percent of its quantity, an amount of money."""
        return self.group in ("addon", "subsidy")

    @property
    def quantity_unit(self) -> str:
        """The unit as the quantity reads it: "1 month", "2 months" ("1 months" on a bill
        reads as a mistake). Stored and served as ``unit`` unchanged."""
        if self.quantity == 1 and self.unit in ("months", "days"):
            return self.unit[:-1]
        return self.unit


@dataclass(frozen=True, slots=True)
class BillPart:
    """The days of a cycle billed under one tariff version."""

    start: date
    end: date
    effective_from: date
    kwh: Decimal
    factor: Decimal

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True, slots=True)
class Bill:
    """A computed bill; ``total`` is the sum of the (rounded) lines."""

    tariff_id: str
    tariff_name: str
    currency: str
    cycle: BillingCycle
    parts: tuple[BillPart, ...]
    lines: tuple[BillLine, ...]
    kwh: Decimal
    total: Decimal = field(default=ZERO)

    def amount_of(self, group: str) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.group == group), ZERO)


@dataclass(frozen=True, slots=True)
class PartUsage:
    """Energy of one part: total kWh and, for time-of-use, kWh per (season, period)."""

    kwh: Decimal
    by_period: Mapping[tuple[str, str], Decimal] | None = None


def to_kwh(wh: float) -> Decimal:
    """Wh (float from the store) to kWh, to the Wh."""
    return (Decimal(repr(float(wh))) / 1000).quantize(KWH, ROUND_HALF_UP)


def cycle_factor(version: TariffVersion, cycle: BillingCycle) -> Decimal:
    """How many slab periods the cycle is (2 for a bi-monthly cycle on monthly slabs)."""
    months = cycle.months()
    if months is not None:
        return Decimal(months) / version.slab_months
    return Decimal(cycle.days) / (version.days_per_month * version.slab_months)


def split_cycle(tariff: Tariff, cycle: BillingCycle) -> list[tuple[date, date, TariffVersion]]:
    """The cycle's days cut at each version change, with the version in force."""
    first = tariff.version_on(cycle.start)
    cuts = [v for v in tariff.versions if cycle.start < v.effective_from < cycle.end]
    starts = [cycle.start, *[v.effective_from for v in cuts]]
    ends = [*starts[1:], cycle.end]
    return list(zip(starts, ends, [first, *cuts], strict=True))


def _fmt(d: Decimal) -> str:
    """A number as a person writes it: 100, 2.35, 0.5 (no trailing zeros, no exponent)."""
    text = format(d.normalize(), "f")
    return text


class _PartBiller:
    """Builds the lines of one part; kept small so each charge type reads on its own."""

    def __init__(
        self,
        tariff: Tariff,
        version: TariffVersion,
        part: BillPart,
        usage: PartUsage,
        connection: Connection,
        index: int,
        tou_days: Mapping[str, int],
        cycle: BillingCycle,
    ) -> None:
        self.t, self.v, self.p, self.u, self.c, self.i = (
            tariff,
            version,
            part,
            usage,
            connection,
            index,
        )
        self.tou_days = tou_days
        self.cycle = cycle
        self.lines: list[BillLine] = []
        self.norm_units = usage.kwh / part.factor  # units per slab period

    def money(self, x: Decimal) -> Decimal:
        return x.quantize(self.t.round_to, ROUND_HALF_UP)

    def add(
        self,
        group: str,
        cid: str,
        label: str,
        amount: Decimal,
        qty: Decimal | None = None,
        unit: str = "",
        rate: Decimal | None = None,
    ) -> None:
        self.lines.append(BillLine(group, cid, label, qty, unit, rate, self.money(amount), self.i))

    def run(self) -> list[BillLine]:
        self.energy()
        for pu in self.v.per_unit:
            self.add("per_unit", pu.id, pu.label, self.u.kwh * pu.rate, self.u.kwh, "kWh", pu.rate)
        for fc in self.v.fixed:
            self.fixed(fc)
        for ad in self.v.addons:
            base = sum(
                (ln.amount for ln in self.lines if ln.group in ad.base or ln.charge_id in ad.base),
                ZERO,
            )
            self.add(
                "addon",
                ad.id,
                f"{ad.label} ({_fmt(ad.percent)} %)",
                base * ad.percent / 100,
                base,
                self.t.currency,
                ad.percent,
            )
        self.subsidy()
        return self.lines

    # -- energy -------------------------------------------------------------------------
    def energy(self) -> None:
        v = self.v
        if v.energy_rate is not None:
            self.add(
                "energy",
                "energy",
                "Energy",
                self.u.kwh * v.energy_rate,
                self.u.kwh,
                "kWh",
                v.energy_rate,
            )
        elif v.schedules is not None:
            self.slabs(*self._schedule(v.schedules))
        else:
            self.time_of_use()

    def _schedule(self, schedules: tuple[Schedule, ...]) -> tuple[Schedule, Decimal]:
        """The schedule the total picks, and the total above which it starts."""
        floor = ZERO
        for s in schedules:
            if s.up_to_total is None or self.norm_units <= s.up_to_total:
                return s, floor
            floor = s.up_to_total
        raise AssertionError("validation guarantees an open-ended last schedule")

    def slabs(self, schedule: Schedule, band_floor: Decimal) -> None:
        f = self.p.factor
        if len(schedule.slabs) == 1:
            rate = schedule.slabs[0].rate
            label = "Energy, all units"
            if schedule.up_to_total is not None or band_floor:
                top = "" if schedule.up_to_total is None else _fmt(schedule.up_to_total * f)
                label += (
                    f" (total in {_fmt(band_floor * f + 1)}–{top})" if top else f" (total above {_fmt(band_floor * f)})"
                )
            self.add("energy", "energy", label, self.u.kwh * rate, self.u.kwh, "kWh", rate)
            return
        lower = ZERO
        for slab in schedule.slabs:
            upper = slab.up_to
            if self.norm_units <= lower:
                break
            units_norm = (self.norm_units if upper is None else min(self.norm_units, upper)) - lower
            units = (units_norm * f).quantize(KWH, ROUND_HALF_UP)
            if upper is None:
                span = f"above {_fmt(lower * f)}"
            elif not lower:
                span = f"first {_fmt(upper * f)}"
            else:
                span = f"{_fmt(lower * f + 1)}–{_fmt(upper * f)}"
            self.add(
                "energy",
                "energy",
                f"Energy, {span} units" if span.startswith("first") else f"Energy, units {span}",
                units * slab.rate,
                units,
                "kWh",
                slab.rate,
            )
            if upper is None:
                break
            lower = upper

    def time_of_use(self) -> None:
        v = self.v
        assert v.tou is not None
        if self.u.by_period is None:
            raise TariffError(self.t.id, ["time-of-use needs energy per hour, not only a total"])
        for season in v.tou.seasons:
            for period, rate in season.rates.items():
                kwh = self.u.by_period.get((season.name, period), ZERO)
                if kwh:
                    self.add(
                        "energy",
                        "energy",
                        f"Energy, {season.name} {period.replace('_', '-')}",
                        kwh * rate,
                        kwh,
                        "kWh",
                        rate,
                    )
        if v.baseline_credit is not None:
            bc = v.baseline_credit
            allowance = sum((bc.allowance_kwh_per_day[s] * n for s, n in self.tou_days.items()), ZERO)
            qty = min(self.u.kwh, allowance)
            self.add(
                "energy",
                "baseline_credit",
                f"{bc.label} (allowance {_fmt(allowance)} kWh)",
                -qty * bc.rate,
                qty,
                "kWh",
                -bc.rate,
            )
        if v.minimum_per_day is not None:
            minimum = v.minimum_per_day * self.p.days
            so_far = sum((ln.amount for ln in self.lines if ln.group == "energy"), ZERO)
            if so_far < minimum:
                self.add(
                    "energy",
                    "minimum",
                    f"Minimum charge top-up ({self.p.days} days × {_fmt(v.minimum_per_day)})",
                    minimum - so_far,
                )

    # -- fixed --------------------------------------------------------------------------
    def _periods(self, fc: FixedCharge) -> tuple[Decimal, str]:
        if fc.per == "day":
            return Decimal(self.p.days), "days"
        if fc.per == "month":
            return self.p.factor * self.v.slab_months, "months"
        return Decimal(self.p.days) / self.cycle.days, "cycle"

    def fixed(self, fc: FixedCharge) -> None:
        n, unit = self._periods(fc)
        three = self.c.phases == 3
        if fc.amount is not None:
            each = fc.amount_three_phase if three and fc.amount_three_phase is not None else fc.amount
            self.add("fixed", fc.id, fc.label, n * each, n, unit, each)
        elif fc.by_total is not None:
            step = next(
                (s for s in fc.by_total if s.up_to is None or self.norm_units <= s.up_to),
                fc.by_total[-1],
            )
            each = step.amount_three_phase if three and step.amount_three_phase is not None else step.amount
            self.add("fixed", fc.id, fc.label, n * each, n, unit, each)
        else:
            assert fc.per_kw is not None
            kw = self.c.sanctioned_kw
            if kw is None:
                raise TariffError(self.t.id, [f"{fc.label}: needs the connection's sanctioned load (kW)"])
            step_kw = next((s for s in fc.per_kw if s.up_to_kw is None or kw <= s.up_to_kw), fc.per_kw[-1])
            self.add(
                "fixed",
                fc.id,
                f"{fc.label} ({_fmt(kw)} kW × {_fmt(step_kw.rate)})",
                n * kw * step_kw.rate,
                n,
                unit,
                kw * step_kw.rate,
            )

    # -- subsidy ------------------------------------------------------------------------
    def subsidy(self) -> None:
        s = self.v.subsidy
        if s is None or (s.opt_in and not self.c.subsidy):
            return
        band = next((b for b in s.bands if b.up_to is None or self.norm_units <= b.up_to), None)
        if band is None:
            return
        total = sum((ln.amount for ln in self.lines), ZERO)
        off = total * band.percent / 100
        if band.cap is not None:
            off = min(off, band.cap * self.p.factor)
        self.add(
            "subsidy",
            "subsidy",
            f"{s.label} ({_fmt(band.percent)} %)",
            -off,
            total,
            self.t.currency,
            band.percent,
        )


def _bill(
    tariff: Tariff,
    cycle: BillingCycle,
    usages: list[PartUsage],
    connection: Connection,
    tou_days: list[dict[str, int]],
) -> Bill:
    parts: list[BillPart] = []
    lines: list[BillLine] = []
    for i, ((start, end, version), usage) in enumerate(zip(split_cycle(tariff, cycle), usages, strict=True)):
        share = Decimal((end - start).days) / cycle.days
        part = BillPart(start, end, version.effective_from, usage.kwh, cycle_factor(version, cycle) * share)
        parts.append(part)
        biller = _PartBiller(tariff, version, part, usage, connection, i, tou_days[i], cycle)
        lines.extend(biller.run())
    total = sum((ln.amount for ln in lines), ZERO)
    return Bill(
        tariff.id,
        tariff.name,
        tariff.currency,
        cycle,
        tuple(parts),
        tuple(lines),
        sum((p.kwh for p in parts), ZERO),
        total,
    )


def _season_days(version: TariffVersion, start: date, end: date) -> dict[str, int]:
    days: dict[str, int] = defaultdict(int)
    if version.tou is None:
        return days
    d = start
    while d < end:
        days[version.tou.season_of(d.month, d.day).name] += 1
        d = date.fromordinal(d.toordinal() + 1)
    return dict(days)


def _tou_usage(version: TariffVersion, series: EnergySeries, a: int, b: int, tz: ZoneInfo) -> PartUsage:
    """kWh per (season, period): each entry priced at its instant's local time."""
    assert version.tou is not None
    tou = version.tou
    w = series.window(a, b)
    acc: dict[tuple[str, str], float] = defaultdict(float)
    seasons: dict[tuple[int, int], Season] = {}
    periods: dict[tuple[str, bool, int], tuple[str, str]] = {}
    for ts, wh in zip(w.ts_ms.tolist(), w.wh.tolist(), strict=True):
        local = datetime.fromtimestamp(ts / 1000, tz)
        md = (local.month, local.day)
        season = seasons.get(md)
        if season is None:
            season = seasons[md] = tou.season_of(*md)
        key = (season.name, local.weekday() >= 5, local.hour)
        hit = periods.get(key)
        if hit is None:
            hit = periods[key] = (season.name, season.period_at(local.hour, key[1]))
        acc[hit] += wh
    by_period = {k: to_kwh(v) for k, v in acc.items()}
    return PartUsage(sum(by_period.values(), ZERO), by_period)


def site_zone(tariff: Tariff, tz: ZoneInfo | str | None) -> ZoneInfo:
    """The zone calendar questions are asked in: the site's, else the tariff's."""
    zone = tz if tz is not None else tariff.timezone
    if zone is None:
        raise TariffError(tariff.id, ["no time zone: give the site's, or set the tariff's timezone"])
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def measured_usage(
    tariff: Tariff,
    cycle: BillingCycle,
    series: EnergySeries,
    zone: ZoneInfo,
    until_ms: int | None = None,
) -> list[PartUsage]:
    """Energy of each part of the cycle, counting only what came before ``until_ms``."""
    usages = []
    for start, end, version in split_cycle(tariff, cycle):
        a, b = local_midnight_ms(start, zone), local_midnight_ms(end, zone)
        if until_ms is not None:
            b = max(a, min(b, until_ms))
        if version.tou is not None:
            usages.append(_tou_usage(version, series, a, b, zone))
        else:
            usages.append(PartUsage(to_kwh(series.between(a, b))))
    return usages


def bill_from_usage(
    tariff: Tariff,
    cycle: BillingCycle,
    usages: list[PartUsage],
    connection: Connection = Connection(),
) -> Bill:
    """The bill for given energy per part (one PartUsage per ``split_cycle`` part)."""
    pieces = split_cycle(tariff, cycle)
    if len(usages) != len(pieces):
        raise ValueError(f"{len(pieces)} tariff part(s) in {cycle}, got {len(usages)} usage(s)")
    tou_days = [_season_days(v, start, end) for start, end, v in pieces]
    return _bill(tariff, cycle, usages, connection, tou_days)


def compute_bill(
    tariff: Tariff,
    cycle: BillingCycle,
    series: EnergySeries,
    tz: ZoneInfo | str | None = None,
    connection: Connection = Connection(),
    until_ms: int | None = None,
) -> Bill:
    """The bill of ``cycle`` from measured energy (readings or rollups) in the site's zone.

    With ``until_ms`` only energy before then counts: the bill so far, if nothing more
    were used (fixed charges for the whole cycle included).
    """
    zone = site_zone(tariff, tz)
    usages = measured_usage(tariff, cycle, series, zone, until_ms)
    return bill_from_usage(tariff, cycle, usages, connection)


#: the most units a bill may be asked for: a terawatt-hour, past any site's cycle, and short
#: enough for the tariff's arithmetic (Decimal's 28 digits) to stay exact
MAX_UNITS = 10**9


def bill_for_units(
    tariff: Tariff,
    cycle: BillingCycle,
    kwh: Decimal | int | str,
    connection: Connection = Connection(),
) -> Bill:
    """The bill for a cycle's meter-read units (no time of day); a change splits units by days."""
    total = Decimal(kwh)
    if total < 0:
        raise ValueError(f"units cannot be negative: {total}")
    if total > MAX_UNITS:
        raise ValueError(f"units: {total} kWh is past any cycle's (at most {MAX_UNITS:,})")
    pieces = split_cycle(tariff, cycle)
    usages: list[PartUsage] = []
    left = total
    for n, (start, end, version) in enumerate(pieces):
        if version.tou is not None:
            raise TariffError(tariff.id, ["time-of-use needs energy per hour, not only a total"])
        share = left if n == len(pieces) - 1 else (total * (end - start).days / cycle.days).quantize(KWH, ROUND_HALF_UP)
        left -= share
        usages.append(PartUsage(share))
    return bill_from_usage(tariff, cycle, usages, connection)
