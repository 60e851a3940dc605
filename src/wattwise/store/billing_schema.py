"""Tables for a site's money side: tariff, cycle and budget, issued bills, payments.

They live on the one ``metadata`` of ``wattwise.store.schema`` (migration 0004).

Money is stored as decimal text (``"1490.00"``), never as a float, so a bill read back is
the bill that was issued to the paisa on SQLite and PostgreSQL alike. Issued bills and
payments are facts: rows are only ever inserted. A correction is a new revision row of
the same cycle; the unique (site, cycle start, revision) key makes two concurrent closes
of one cycle impossible. A payment's id is its primary key, so a webhook the provider
retries is recorded once.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from wattwise.store.schema import metadata

MONEY = 40  # width of a decimal-as-text column

# Each PUT of a site's tariff adds a row; the newest is in force. A tariff carries its own
# dated versions, so the newest row still bills past days by the versions of that time.
billing_tariffs = Table(
    "billing_tariffs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False, index=True),
    Column("preset", String(64)),  # the preset's id, or NULL for the user's own tariff
    Column("source_format", String(8), nullable=False),  # preset | toml | json
    Column("source_text", Text, nullable=False),  # what the user sent (TOML or JSON), or the preset id
    Column("tariff_json", Text, nullable=False),  # the validated tariff, as JSON
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(100), nullable=False),
)

# One row per site: how its cycles run, what its connection is, and its budget per cycle.
billing_settings = Table(
    "billing_settings",
    metadata,
    Column("site_id", Integer, ForeignKey("sites.id"), primary_key=True),
    Column("cycle_months", Integer, nullable=False),
    Column("cycle_anchor", Date, nullable=False),
    Column("phases", Integer, nullable=False, server_default="1"),
    Column("sanctioned_kw", String(MONEY)),
    Column("subsidy", Boolean, nullable=False, server_default="1"),
    Column("budget_limit", String(MONEY)),
    Column("budget_unit", String(8)),  # money | kwh
    Column("updated_ms", BigInteger, nullable=False),
)

bills = Table(
    "bills",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False, index=True),
    Column("account", String(100), nullable=False),
    Column("cycle_start", Date, nullable=False),
    Column("cycle_end", Date, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("issued_at_ms", BigInteger, nullable=False),
    Column("issued_by", String(100), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("currency", String(8), nullable=False),
    Column("kwh", String(MONEY), nullable=False),
    Column("total", String(MONEY), nullable=False),
    Column("bill_json", Text, nullable=False),  # every part and line, as issued
    Column("tariff_json", Text, nullable=False),  # the tariff it was computed with
    UniqueConstraint("site_id", "cycle_start", "revision", name="uq_bills_site_cycle_revision"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(200), primary_key=True),  # "manual:…", "razorpay:pay_…", "stripe:pi_…"
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False, index=True),
    Column("account", String(100), nullable=False),
    Column("amount", String(MONEY), nullable=False),
    Column("currency", String(8), nullable=False),
    Column("paid_at_ms", BigInteger, nullable=False),
    Column("method", String(100), nullable=False),
    Column("reference", String(200), nullable=False, server_default=""),
    Column("source", String(16), nullable=False),  # manual | webhook
    Column("event_id", String(200)),  # the provider's event, for webhooks
    Column("recorded_ms", BigInteger, nullable=False),
    Column("recorded_by", String(100), nullable=False),
)
