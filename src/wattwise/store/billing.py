"""A site's tariff, billing settings, issued bills and payments: the SQL, nothing more.

Rows come back as plain values (decimal money, dates, JSON text); turning them into
tariffs and bills is ``wattwise.accounting``'s job. Bills and payments are only ever
inserted: an issued revision never changes, and a payment id seen again is not a second
payment (``record_payment`` says which it was).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from wattwise.store.billing_schema import billing_settings, billing_tariffs, bills, payments
from wattwise.store.clock import now_ms
from wattwise.store.errors import Conflict, NotFound

# -- tariff -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredTariff:
    id: int
    site_id: int
    preset: str | None
    source_format: str  # preset | toml | json
    source_text: str
    tariff_json: str
    created_ms: int
    created_by: str


def add_tariff(
    conn: Connection,
    site_id: int,
    *,
    preset: str | None,
    source_format: str,
    source_text: str,
    tariff_json: str,
    by: str,
) -> StoredTariff:
    """Put a tariff in force for the site; earlier ones stay on record."""
    values: dict[str, Any] = {
        "site_id": site_id,
        "preset": preset,
        "source_format": source_format,
        "source_text": source_text,
        "tariff_json": tariff_json,
        "created_ms": now_ms(),
        "created_by": by,
    }
    key = conn.execute(insert(billing_tariffs).values(**values)).inserted_primary_key
    assert key is not None
    return StoredTariff(id=int(key[0]), **values)


def current_tariff(conn: Connection, site_id: int) -> StoredTariff | None:
    """The newest tariff put on the site, or None if it has none yet."""
    row = conn.execute(
        select(billing_tariffs)
        .where(billing_tariffs.c.site_id == site_id)
        .order_by(billing_tariffs.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else StoredTariff(**row._mapping)


# -- settings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """How a site's cycles run, its connection, and its budget per cycle (None: no budget)."""

    site_id: int
    cycle_months: int
    cycle_anchor: date
    phases: int = 1
    sanctioned_kw: Decimal | None = None
    subsidy: bool = True
    budget_limit: Decimal | None = None
    budget_unit: str | None = None


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def get_settings(conn: Connection, site_id: int) -> BillingSettings | None:
    row = conn.execute(select(billing_settings).where(billing_settings.c.site_id == site_id)).first()
    if row is None:
        return None
    return BillingSettings(
        site_id=row.site_id,
        cycle_months=row.cycle_months,
        cycle_anchor=row.cycle_anchor,
        phases=row.phases,
        sanctioned_kw=_dec(row.sanctioned_kw),
        subsidy=bool(row.subsidy),
        budget_limit=_dec(row.budget_limit),
        budget_unit=row.budget_unit,
    )


def put_settings(conn: Connection, s: BillingSettings) -> BillingSettings:
    """Replace the site's settings (one row per site)."""
    conn.execute(delete(billing_settings).where(billing_settings.c.site_id == s.site_id))
    conn.execute(
        insert(billing_settings).values(
            site_id=s.site_id,
            cycle_months=s.cycle_months,
            cycle_anchor=s.cycle_anchor,
            phases=s.phases,
            sanctioned_kw=None if s.sanctioned_kw is None else str(s.sanctioned_kw),
            subsidy=s.subsidy,
            budget_limit=None if s.budget_limit is None else str(s.budget_limit),
            budget_unit=s.budget_unit,
            updated_ms=now_ms(),
        )
    )
    return s


# -- bills ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredBill:
    id: int
    site_id: int
    account: str
    cycle_start: date
    cycle_end: date
    revision: int
    issued_at_ms: int
    issued_by: str
    reason: str
    currency: str
    kwh: Decimal
    total: Decimal
    bill: dict[str, Any]  # as issued: parts and lines
    tariff_json: str


