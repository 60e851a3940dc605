"""The tariff a consumer really pays, as data: validated, immutable, versioned by date.

One model covers the published tariffs we ship (Tamil Nadu, Kerala, Delhi, PG&E) and what
users write themselves (TOML or JSON). A tariff is a list of versions, each in force from
its ``effective_from`` date until the next one starts, so a change never rewrites a past
bill. A version prices energy in one of three ways — a flat ``energy_rate``, slab
``schedules`` chosen by the cycle's total (telescopic within a schedule; a one-slab
schedule is a non-telescopic "every unit at this rate" band), or ``tou`` time-of-use
periods by season and day type — and then adds per-unit charges, fixed charges (per day,
month or cycle; by total units; by sanctioned kW), percentage add-ons in order each on its
stated base, and a subsidy last.

Slab widths, fixed charges per month and subsidy caps are stated per ``slab_months``
months (Tamil Nadu: 2, most others: 1); a cycle of another length scales them (see
``billing.compute``).
"""

from __future__ import annotations

import itertools
import json
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wattwise.domain.timestamps import time_zone

Money = Decimal


class TariffError(ValueError):
    """A tariff file or model that cannot be used, with every problem named."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid tariff\n" + "\n".join(f"  - {p}" for p in problems))


#: The largest number a tariff may hold (a rate, a charge, a slab bound, an allowance): far past
#: any real one, and small enough that a bill's arithmetic stays exact in Decimal's 28 digits
#: (a stored rate of 1e30 made every bill of its site fail).
MAX_NUMBER = Decimal(10**9)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _within_reason(cls, value: Any) -> Any:
        for number in value.values() if isinstance(value, dict) else (value,):
            if isinstance(number, Decimal) and abs(number) > MAX_NUMBER:
                raise ValueError(f"{number} is past any tariff's numbers (at most {MAX_NUMBER:,})")
        return value


class Slab(_Frozen):
    """Units up to ``up_to`` (cumulative, per slab period) cost ``rate`` each; None: no limit."""

    up_to: Decimal | None = Field(default=None, gt=0)
    rate: Decimal = Field(ge=0)


def _check_ascending(values: list[Decimal | None], what: str) -> None:
    """Bounds must rise and only the last may be open (None)."""
    for i, v in enumerate(values):
        if v is None and i != len(values) - 1:
            raise ValueError(f"only the last {what} may be open-ended (no up_to); #{i + 1} is")
    bounded = [v for v in values if v is not None]
    for a, b in itertools.pairwise(bounded):
        if b <= a:
            raise ValueError(f"{what} bounds must rise: {b} follows {a}")


class Schedule(_Frozen):
    """Slabs that apply when the cycle's total is at most ``up_to_total`` (None: any total)."""

    up_to_total: Decimal | None = Field(default=None, gt=0)
    slabs: tuple[Slab, ...] = Field(min_length=1)

    @field_validator("slabs")
    @classmethod
    def _slabs_rise(cls, slabs: tuple[Slab, ...]) -> tuple[Slab, ...]:
        _check_ascending([s.up_to for s in slabs], "slab")
        if slabs[-1].up_to is not None:
            raise ValueError(f"the last slab must be open-ended (omit up_to), but it stops at {slabs[-1].up_to}")
        return slabs


class FixedStep(_Frozen):
    """A fixed charge that depends on the total units (per slab period)."""

    up_to: Decimal | None = Field(default=None, gt=0)
    amount: Money = Field(ge=0)
    amount_three_phase: Money | None = Field(default=None, ge=0)


class LoadStep(_Frozen):
    """Rate per sanctioned kW when the sanctioned load is at most ``up_to_kw``."""

    up_to_kw: Decimal | None = Field(default=None, gt=0)
    rate: Money = Field(ge=0)


class FixedCharge(_Frozen):
    """A charge that does not depend on when energy is used: exactly one of the three forms."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    label: str
    per: Literal["day", "month", "cycle"]
    amount: Money | None = Field(default=None, ge=0)
    amount_three_phase: Money | None = Field(default=None, ge=0)
    by_total: tuple[FixedStep, ...] | None = None
    per_kw: tuple[LoadStep, ...] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> FixedCharge:
        forms = [f for f in ("amount", "by_total", "per_kw") if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(
                f"fixed charge {self.id!r} needs exactly one of amount, by_total, per_kw; got "
                + (", ".join(forms) or "none")
            )
        if self.by_total is not None:
            _check_ascending([s.up_to for s in self.by_total], "by_total step")
        if self.per_kw is not None:
            _check_ascending([s.up_to_kw for s in self.per_kw], "per_kw step")
        return self


class PerUnitCharge(_Frozen):
    """A charge per kWh on top of the energy charge (fuel surcharge, …)."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    label: str
    rate: Money


