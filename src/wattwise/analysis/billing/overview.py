"""Everything a cycle's page, the budget gauge and the budget alert rule need, in one call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from wattwise.analysis.billing.budget import Budget, BudgetStatus, budget_status
from wattwise.analysis.billing.compute import Connection, site_zone
from wattwise.analysis.billing.projection import DayCost, Projection, daily_costs, project_bill
from wattwise.analysis.billing.tariff import Tariff
from wattwise.analysis.energy import BillingCycle, EnergySeries, cycle_containing, local_date


@dataclass(frozen=True, slots=True)
class CycleOverview:
    """The current cycle at ``as_of_ms``: each day's units and cost, the projection, the budget."""

    cycle: BillingCycle
    days: tuple[DayCost, ...]
    projection: Projection
    budget: BudgetStatus | None


def cycle_overview(
    tariff: Tariff,
    series: EnergySeries,
    as_of_ms: int,
    cycle_anchor: date,
    cycle_months: int,
    tz: ZoneInfo | str | None = None,
    connection: Connection = Connection(),
    budget: Budget | None = None,
) -> CycleOverview:
    """The cycle (``cycle_months`` long, anchored on ``cycle_anchor``) that contains ``as_of_ms``.

    ``series`` should start ``DEFAULT_HISTORY_DAYS`` before the cycle, so the projection has
    recent days to learn from.
    """
    zone = site_zone(tariff, tz)
    cycle = cycle_containing(cycle_anchor, cycle_months, local_date(as_of_ms, zone))
    projection = project_bill(tariff, cycle, series, as_of_ms, zone, connection)
    days = tuple(daily_costs(tariff, cycle, series, projection.as_of_ms, zone, connection))
    status = budget_status(budget, projection, days) if budget is not None else None
    return CycleOverview(cycle, days, projection, status)
