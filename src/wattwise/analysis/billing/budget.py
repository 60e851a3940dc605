"""A budget per cycle, in money or kWh, and where the cycle stands against it.

The status is what the alert rules act on: ``over`` once the bill (or energy) so far is
above the budget, ``at_risk`` when the upper end of the projected range is above it (one
cycle in ten like the recent days would cross it), ``on_track`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from wattwise.analysis.billing.projection import DayCost, Projection, crossing_date

State = Literal["on_track", "at_risk", "over"]


@dataclass(frozen=True, slots=True)
class Budget:
    """A limit per billing cycle: money (in the tariff's currency) or kWh."""

    limit: Decimal
    unit: Literal["money", "kwh"] = "money"

    def __post_init__(self) -> None:
        if self.limit <= 0:
            raise ValueError(f"a budget must be above zero, got {self.limit}")
        if self.unit not in ("money", "kwh"):
            raise ValueError(f"a budget is in 'money' or 'kwh', got {self.unit!r}")


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    state: State
    limit: Decimal
    unit: str  # the currency code, or "kWh"
    used: Decimal  # so far this cycle
    projected: Decimal
    projected_high: Decimal
    fraction_used: float
    probability_over: float  # share of projected cycles that end above the limit
    crossing: date | None  # day the limit was or will be crossed, if at all


def budget_status(budget: Budget, projection: Projection, past: Sequence[DayCost]) -> BudgetStatus:
    """The cycle against ``budget``; ``past`` is ``daily_costs`` up to the projection's instant."""
    in_kwh = budget.unit == "kwh"
    p = projection
    if in_kwh:
        used, projected, high, samples = p.bill_to_date.kwh, p.projected.kwh, p.high_kwh, p.sample_kwh
    else:
        used, projected, high, samples = p.bill_to_date.total, p.projected.total, p.high, p.sample_totals
    state: State = "over" if used > budget.limit else "at_risk" if high > budget.limit else "on_track"
    over = sum(1 for s in samples if s > budget.limit)
    return BudgetStatus(
        state=state,
        limit=budget.limit,
        unit="kWh" if in_kwh else p.currency,
        used=used,
        projected=projected,
        projected_high=high,
        fraction_used=float(used / budget.limit),
        probability_over=over / len(samples) if samples else float(projected > budget.limit),
        crossing=crossing_date(past, p, budget.limit, in_kwh),
    )
