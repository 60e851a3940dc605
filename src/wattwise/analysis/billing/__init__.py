"""Tariffs, bills, projections, budgets, payments and balance: pure functions over energy.

The store and API call these; nothing here touches a database, the network or the clock.
Payment-provider webhooks are in ``billing.webhooks`` (it imports the providers' libraries).
"""

from wattwise.analysis.billing.budget import Budget, BudgetStatus, budget_status
from wattwise.analysis.billing.compute import (
    Bill,
    BillLine,
    BillPart,
    Connection,
    bill_for_units,
    compute_bill,
)
from wattwise.analysis.billing.ledger import (
    IssuedBill,
    Payment,
    Statement,
    close_cycle,
    current_bills,
    revise,
    statement,
)
from wattwise.analysis.billing.overview import CycleOverview, cycle_overview
from wattwise.analysis.billing.presets import load_preset, load_presets, preset_ids
from wattwise.analysis.billing.projection import DayCost, Projection, crossing_date, daily_costs, project_bill
from wattwise.analysis.billing.render import render_bill_html
from wattwise.analysis.billing.serialize import (
    bill_as_dict,
    budget_as_dict,
    issued_as_dict,
    overview_as_dict,
    payment_as_dict,
    payment_from_dict,
    projection_as_dict,
    statement_as_dict,
)
from wattwise.analysis.billing.tariff import Tariff, TariffError, load_tariff, parse_tariff, tariff_from_dict

__all__ = [
    "Bill",
    "BillLine",
    "BillPart",
    "Budget",
    "BudgetStatus",
    "Connection",
    "CycleOverview",
    "DayCost",
    "IssuedBill",
    "Payment",
    "Projection",
    "Statement",
    "Tariff",
    "TariffError",
    "bill_as_dict",
    "bill_for_units",
    "budget_as_dict",
    "budget_status",
    "close_cycle",
    "compute_bill",
    "crossing_date",
    "current_bills",
    "cycle_overview",
    "daily_costs",
    "issued_as_dict",
    "load_preset",
    "load_presets",
    "load_tariff",
    "overview_as_dict",
    "parse_tariff",
    "payment_as_dict",
    "payment_from_dict",
    "preset_ids",
    "project_bill",
    "projection_as_dict",
    "render_bill_html",
    "revise",
    "statement",
    "statement_as_dict",
    "tariff_from_dict",
]
