"""A site's money over REST: tariff and presets, cycle settings, budget, the current cycle, bills.

Money and kWh are exact decimal strings (``"1490.00"``); dates are the site's local dates.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse
from pydantic import Field
from sqlalchemy import Connection

from wattwise.accounting import bills as bill_ops
from wattwise.accounting import site as site_ops
from wattwise.analysis.billing import Budget, Tariff, load_preset, preset_ids
from wattwise.analysis.billing.compute import MAX_UNITS
from wattwise.analysis.billing.serialize import (
    bill_as_dict,
    budget_as_dict,
    cycle_as_dict,
    day_as_dict,
    overview_as_dict,
)
from wattwise.api.body import BodyIn
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.billing_access import answering, instant, site_for
from wattwise.store import billing as billing_store
from wattwise.store.billing import BillingSettings, StoredBill
from wattwise.store.clock import now_ms

router = APIRouter(tags=["billing"])


# -- tariffs ----------------------------------------------------------------------------


def tariff_summary(t: Tariff) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "currency": t.currency,
        "timezone": t.timezone,
        "source": t.source,
        "source_date": None if t.source_date is None else t.source_date.isoformat(),
        "notes": t.notes,
        "versions": [{"effective_from": v.effective_from.isoformat(), "kind": v.kind} for v in t.versions],
    }


def tariff_json(t: Tariff) -> dict[str, Any]:
    return json.loads(t.model_dump_json())  # type: ignore[no-any-return]


class TariffIn(BodyIn):
    """Exactly one of: a preset's id, the user's own tariff as TOML text, or as a JSON object."""

    preset: str | None = Field(default=None, examples=["in-tn-domestic"])
    toml: str | None = None
    tariff: dict[str, Any] | None = None
    effective_from: date | None = Field(
        default=None, description="only from this local day: the tariff in force until then keeps the days before"
    )


@router.get("/api/v1/tariffs/presets", summary="The tariffs shipped with Wattwise")
def presets(access: AccessDep) -> list[dict[str, Any]]:
    return [tariff_summary(load_preset(pid)) for pid in preset_ids()]


@router.get("/api/v1/tariffs/presets/{preset_id}", summary="One preset in full")
def preset(preset_id: str, access: AccessDep) -> dict[str, Any]:
    if preset_id not in preset_ids():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no preset {preset_id!r}; see /api/v1/tariffs/presets")
    return tariff_json(load_preset(preset_id))


@router.post("/api/v1/tariffs/validate", summary="Check a tariff without putting it on a site")
def validate_tariff(body: TariffIn, access: AccessDep) -> dict[str, Any]:
    """The tariff as understood, or 422 with every problem and where it is."""
    with answering():
        tariff, _, _ = site_ops.read_tariff(preset=body.preset, toml=body.toml, data=body.tariff)
    return tariff_json(tariff)


def _site_tariff(conn: Connection, site_id: int) -> dict[str, Any]:
    sb = site_ops.load_site_billing(conn, site_id)
    return {
        "site_id": site_id,
        "preset": sb.stored.preset,
        "format": sb.stored.source_format,
        "source": sb.stored.source_text,
        "set_ms": sb.stored.created_ms,
        "set_by": sb.stored.created_by,
        "tariff": tariff_json(sb.tariff),
    }


@router.get("/api/v1/sites/{site_id}/tariff", summary="The site's tariff")
def get_tariff(site_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.connect() as conn, answering():
        site_for(conn, access, site_id)
        return _site_tariff(conn, site_id)


@router.put("/api/v1/sites/{site_id}/tariff", summary="Put a tariff on the site")
def put_tariff(site_id: int, body: TariffIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """A preset, or your own tariff (TOML text or JSON), validated with every problem named.

    A tariff's versions carry the dates they are in force from: to record a change of rates,
    add a version rather than editing one, and bills of the days before keep the old rates.
    Bills already issued never change.
    """
    with services.engine.begin() as conn, answering():
        site_for(conn, access, site_id, write=True)
        site_ops.set_tariff(
            conn,
            site_id,
            access.user.username,
            preset=body.preset,
            toml=body.toml,
            data=body.tariff,
            effective_from=body.effective_from,
        )
        return _site_tariff(conn, site_id)


# -- cycle settings and budget ----------------------------------------------------------


class SettingsIn(BodyIn):
    cycle_months: int = Field(ge=1, le=12, description="1: monthly, 2: bi-monthly …")
    cycle_anchor: date = Field(description="a day a cycle starts on; the others follow every cycle_months")
    phases: Literal[1, 3] = 1
    sanctioned_kw: Decimal | None = Field(default=None, gt=0)
    subsidy: bool = Field(default=True, description="opted in to an opt-in subsidy (Delhi)")


class BudgetIn(BodyIn):
    limit: Decimal = Field(gt=0, description="per cycle, in the site's currency or in kWh")
    unit: Literal["money", "kwh"] = "money"


def settings_out(s: BillingSettings) -> dict[str, Any]:
    return {
        "site_id": s.site_id,
        "cycle_months": s.cycle_months,
        "cycle_anchor": s.cycle_anchor.isoformat(),
        "phases": s.phases,
        "sanctioned_kw": None if s.sanctioned_kw is None else str(s.sanctioned_kw),
        "subsidy": s.subsidy,
        "budget": None if s.budget_limit is None else {"limit": str(s.budget_limit), "unit": s.budget_unit},
    }


@router.get("/api/v1/sites/{site_id}/billing/settings", summary="How the site's cycles run")
def get_settings(site_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.connect() as conn:
        site_for(conn, access, site_id)
        stored = billing_store.current_tariff(conn, site_id)
        tariff = None if stored is None else site_ops.tariff_of(stored)
        return settings_out(site_ops.settings_of(conn, site_id, tariff))


@router.put("/api/v1/sites/{site_id}/billing/settings", summary="Set the cycle and the connection")
def put_settings(site_id: int, body: SettingsIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.begin() as conn, answering():
        site_for(conn, access, site_id, write=True)
        return settings_out(
            site_ops.set_cycle_and_supply(
                conn,
                site_id,
                cycle_months=body.cycle_months,
                cycle_anchor=body.cycle_anchor,
                phases=body.phases,
                sanctioned_kw=body.sanctioned_kw,
                subsidy=body.subsidy,
            )
        )


@router.put("/api/v1/sites/{site_id}/budget", summary="Set a budget per cycle")
def put_budget(site_id: int, body: BudgetIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.begin() as conn, answering():
        site_for(conn, access, site_id, write=True)
        return settings_out(site_ops.set_budget(conn, site_id, Budget(body.limit, body.unit)))


@router.delete("/api/v1/sites/{site_id}/budget", summary="Remove the budget")
def delete_budget(site_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.begin() as conn, answering():
        site_for(conn, access, site_id, write=True)
        return settings_out(site_ops.set_budget(conn, site_id, None))


@router.get("/api/v1/sites/{site_id}/budget", summary="The budget and where the cycle stands against it")
def get_budget(
    site_id: int,
    access: AccessDep,
    services: ServicesDep,
    as_of: str | None = Query(None, description="RFC 3339 or Unix s/ms; default: now"),
) -> dict[str, Any]:
    """``state``: ``over`` (already above), ``at_risk`` (the high end of the projection is above) or
    ``on_track``; ``crossing``: the day it was or will be crossed if nothing changes."""
    with services.engine.connect() as conn:
        site = site_for(conn, access, site_id)
        settings = billing_store.get_settings(conn, site_id)
    at = instant("as_of", as_of, now_ms(), ZoneInfo(site.timezone))  # checked with or without a budget
    if settings is None or settings.budget_limit is None:
        return {"site_id": site_id, "budget": None, "status": None}
    with answering():
        _, view = site_ops.overview(services, site_id, at)
    assert view.budget is not None
    return {
        "site_id": site_id,
        "budget": {"limit": str(settings.budget_limit), "unit": settings.budget_unit},
        "cycle": {"start": view.cycle.start.isoformat(), "end": view.cycle.end.isoformat()},
        "status": budget_as_dict(view.budget),
    }


# -- the current cycle ------------------------------------------------------------------


@router.get("/api/v1/sites/{site_id}/billing/current", summary="Today's cost, the bill to date, the projected bill")
def current_cycle(
    site_id: int,
    access: AccessDep,
    services: ServicesDep,
    as_of: str | None = Query(None, description="RFC 3339 or Unix s/ms; default: now"),
) -> dict[str, Any]:
    """The cycle containing ``as_of``: each day's units and cost, ``projection.today``,
    ``projection.bill_to_date`` (fixed charges for the whole cycle included), the projected bill
    at the cycle's end with a 10–90 % ``range`` learnt from the site's own recent days
    (weekdays and weekends apart), and the budget's status with its crossing day."""
    with services.engine.connect() as conn:
        site = site_for(conn, access, site_id)
    with answering():
        at = instant("as_of", as_of, now_ms(), ZoneInfo(site.timezone))
        sb, view = site_ops.overview(services, site_id, at)
    return {
        "site_id": site_id,
        "timezone": site.timezone,
        "account": sb.account,
        "tariff": {"id": sb.tariff.id, "name": sb.tariff.name},
        **overview_as_dict(view),
    }


