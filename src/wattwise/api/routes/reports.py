"""GET a site's report over a local period, as JSON, CSV (one row per meter) or a printable page."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response

from wattwise.accounting import report as reports
from wattwise.accounting.report_files import report_csv, report_dict, report_html
from wattwise.analysis.energy import local_date
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.billing_access import answering, site_for
from wattwise.store.clock import now_ms

router = APIRouter(tags=["reports"])

FORMATS = ("json", "csv", "html")
DATE_HELP = "a local date in the site's zone, like 2026-10-01"


@router.get("/api/v1/sites/{site_id}/report", summary="A site's report over a local period", response_model=None)
def site_report(
    site_id: int,
    access: AccessDep,
    services: ServicesDep,
    start: str | None = Query(None, description=f"{DATE_HELP}; default: the last whole calendar month"),
    end: str | None = Query(None, description=f"{DATE_HELP}, exclusive; default: a month after start"),
    format: str = Query("json", description="json, csv (one row per meter) or html (printable)"),
) -> dict[str, Any] | Response:
    """Per meter: kWh, share of the site, peak power, voltage range, readings, longest gap, findings
    and top appliances; the energy balance of each main meter against its sub-meters; alerts;
    the site's total against the period before; the bills of the cycles that overlap it.

    At most 366 days; the dates are the site's local dates, ``end`` exclusive.
    """
    if format not in FORMATS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"format: one of {', '.join(FORMATS)}, got {format!r}"
        )
    with services.engine.connect() as conn:
        site = site_for(conn, access, site_id)
    with answering():
        first, after = reports.period_of(start, end, None, local_date(now_ms(), ZoneInfo(site.timezone)))
        report = reports.site_report(services, site_id, first, after)
    if format == "csv":
        name = f"report-site{site_id}-{first}-{after}.csv"
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    if format == "html":
        return HTMLResponse(report_html(report))
    return report_dict(report)
