"""The appliances a simulated household may own, declared as data.

Each appliance is a programme of phases (a kettle has one, a washing machine six) and a
schedule saying when a programme starts: always on (standby), cycling by its thermostat
(fridge compressor), or started by people at the hours they use it, with their own
weekday and weekend habits. Powers and durations follow what sub-metered homes show:
REFIT house 2 (fridge ≈ 85 W, on ≈ 34 min / off ≈ 58 min; microwave ≈ 1,120 W; washing
machine heater ≈ 2 kW) and typical rated values for the rest.

How the active power of a phase follows the supply voltage is its ``kind``:
resistive loads (kettle, heater) draw P ∝ V², motors roughly P ∝ V, and switched-mode
electronics (TV, LED lights, chargers) keep their power constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class LoadKind(IntEnum):
    """How active power follows the supply voltage: P ∝ (V / V_nominal) ** exponent."""

    RESISTIVE = 0
    MOTOR = 1
    ELECTRONIC = 2

    @property
    def exponent(self) -> float:
        """Exponent of the voltage ratio."""
        return _EXPONENTS[self]


_EXPONENTS = {LoadKind.RESISTIVE: 2.0, LoadKind.MOTOR: 1.0, LoadKind.ELECTRONIC: 0.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """One stretch of a programme at a steady power, lasting between min_s and max_s."""

    name: str
    power_w: float
    pf: float
    kind: LoadKind
    min_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class Always:
    """Never switches: standby of routers, chargers and clocks."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cycling:
    """Thermostat cycling: a programme starts every ``period_s`` (± ``jitter_s``)."""

    period_s: float
    jitter_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Daily:
    """Started by people: ``uses`` per day, at hours weighted by the 24-value profile."""

    uses_weekday: float
    uses_weekend: float
    hours_weekday: tuple[float, ...]
    hours_weekend: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.hours_weekday) != 24 or len(self.hours_weekend) != 24:
            raise ValueError("an hourly profile needs 24 weights, one per hour of the day")


Schedule = Always | Cycling | Daily


@dataclass(frozen=True, slots=True, kw_only=True)
class Appliance:
    """An appliance: its programme, its schedule and how likely a household owns one."""

    name: str
    phases: tuple[Phase, ...]
    schedule: Schedule
    presence: float = 1.0

    @property
    def max_duration_s(self) -> float:
        """Longest a programme can last."""
        return sum(p.max_s for p in self.phases)


def _profile(*peaks: tuple[int, float], base: float = 0.05) -> tuple[float, ...]:
    """24 hourly weights: a low base plus the given (hour, weight) peaks."""
    weights = [base] * 24
    for hour, weight in peaks:
        weights[hour] += weight
    return tuple(weights)


_MORNING_EVENING = _profile((6, 1.0), (7, 1.5), (8, 0.8), (13, 0.5), (17, 0.6), (19, 1.0), (20, 0.8))
_MEALS = _profile((7, 1.0), (8, 0.8), (12, 0.7), (13, 1.0), (19, 1.2), (20, 1.0))
_LATE_MEALS = _profile((9, 1.0), (10, 0.8), (13, 1.0), (14, 0.6), (19, 1.0), (20, 1.2))
_LAUNDRY = _profile((8, 0.6), (9, 1.0), (10, 1.0), (18, 0.6), (19, 0.5), base=0.0)
_WEEKEND_LAUNDRY = _profile((9, 1.0), (10, 1.5), (11, 1.2), (14, 0.8), (15, 0.6), base=0.0)
_BATH = _profile((5, 0.6), (6, 1.5), (7, 1.2), (19, 0.5), (21, 0.6), base=0.0)
_WEEKEND_BATH = _profile((7, 0.8), (8, 1.4), (9, 1.0), (19, 0.5), (21, 0.6), base=0.0)
_SCREEN = _profile((7, 0.3), (18, 0.8), (19, 1.5), (20, 2.0), (21, 1.8), (22, 0.8), base=0.02)
_WEEKEND_SCREEN = _profile((10, 0.6), (14, 0.8), (16, 0.8), (19, 1.5), (20, 2.0), (21, 1.8))
_DARK = _profile((5, 0.4), (6, 0.8), (17, 0.6), (18, 1.5), (19, 1.5), (20, 1.0), (21, 0.6), base=0.0)
_DESK = _profile((9, 0.6), (10, 1.0), (11, 0.8), (14, 0.8), (15, 0.8), (20, 1.0), (21, 0.8), base=0.02)
_COOKING = _profile((7, 0.8), (12, 1.0), (13, 0.6), (18, 0.8), (19, 1.5), (20, 0.8), base=0.0)
_CHORES = _profile((8, 0.8), (9, 0.6), (18, 0.5), (21, 0.6), base=0.0)
_WARM = _profile((12, 0.8), (13, 1.0), (14, 1.0), (15, 0.8), (22, 1.0), (23, 0.6), base=0.02)


