"""Closing a site's cycle into an issued bill, correcting it by revision, and the statement.

A bill is issued once a cycle has ended (local midnight of its last day has passed), from
the energy the site's meters measured — or, as a correction, from the units the utility's
own meter reading says. It is stored with every line and the tariff it was computed with,
so nothing done later (a new tariff, late readings) changes it; a correction is the next
revision, with a reason, and only the latest revision counts towards the balance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection

from wattwise.accounting.energy import load_series, site_meters
from wattwise.accounting.site import SiteBilling, account_of, get_site, load_site_billing
from wattwise.analysis.billing import (
    Bill,
    BillLine,
    BillPart,
    IssuedBill,
    Payment,
    Statement,
    bill_for_units,
    close_cycle,
    compute_bill,
    render_bill_html,
    revise,
    statement,
    tariff_from_dict,
)
from wattwise.analysis.billing.serialize import bill_as_dict
from wattwise.analysis.energy import BillingCycle, local_date
from wattwise.runtime import Services
from wattwise.store import billing as billing_store
from wattwise.store import devices as device_store
from wattwise.store.billing import StoredBill, StoredPayment
from wattwise.store.errors import Conflict
from wattwise.store.history import first_reading_ms


class CycleNotOver(Conflict):
    """The cycle has not ended yet, so its bill cannot be issued."""


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def stored_form(bill: Bill) -> dict[str, Any]:
    """The bill as JSON, with what rebuilding it needs beyond the API view (each part's factor)."""
    data = bill_as_dict(bill)
    for part, out in zip(bill.parts, data["parts"], strict=True):
        out["factor"] = str(part.factor)
    return data


def bill_from_stored(data: dict[str, Any]) -> Bill:
    """The ``Bill`` a stored bill was, to the paisa (inverse of ``stored_form``)."""
    cycle = BillingCycle(date.fromisoformat(data["cycle"]["start"]), date.fromisoformat(data["cycle"]["end"]))
    parts = tuple(
        BillPart(
            date.fromisoformat(p["start"]),
            date.fromisoformat(p["end"]),
            date.fromisoformat(p["effective_from"]),
            Decimal(p["kwh"]),
            Decimal(p["factor"]),
        )
        for p in data["parts"]
    )
    lines = tuple(
        BillLine(
            ln["group"],
            ln["id"],
            ln["label"],
            _dec(ln["quantity"]),
            ln["unit"],
            _dec(ln["rate"]),
            Decimal(ln["amount"]),
            ln["part"],
        )
        for ln in data["lines"]
    )
    return Bill(
        data["tariff_id"],
        data["tariff_name"],
        data["currency"],
        cycle,
        parts,
        lines,
        Decimal(data["kwh"]),
        Decimal(data["total"]),
    )


def issued_of(row: StoredBill) -> IssuedBill:
    return IssuedBill(row.account, bill_from_stored(row.bill), row.revision, row.issued_at_ms, row.reason)


def payment_of(row: StoredPayment) -> Payment:
    source: Literal["manual", "webhook"] = "webhook" if row.source == "webhook" else "manual"
    return Payment(row.id, row.account, row.amount, row.currency, row.paid_at_ms, row.method, row.reference, source)


class NothingMeasured(Conflict):
    """The cycle asked for is before the site had a meter or a reading: it has no energy to bill."""


@dataclass(frozen=True, slots=True)
class FirstCycle:
    """The site's first billing cycle and what starts it."""

    cycle: BillingCycle
    why: str  # "its first meter was added on …" or "its first reading is from …"


def first_cycle(conn: Connection, sb: SiteBilling) -> FirstCycle | None:
    """The cycle containing the earlier of the site's first meter's creation and its first reading
    (imported history may predate the meter's record); None while the site has no meter.

    A cycle before it has nothing measured: closing it would issue a bill of fixed charges
    for a period before the installation.
    """
    added = device_store.first_added_ms(conn, sb.site.id)
    if added is None:
        return None
    meters = device_store.list_devices(conn, frozenset({sb.site.id}))
    readings = [t for m in meters if (t := first_reading_ms(conn, m.id)) is not None]
    first_read = min(readings, default=None)
    if first_read is not None and first_read < added:
        return FirstCycle(sb.cycle_at(first_read), f"its first reading is from {local_date(first_read, sb.zone)}")
    return FirstCycle(sb.cycle_at(added), f"its first meter was added on {local_date(added, sb.zone)}")


def cycle_to_close(conn: Connection, sb: SiteBilling, now_ms: int, start: date | None, measured: bool) -> BillingCycle:
    """The cycle a close bills: the one starting on ``start``, or else the last that has ended by
    ``now_ms``. A bill of measured energy (not the utility's units) is refused for a cycle before
    the site's first, since nothing could have been measured in it."""
    first = first_cycle(conn, sb)
    cycle = sb.cycle_on(sb.cycle_at(now_ms).start - timedelta(days=1)) if start is None else cycle_starting(sb, start)
    if not measured or (first is not None and cycle.start >= first.cycle.start):
        return cycle
    since = "the site has no meter"
    if first is not None:
        since = f"the site's first cycle runs {first.cycle} ({first.why})"
    if start is None:
        then = "" if first is None else f"; it can be closed from {first.cycle.end} (local midnight)"
        raise NothingMeasured(f"no cycle to close yet: {since}{then}")
    raise NothingMeasured(
        f"the cycle {cycle} has no meter and no reading to bill: {since}; "
        "to bill the utility's reading for it, send kwh"
    )


def cycle_starting(sb: SiteBilling, start: date) -> BillingCycle:
    cycle = sb.cycle_on(start)
    if cycle.start != start:
        raise ValueError(
            f"cycle_start: {start} does not start a cycle; the cycle containing it runs {cycle} "
            f"({sb.settings.cycle_months}-month cycles anchored on {sb.settings.cycle_anchor})"
        )
    return cycle


def close(
    services: Services,
    site_id: int,
    *,
    by: str,
    now_ms: int,
    cycle_start: date | None = None,
    reason: str = "",
    kwh: Decimal | None = None,
) -> StoredBill:
    """Issue the cycle's bill: revision 1, or — with a reason — the next revision correcting it.

    Without ``cycle_start``, the last cycle that has ended. With ``kwh``, the bill is for
    those units (the utility's meter reading) instead of the measured energy; without it, a
    cycle before the site's first (``first_cycle``) is refused.
    """
    with services.engine.connect() as conn:
        sb = load_site_billing(conn, site_id)
        meters = site_meters(conn, site_id)
        cycle = cycle_to_close(conn, sb, now_ms, cycle_start, measured=kwh is None)
    start_ms, end_ms = sb.cycle_ms(cycle)
    if end_ms > now_ms:
        raise CycleNotOver(f"the cycle {cycle} has not ended yet; it can be closed from {cycle.end} (local midnight)")
    if kwh is not None:
        if kwh < 0:
            raise ValueError(f"kwh: units cannot be negative, got {kwh}")
        bill = bill_for_units(sb.tariff, cycle, kwh, sb.supply)
    else:
        bill = compute_bill(sb.tariff, cycle, load_series(services, meters, start_ms, end_ms), sb.zone, sb.supply)
    with services.engine.begin() as conn:
        revisions = billing_store.cycle_revisions(conn, site_id, cycle.start)
        if not revisions:
            issued = close_cycle(sb.account, bill, now_ms)
        elif not reason.strip():
            last = revisions[-1]
            raise Conflict(
                f"the cycle {cycle} is already billed (revision {last.revision}, bill id {last.id}); "
                "to correct it, send a reason and a new revision is issued"
            )
        else:
            issued = revise(issued_of(revisions[-1]), bill, now_ms, reason.strip())
        return billing_store.insert_bill(
            conn,
            site_id=site_id,
            account=issued.account,
            cycle_start=cycle.start,
            cycle_end=cycle.end,
            revision=issued.revision,
            issued_at_ms=issued.issued_at_ms,
            issued_by=by,
            reason=issued.reason,
            currency=bill.currency,
            kwh=bill.kwh,
            total=bill.total,
            bill=stored_form(bill),
            tariff_json=sb.stored.tariff_json if sb.stored.preset is None else sb.tariff.model_dump_json(),
        )


def statement_of(conn: Connection, site_id: int) -> Statement:
    """What the site was billed (latest revisions), what it paid, and its balance."""
    site = get_site(conn, site_id)
    issued = [issued_of(b) for b in billing_store.list_bills(conn, site_id)]
    paid = [payment_of(p) for p in billing_store.list_payments(conn, site_id)]
    return statement(account_of(site_id), issued, paid, site.currency)


def is_current(conn: Connection, row: StoredBill) -> bool:
    """Whether ``row`` is the latest revision of its cycle."""
    return billing_store.cycle_revisions(conn, row.site_id, row.cycle_start)[-1].id == row.id


def bill_html(conn: Connection, site_id: int, bill_id: int) -> str:
    """The printable page; the latest revision shows payments and balance, an older one does not."""
    row = billing_store.get_bill(conn, site_id, bill_id)
    site = get_site(conn, site_id)
    tariff = tariff_from_dict(json.loads(row.tariff_json), f"bill {bill_id} tariff")
    owed = statement_of(conn, site_id) if is_current(conn, row) else None
    return render_bill_html(issued_of(row), tariff, owed, site.timezone)