@router.get("/api/v1/sites/{site_id}/billing/today", summary="Today's units and cost, and the bill so far")
def today(
    site_id: int,
    access: AccessDep,
    services: ServicesDep,
    as_of: str | None = Query(None, description="RFC 3339 or Unix s/ms; default: now"),
) -> dict[str, Any]:
    """Cheap enough for a tile that refreshes often: no projection. ``cost`` is what today's units
    added to the cycle's bill (on a slab tariff, later days cost more per unit)."""
    with services.engine.connect() as conn:
        site = site_for(conn, access, site_id)
    with answering():
        at = instant("as_of", as_of, now_ms(), ZoneInfo(site.timezone))
        sb, day = site_ops.today(services, site_id, at)
    cycle = sb.cycle_at(at)
    return {"site_id": site_id, "currency": sb.tariff.currency, "cycle": cycle_as_dict(cycle), **day_as_dict(day)}


# -- bills ------------------------------------------------------------------------------


class CloseIn(BodyIn):
    cycle_start: date | None = Field(default=None, description="default: the last cycle that has ended")
    reason: str = Field(default="", max_length=2000, description="required to correct an issued bill")
    kwh: Decimal | None = Field(
        default=None, ge=0, le=MAX_UNITS, description="bill these units (the utility's reading)"
    )