class Addon(_Frozen):
    """``percent`` % of the lines named in ``base``: "energy", "fixed", "per_unit" or an id."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    label: str
    percent: Decimal = Field(ge=-100, le=1000)
    base: tuple[str, ...] = Field(min_length=1)


class SubsidyBand(_Frozen):
    """Total units (per slab period) at most ``up_to``: ``percent`` % off, at most ``cap``."""

    up_to: Decimal | None = Field(default=None, gt=0)
    percent: Decimal = Field(ge=0, le=100)
    cap: Money | None = Field(default=None, ge=0)


class Subsidy(_Frozen):
    """Taken off the whole bill (after add-ons) by the total's band; above every band, none."""

    label: str = "Subsidy"
    opt_in: bool = True
    bands: tuple[SubsidyBand, ...] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _bands_rise(cls, bands: tuple[SubsidyBand, ...]) -> tuple[SubsidyBand, ...]:
        _check_ascending([b.up_to for b in bands], "subsidy band")
        return bands


class Window(_Frozen):
    """Local hours ``[start, end)`` in one period; ``start > end`` wraps past midnight."""

    start: int = Field(ge=0, le=23)
    end: int = Field(ge=1, le=24)
    period: str


def _parse_md(text: str) -> tuple[int, int]:
    try:
        month, day = (int(x) for x in text.split("-"))
        date(2024, month, day)  # leap year: 02-29 allowed
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a month-day like '06-01'") from exc
    return month, day


class Season(_Frozen):
    """Months ``start``..``end`` (inclusive, "MM-DD", may wrap the year) and their prices."""

    name: str
    start: str
    end: str
    rates: dict[str, Money]
    default_period: str
    weekday: tuple[Window, ...] = ()
    weekend: tuple[Window, ...] | None = None

    @model_validator(mode="after")
    def _periods_priced(self) -> Season:
        _parse_md(self.start)
        _parse_md(self.end)
        windows = self.weekday + (self.weekend or ())
        for p in {w.period for w in windows} | {self.default_period}:
            if p not in self.rates:
                raise ValueError(f"season {self.name!r}: period {p!r} has no rate in rates")
        return self

    def contains(self, month: int, day: int) -> bool:
        a, b, x = _parse_md(self.start), _parse_md(self.end), (month, day)
        return a <= x <= b if a <= b else (x >= a or x <= b)

    def period_at(self, hour: int, weekend: bool) -> str:
        windows = self.weekend if weekend and self.weekend is not None else self.weekday
        for w in windows:
            inside = w.start <= hour < w.end if w.start < w.end else (hour >= w.start or hour < w.end)
            if inside:
                return w.period
        return self.default_period