APPLIANCES: tuple[Appliance, ...] = (
    Appliance(
        name="standby",
        phases=(Phase(name="on", power_w=12.0, pf=0.55, kind=LoadKind.ELECTRONIC, min_s=0, max_s=0),),
        schedule=Always(),
    ),
    Appliance(
        name="fridge",
        phases=(Phase(name="compressor", power_w=88.0, pf=0.80, kind=LoadKind.MOTOR, min_s=25 * 60, max_s=42 * 60),),
        schedule=Cycling(period_s=92 * 60, jitter_s=8 * 60),
    ),
    Appliance(
        name="kettle",
        phases=(Phase(name="boil", power_w=2000.0, pf=1.0, kind=LoadKind.RESISTIVE, min_s=110, max_s=240),),
        schedule=Daily(uses_weekday=3.5, uses_weekend=4.5, hours_weekday=_MORNING_EVENING, hours_weekend=_LATE_MEALS),
        presence=0.9,
    ),
    Appliance(
        name="microwave",
        phases=(Phase(name="heat", power_w=1150.0, pf=0.95, kind=LoadKind.ELECTRONIC, min_s=45, max_s=300),),
        schedule=Daily(uses_weekday=2.0, uses_weekend=2.5, hours_weekday=_MEALS, hours_weekend=_LATE_MEALS),
        presence=0.75,
    ),
    Appliance(
        name="washing_machine",
        phases=(
            Phase(name="fill", power_w=25.0, pf=0.50, kind=LoadKind.ELECTRONIC, min_s=120, max_s=240),
            Phase(name="heat", power_w=2000.0, pf=0.99, kind=LoadKind.RESISTIVE, min_s=600, max_s=1200),
            Phase(name="wash", power_w=180.0, pf=0.60, kind=LoadKind.MOTOR, min_s=1500, max_s=2400),
            Phase(name="drain", power_w=60.0, pf=0.55, kind=LoadKind.MOTOR, min_s=60, max_s=120),
            Phase(name="rinse", power_w=150.0, pf=0.60, kind=LoadKind.MOTOR, min_s=600, max_s=900),
            Phase(name="spin", power_w=450.0, pf=0.75, kind=LoadKind.MOTOR, min_s=300, max_s=600),
        ),
        schedule=Daily(uses_weekday=0.4, uses_weekend=1.0, hours_weekday=_LAUNDRY, hours_weekend=_WEEKEND_LAUNDRY),
        presence=0.85,
    ),
    Appliance(
        name="water_heater",
        phases=(Phase(name="heat", power_w=2000.0, pf=1.0, kind=LoadKind.RESISTIVE, min_s=12 * 60, max_s=35 * 60),),
        schedule=Daily(uses_weekday=1.3, uses_weekend=1.6, hours_weekday=_BATH, hours_weekend=_WEEKEND_BATH),
        presence=0.7,
    ),
    Appliance(
        name="tv",
        phases=(Phase(name="on", power_w=110.0, pf=0.92, kind=LoadKind.ELECTRONIC, min_s=30 * 60, max_s=3 * 3600),),
        schedule=Daily(uses_weekday=1.5, uses_weekend=2.5, hours_weekday=_SCREEN, hours_weekend=_WEEKEND_SCREEN),
        presence=0.9,
    ),
    Appliance(
        name="lights",
        phases=(Phase(name="on", power_w=60.0, pf=0.90, kind=LoadKind.ELECTRONIC, min_s=30 * 60, max_s=4 * 3600),),
        schedule=Daily(uses_weekday=2.0, uses_weekend=2.0, hours_weekday=_DARK, hours_weekend=_DARK),
    ),
    Appliance(
        name="computer",
        phases=(Phase(name="on", power_w=65.0, pf=0.60, kind=LoadKind.ELECTRONIC, min_s=45 * 60, max_s=4 * 3600),),
        schedule=Daily(uses_weekday=1.2, uses_weekend=1.0, hours_weekday=_DESK, hours_weekend=_DESK),
        presence=0.7,
    ),
    Appliance(
        name="cooktop",
        phases=(Phase(name="cook", power_w=1800.0, pf=0.97, kind=LoadKind.ELECTRONIC, min_s=8 * 60, max_s=30 * 60),),
        schedule=Daily(uses_weekday=1.5, uses_weekend=2.0, hours_weekday=_COOKING, hours_weekend=_COOKING),
        presence=0.4,
    ),
    Appliance(
        name="iron",
        phases=(Phase(name="heat", power_w=1100.0, pf=1.0, kind=LoadKind.RESISTIVE, min_s=5 * 60, max_s=15 * 60),),
        schedule=Daily(uses_weekday=0.3, uses_weekend=0.6, hours_weekday=_CHORES, hours_weekend=_CHORES),
        presence=0.6,
    ),
    Appliance(
        name="fan",
        phases=(Phase(name="on", power_w=70.0, pf=0.85, kind=LoadKind.MOTOR, min_s=40 * 60, max_s=3 * 3600),),
        schedule=Daily(uses_weekday=1.5, uses_weekend=2.0, hours_weekday=_WARM, hours_weekend=_WARM),
        presence=0.5,
    ),
)


def appliance_named(name: str) -> Appliance:
    """Look an appliance of the table up by name."""
    for appliance in APPLIANCES:
        if appliance.name == name:
            return appliance
    known = ", ".join(a.name for a in APPLIANCES)
    raise KeyError(f"no appliance named {name!r}; known: {known}")
