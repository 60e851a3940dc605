"""JSON-ready views of bills, projections, budgets and statements, for the REST API and CLI.

Money and kWh are strings (``"1490.00"``) so no paisa is lost to binary floats; dates are
ISO 8601; instants stay UTC epoch milliseconds.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from wattwise.analysis.billing.budget import BudgetStatus
from wattwise.analysis.billing.compute import Bill
from wattwise.analysis.billing.ledger import IssuedBill, Payment, Statement
from wattwise.analysis.billing.overview import CycleOverview
from wattwise.analysis.billing.projection import DayCost, Projection
from wattwise.analysis.energy import BillingCycle


def _s(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def cycle_as_dict(c: BillingCycle) -> dict[str, Any]:
    return {"start": c.start.isoformat(), "end": c.end.isoformat(), "days": c.days}


def bill_as_dict(b: Bill) -> dict[str, Any]:
    """A bill with its parts (tariff versions) and every line."""
    return {
        "tariff_id": b.tariff_id,
        "tariff_name": b.tariff_name,
        "currency": b.currency,
        "cycle": cycle_as_dict(b.cycle),
        "kwh": str(b.kwh),
        "total": str(b.total),
        "parts": [
            {
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "effective_from": p.effective_from.isoformat(),
                "kwh": str(p.kwh),
            }
            for p in b.parts
        ],
        "lines": [
            {
                "part": ln.part,
                "group": ln.group,
                "id": ln.charge_id,
                "label": ln.label,
                "quantity": _s(ln.quantity),
                "unit": ln.unit,
                "rate": _s(ln.rate),
                "amount": str(ln.amount),
            }
            for ln in b.lines
        ],
    }


def day_as_dict(d: DayCost) -> dict[str, Any]:
    return {
        "day": d.day.isoformat(),
        "kwh": str(d.kwh),
        "cost": str(d.cost),
        "kwh_to_date": str(d.kwh_to_date),
        "bill_to_date": str(d.bill_to_date),
    }


def projection_as_dict(p: Projection) -> dict[str, Any]:
    """Bill so far, today, the projected bill with its range, and the projected path."""
    return {
        "cycle": cycle_as_dict(p.cycle),
        "as_of_ms": p.as_of_ms,
        "currency": p.currency,
        "bill_to_date": bill_as_dict(p.bill_to_date),
        "today": day_as_dict(p.today),
        "projected": bill_as_dict(p.projected),
        "range": {"low": str(p.low), "high": str(p.high), "low_kwh": str(p.low_kwh), "high_kwh": str(p.high_kwh)},
        "history_days": p.history_days,
        "path": [{"day": d.isoformat(), "kwh": str(b.kwh), "total": str(b.total)} for d, b in p.path],
    }


def budget_as_dict(s: BudgetStatus) -> dict[str, Any]:
    return {
        "state": s.state,
        "limit": str(s.limit),
        "unit": s.unit,
        "used": str(s.used),
        "projected": str(s.projected),
        "projected_high": str(s.projected_high),
        "fraction_used": s.fraction_used,
        "probability_over": s.probability_over,
        "crossing": None if s.crossing is None else s.crossing.isoformat(),
    }


def overview_as_dict(o: CycleOverview) -> dict[str, Any]:
    return {
        "cycle": cycle_as_dict(o.cycle),
        "days": [day_as_dict(d) for d in o.days],
        "projection": projection_as_dict(o.projection),
        "budget": None if o.budget is None else budget_as_dict(o.budget),
    }


def payment_as_dict(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "account": p.account,
        "amount": str(p.amount),
        "currency": p.currency,
        "paid_at_ms": p.paid_at_ms,
        "method": p.method,
        "reference": p.reference,
        "source": p.source,
    }


def payment_from_dict(data: dict[str, Any]) -> Payment:
    """A payment entered by hand (REST body); errors name the field."""
    missing = [k for k in ("id", "account", "amount", "currency", "paid_at_ms", "method") if k not in data]
    if missing:
        raise ValueError(f"payment: missing {', '.join(missing)}")
    try:
        amount = Decimal(str(data["amount"]))
    except InvalidOperation:
        raise ValueError(f"payment.amount: {data['amount']!r} is not a number") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"payment.amount: {data['amount']!r} has more than two decimals")
    if amount <= 0:  # Payment says so too, but by its id, which a payment typed in was only just given
        raise ValueError(f"payment.amount: must be above zero, got {data['amount']!r}")
    if not isinstance(data["paid_at_ms"], int):
        raise ValueError("payment.paid_at_ms: must be UTC epoch milliseconds (an integer)")
    return Payment(
        id=str(data["id"]),
        account=str(data["account"]),
        amount=amount,
        currency=str(data["currency"]).upper(),
        paid_at_ms=data["paid_at_ms"],
        method=str(data["method"]),
        reference=str(data.get("reference", "")),
    )


def issued_as_dict(i: IssuedBill) -> dict[str, Any]:
    return {
        "number": i.number,
        "account": i.account,
        "revision": i.revision,
        "issued_at_ms": i.issued_at_ms,
        "reason": i.reason,
        "bill": bill_as_dict(i.bill),
    }


def statement_as_dict(s: Statement) -> dict[str, Any]:
    return {
        "account": s.account,
        "currency": s.currency,
        "billed": str(s.billed),
        "paid": str(s.paid),
        "balance": str(s.balance),
        "credit": str(s.credit),
        "bills": [
            {
                "number": b.issued.number,
                "cycle": cycle_as_dict(b.issued.cycle),
                "revision": b.issued.revision,
                "total": str(b.issued.bill.total),
                "paid": str(b.paid),
                "due": str(b.due),
                "status": b.status,
            }
            for b in s.bills
        ],
        "payments": [payment_as_dict(p) for p in s.payments],
    }