class TimeOfUse(_Frozen):
    """Seasons (together covering the year) of period prices; weekend = Saturday and Sunday."""

    seasons: tuple[Season, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _year_covered(self) -> TimeOfUse:
        for day_of_year in range(366):
            d = date.fromordinal(date(2024, 1, 1).toordinal() + day_of_year)
            if not any(s.contains(d.month, d.day) for s in self.seasons):
                raise ValueError(f"no season covers {d.strftime('%m-%d')}")
        return self

    def season_of(self, month: int, day: int) -> Season:
        return next(s for s in self.seasons if s.contains(month, day))


class BaselineCredit(_Frozen):
    """A credit per kWh on usage up to a daily allowance per season × the cycle's days."""

    label: str = "Baseline credit"
    rate: Money = Field(gt=0)
    allowance_kwh_per_day: dict[str, Decimal]


class TariffVersion(_Frozen):
    """One version of a tariff, in force from ``effective_from`` until the next version."""

    effective_from: date
    slab_months: int = Field(default=1, ge=1, le=12)
    days_per_month: Decimal = Field(default=Decimal(30), ge=1, le=31)
    energy_rate: Money | None = Field(default=None, ge=0)
    schedules: tuple[Schedule, ...] | None = None
    tou: TimeOfUse | None = None
    baseline_credit: BaselineCredit | None = None
    minimum_per_day: Money | None = Field(default=None, ge=0)
    per_unit: tuple[PerUnitCharge, ...] = ()
    fixed: tuple[FixedCharge, ...] = ()
    addons: tuple[Addon, ...] = ()
    subsidy: Subsidy | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TariffVersion:
        forms = [f for f in ("energy_rate", "schedules", "tou") if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(
                "a version prices energy with exactly one of energy_rate, schedules, tou; got "
                + (", ".join(forms) or "none")
            )
        if self.schedules is not None:
            if not self.schedules:
                raise ValueError("schedules is empty")
            _check_ascending([s.up_to_total for s in self.schedules], "schedule up_to_total")
            if self.schedules[-1].up_to_total is not None:
                raise ValueError("the last schedule must take any total (omit up_to_total)")
        if self.baseline_credit is not None:
            if self.tou is None:
                raise ValueError("baseline_credit needs tou seasons to know each day's allowance")
            names = {s.name for s in self.tou.seasons}
            missing = names - set(self.baseline_credit.allowance_kwh_per_day)
            if missing:
                raise ValueError(f"baseline_credit has no allowance for season(s) {sorted(missing)}")
        seen = {"energy", "fixed", "per_unit"}
        charge_ids = [c.id for c in self.per_unit] + [c.id for c in self.fixed]
        for cid in charge_ids:
            if cid in seen:
                raise ValueError(f"charge id {cid!r} is used twice (or is a reserved word)")
            seen.add(cid)
        for a in self.addons:
            unknown = [b for b in a.base if b not in seen]
            if unknown:
                raise ValueError(f"add-on {a.id!r}: base {unknown} names no earlier charge (known: {sorted(seen)})")
            if a.id in seen:
                raise ValueError(f"charge id {a.id!r} is used twice (or is a reserved word)")
            seen.add(a.id)
        return self

    @property
    def kind(self) -> str:
        if self.tou is not None:
            return "time-of-use"
        if self.schedules is not None:
            return "slab"
        return "flat"


class Tariff(_Frozen):
    """A named tariff with its source, currency, rounding and dated versions."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    timezone: str | None = None
    source: str = ""
    source_date: date | None = None
    notes: str = ""
    round_to: Decimal = Field(default=Decimal("0.01"), ge=Decimal("0.0001"), le=1000)
    versions: tuple[TariffVersion, ...] = Field(min_length=1)

    @field_validator("versions")
    @classmethod
    def _dates_rise(cls, versions: tuple[TariffVersion, ...]) -> tuple[TariffVersion, ...]:
        for a, b in itertools.pairwise(versions):
            if b.effective_from <= a.effective_from:
                raise ValueError(f"versions must be in date order: {b.effective_from} follows {a.effective_from}")
        return versions

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, tz: str | None) -> str | None:
        if tz is not None:
            time_zone(tz)  # ValueError naming it when it is none
        return tz

    def version_on(self, day: date) -> TariffVersion:
        """The version in force on ``day``."""
        current = None
        for v in self.versions:
            if v.effective_from <= day:
                current = v
        if current is None:
            raise TariffError(
                self.id,
                [f"no version in force on {day}; first from {self.versions[0].effective_from}"],
            )
        return current


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def tariff_from_dict(data: dict[str, Any], source: str = "tariff") -> Tariff:
    """Validate ``data`` into a Tariff, or raise TariffError naming every problem by path."""
    try:
        return Tariff.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        locs = [tuple(e["loc"]) for e in errors]

        def echo(err: Any) -> bool:
            """A "too short" list only because an item inside it failed: noise."""
            loc = tuple(err["loc"])
            return bool(err["type"] == "too_short") and any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs)

        problems = [
            f"{_loc(tuple(err['loc']))}: {err['msg'].removeprefix('Value error, ')}" for err in errors if not echo(err)
        ]
        raise TariffError(source, problems) from None


def parse_tariff(text: str, fmt: Literal["toml", "json"], source: str = "tariff") -> Tariff:
    """Parse and validate a tariff written as TOML or JSON text."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise TariffError(source, [f"not valid {fmt.upper()}: {exc}"]) from None
    if not isinstance(data, dict):
        raise TariffError(source, ["the top level must be a table/object"])
    return tariff_from_dict(data, source)


def load_tariff(path: Path) -> Tariff:
    """Read a ``.toml`` or ``.json`` tariff file."""
    fmt: Literal["toml", "json"]
    if path.suffix.lower() == ".toml":
        fmt = "toml"
    elif path.suffix.lower() == ".json":
        fmt = "json"
    else:
        raise TariffError(str(path), ["a tariff file must end in .toml or .json"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TariffError(str(path), [f"cannot read: {exc.strerror}"]) from None
    return parse_tariff(text, fmt, str(path))