def _bill(row: Row[Any]) -> StoredBill:
    m = row._mapping
    return StoredBill(
        **{k: m[k] for k in ("id", "site_id", "account", "cycle_start", "cycle_end", "revision")},
        **{k: m[k] for k in ("issued_at_ms", "issued_by", "reason", "currency", "tariff_json")},
        kwh=Decimal(m["kwh"]),
        total=Decimal(m["total"]),
        bill=json.loads(m["bill_json"]),
    )


def insert_bill(
    conn: Connection,
    *,
    site_id: int,
    account: str,
    cycle_start: date,
    cycle_end: date,
    revision: int,
    issued_at_ms: int,
    issued_by: str,
    reason: str,
    currency: str,
    kwh: Decimal,
    total: Decimal,
    bill: dict[str, Any],
    tariff_json: str,
) -> StoredBill:
    """Record an issued revision; Conflict if that revision of the cycle exists already."""
    try:
        key = conn.execute(
            insert(bills).values(
                site_id=site_id,
                account=account,
                cycle_start=cycle_start,
                cycle_end=cycle_end,
                revision=revision,
                issued_at_ms=issued_at_ms,
                issued_by=issued_by,
                reason=reason,
                currency=currency,
                kwh=str(kwh),
                total=str(total),
                bill_json=json.dumps(bill),
                tariff_json=tariff_json,
            )
        ).inserted_primary_key
    except IntegrityError as exc:
        raise Conflict(f"revision {revision} of the cycle starting {cycle_start} is already issued") from exc
    assert key is not None
    return get_bill(conn, site_id, int(key[0]))


def list_bills(conn: Connection, site_id: int) -> list[StoredBill]:
    """Every revision of every cycle, oldest cycle first, revisions in order."""
    rows = conn.execute(select(bills).where(bills.c.site_id == site_id).order_by(bills.c.cycle_start, bills.c.revision))
    return [_bill(r) for r in rows]


def get_bill(conn: Connection, site_id: int, bill_id: int) -> StoredBill:
    row = conn.execute(select(bills).where(bills.c.site_id == site_id, bills.c.id == bill_id)).first()
    if row is None:
        raise NotFound(f"no bill with id {bill_id} for this site")
    return _bill(row)


def cycle_revisions(conn: Connection, site_id: int, cycle_start: date) -> list[StoredBill]:
    rows = conn.execute(
        select(bills).where(bills.c.site_id == site_id, bills.c.cycle_start == cycle_start).order_by(bills.c.revision)
    )
    return [_bill(r) for r in rows]


# -- payments ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPayment:
    id: str
    site_id: int
    account: str
    amount: Decimal
    currency: str
    paid_at_ms: int
    method: str
    reference: str
    source: str  # manual | webhook
    event_id: str | None
    recorded_ms: int
    recorded_by: str


def _payment(row: Row[Any]) -> StoredPayment:
    m = dict(row._mapping)
    m["amount"] = Decimal(m["amount"])
    return StoredPayment(**m)


def record_payment(conn: Connection, p: StoredPayment) -> tuple[StoredPayment, bool]:
    """Record ``p`` once; returns the stored payment and whether this call recorded it.

    The same id again (a retried webhook, a double-clicked form) is the same payment, unless
    it names another amount, currency or account: that is a Conflict, not a silent overwrite.
    """
    values = {**asdict(p), "amount": str(p.amount)}
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    inserted = conn.execute(
        dialect_insert(payments).values(**values).on_conflict_do_nothing().returning(payments.c.id)
    ).first()
    created = inserted is not None
    row = conn.execute(select(payments).where(payments.c.id == p.id)).one()
    stored = _payment(row)
    if not created and (stored.amount, stored.currency, stored.site_id) != (p.amount, p.currency, p.site_id):
        raise Conflict(
            f"payment {p.id} is already recorded as {stored.amount} {stored.currency} for site {stored.site_id}"
        )
    return stored, created


def list_payments(conn: Connection, site_id: int) -> list[StoredPayment]:
    rows = conn.execute(
        select(payments).where(payments.c.site_id == site_id).order_by(payments.c.paid_at_ms, payments.c.id)
    )
    return [_payment(r) for r in rows]