def bill_out(row: StoredBill, current: bool) -> dict[str, Any]:
    issued = bill_ops.issued_of(row)
    return {
        "id": row.id,
        "site_id": row.site_id,
        "number": issued.number,
        "account": row.account,
        "revision": row.revision,
        "current": current,
        "issued_at_ms": row.issued_at_ms,
        "issued_by": row.issued_by,
        "reason": row.reason,
        "html": f"/api/v1/sites/{row.site_id}/bills/{row.id}/html",
        "bill": bill_as_dict(issued.bill),
    }


@router.post("/api/v1/sites/{site_id}/bills", status_code=201, summary="Close a cycle into a bill")
def close_cycle(site_id: int, body: CloseIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Issue revision 1 of a cycle that has ended; POST again with a ``reason`` to issue a
    correction (revision 2, 3 …) computed from what is known now. Issued bills never change.
    A measured bill is refused (409) for a cycle before the site's first — the one its first meter
    was added or its first reading falls in — since nothing was measured then; ``kwh`` (the
    utility's units) may bill any cycle that has ended."""
    with services.engine.connect() as conn:
        site_for(conn, access, site_id, write=True)
    with answering():
        row = bill_ops.close(
            services,
            site_id,
            by=access.user.username,
            now_ms=now_ms(),
            cycle_start=body.cycle_start,
            reason=body.reason,
            kwh=body.kwh,
        )
    return bill_out(row, current=True)


@router.get("/api/v1/sites/{site_id}/bills", summary="Every issued bill and revision")
def list_bills(site_id: int, access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        site_for(conn, access, site_id)
        rows = billing_store.list_bills(conn, site_id)
    latest = {r.cycle_start: r.id for r in rows}  # rows come in revision order
    return [bill_out(r, latest[r.cycle_start] == r.id) for r in rows]


@router.get("/api/v1/sites/{site_id}/bills/{bill_id}", summary="One issued bill, line by line")
def get_bill(site_id: int, bill_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """With ``settlement`` (paid, due, status) when it is the cycle's current revision."""
    with services.engine.connect() as conn, answering():
        site_for(conn, access, site_id)
        row = billing_store.get_bill(conn, site_id, bill_id)
        current = bill_ops.is_current(conn, row)
        out = bill_out(row, current)
        if current:
            owed = bill_ops.statement_of(conn, site_id)
            mine = next(
                b for b in owed.bills if b.issued.revision == row.revision and b.issued.cycle.start == row.cycle_start
            )
            out["settlement"] = {"paid": str(mine.paid), "due": str(mine.due), "status": mine.status}
        return out


@router.get(
    "/api/v1/sites/{site_id}/bills/{bill_id}/html",
    response_class=HTMLResponse,
    summary="The printable bill",
)
def get_bill_html(site_id: int, bill_id: int, access: AccessDep, services: ServicesDep) -> HTMLResponse:
    """One self-contained page (no scripts, no external assets): print it, or save it as PDF."""
    with services.engine.connect() as conn, answering():
        site_for(conn, access, site_id)
        return HTMLResponse(bill_ops.bill_html(conn, site_id, bill_id))
