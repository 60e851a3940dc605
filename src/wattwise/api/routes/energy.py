"""GET energy per local hour, day, week, month or billing cycle, for a meter or a whole site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from wattwise.accounting import energy as accounting
from wattwise.accounting.site import cycle_rule
from wattwise.analysis.energy import PeriodEnergy
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.billing_access import answering, instant, site_for
from wattwise.api.routes.devices import visible_device
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.sites import Site

router = APIRouter(tags=["energy"])

PERIOD_HELP = "hour, day, week (ISO, from Monday), month, or cycle (the site's billing cycles)"
START_HELP = "a local date (2025-01-31: its midnight in the site's zone), RFC 3339 or Unix s/ms; default: a while back"
END_HELP = "as start; default: now"


@dataclass(frozen=True, slots=True)
class Span:
    period: accounting.Granularity
    start: str | None
    end: str | None


def _span(
    period: accounting.Granularity = Query("day", description=PERIOD_HELP),
    start: str | None = Query(None, description=START_HELP),
    end: str | None = Query(None, description=END_HELP),
) -> Span:
    return Span(period, start, end)


SpanDep = Annotated[Span, Depends(_span)]


def _table(
    services: Services,
    site: Site,
    meters: list[int],
    span: Span,
) -> dict[str, Any]:
    period, start, end = span.period, span.start, span.end
    zone = ZoneInfo(site.timezone)
    with answering():
        with services.engine.connect() as conn:
            anchor, months = cycle_rule(conn, site.id)
        end_ms = instant("end", end, now_ms(), zone)
        start_ms = instant("start", start, accounting.default_start(period, end_ms, zone, months), zone)
        periods = accounting.energy_table(services, meters, zone, period, start_ms, end_ms, (anchor, months))
    return {
        "site_id": site.id,
        "timezone": site.timezone,
        "period": period,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "unit": "kWh",
        "periods": [_period(p) for p in periods],
        "total_kwh": round(sum(p.wh for p in periods) / 1000, 6),
    }


def _period(p: PeriodEnergy) -> dict[str, Any]:
    return {
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "start_ms": p.start_ms,
        "end_ms": p.end_ms,
        "hours": p.hours,
        "kwh": round(p.kwh, 6),
    }


@router.get("/api/v1/devices/{device_id}/energy", summary="A meter's energy per local period")
def meter_energy(
    device_id: int,
    access: AccessDep,
    services: ServicesDep,
    span: SpanDep,
) -> dict[str, Any]:
    """kWh per period in the site's time zone; a day across a DST change has 23 or 25 hours.

    Every period overlapping [start, end) is listed whole; they add up to the span's total.
    """
    with services.engine.connect() as conn:
        device = visible_device(conn, access, device_id)
        site = site_for(conn, access, device.site_id)
    return {"device_id": device_id, **_table(services, site, [device_id], span)}


@router.get("/api/v1/sites/{site_id}/energy", summary="A site's energy per local period")
def site_energy(
    site_id: int,
    access: AccessDep,
    services: ServicesDep,
    span: SpanDep,
) -> dict[str, Any]:
    """The site's meters added up (sub-meters are inside a main meter, so they are not added)."""
    with services.engine.connect() as conn:
        site = site_for(conn, access, site_id)
        meters = accounting.site_meters(conn, site_id)
    return {"meters": meters, **_table(services, site, meters, span)}
