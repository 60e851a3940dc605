"""Sites: a home, a hostel, a building — a time zone and a currency for a group of meters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Row, insert, select
from sqlalchemy.exc import IntegrityError

from wattwise.domain.timestamps import time_zone
from wattwise.store.clock import now_ms
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.schema import sites


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    name: str
    timezone: str
    currency: str


def _site(row: Row[tuple[int, str, str, str]]) -> Site:
    return Site(id=row.id, name=row.name, timezone=row.timezone, currency=row.currency)


def create_site(conn: Connection, name: str, *, timezone: str = "UTC", currency: str = "INR") -> Site:
    if not name.strip():
        raise ValueError("site name: must not be empty")
    try:
        time_zone(timezone)
    except ValueError as exc:
        raise ValueError(f"timezone: {exc}") from exc
    if not 3 <= len(currency.strip()) <= 8:
        raise ValueError(f"currency: an ISO code such as INR (3 to 8 characters), got {currency!r}")
    try:
        new_id = conn.execute(
            insert(sites).values(name=name, timezone=timezone, currency=currency, created_ms=now_ms())
        ).inserted_primary_key
    except IntegrityError as exc:
        raise Conflict(f"a site named {name!r} already exists") from exc
    assert new_id is not None
    return Site(id=int(new_id[0]), name=name, timezone=timezone, currency=currency)


def get_site_by_name(conn: Connection, name: str) -> Site:
    row = conn.execute(
        select(sites.c.id, sites.c.name, sites.c.timezone, sites.c.currency).where(sites.c.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no site named {name!r}")
    return _site(row)


def get_or_create_site(conn: Connection, name: str) -> Site:
    try:
        return get_site_by_name(conn, name)
    except NotFound:
        return create_site(conn, name)


def list_sites(conn: Connection, site_ids: frozenset[int] | None = None) -> list[Site]:
    """All sites, or only those in ``site_ids`` (what a user may see)."""
    query = select(sites.c.id, sites.c.name, sites.c.timezone, sites.c.currency).order_by(sites.c.name)
    if site_ids is not None:
        query = query.where(sites.c.id.in_(site_ids))
    return [_site(row) for row in conn.execute(query)]
