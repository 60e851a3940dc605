"""GET /api/v1/devices/{id}/series — history at any zoom, from whichever tier answers exactly."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, status

from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.devices import visible_device
from wattwise.ingest.parse import named_time
from wattwise.store.clock import now_ms
from wattwise.store.history import fresh_series
from wattwise.store.series import MAX_POINTS

router = APIRouter(tags=["history"])


def parse_time(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return named_time(name, value, default)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


@router.get("/api/v1/devices/{device_id}/series", summary="Min/mean/max of a metric over time")
def series(
    device_id: int,
    access: AccessDep,
    services: ServicesDep,
    metric: str = Query("power", description="voltage, current, power, energy, frequency or pf"),
    start: str | None = Query(None, description="RFC 3339 or Unix s/ms; default: end − 24 h"),
    end: str | None = Query(None, description="RFC 3339 or Unix s/ms; default: now"),
    points: int = Query(1000, ge=1, le=MAX_POINTS, description="Most buckets to return"),
    tier: str | None = Query(None, description="Force raw, 1m, 1h or 1d (for checking)"),
) -> dict[str, Any]:
    """At most ``points`` buckets, each aligned to a multiple of ``bucket_ms`` since the epoch.

    Only buckets with data are listed. ``tier`` tells which store answered: raw readings or
    the 1-minute, 1-hour or 1-day rollups; the numbers are the same whichever it is.
    """
    end_ms = parse_time("end", end, now_ms())
    start_ms = parse_time("start", start, end_ms - 86_400_000)
    with services.engine.connect() as conn:
        visible_device(conn, access, device_id)
    try:
        result = fresh_series(
            services.engine,
            services.writer,
            device_id,
            metric=metric,
            start=start_ms,
            end=end_ms,
            points=points,
            tier=tier,
            retention=services.retention.horizons(now_ms()),
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return {
        "device_id": device_id,
        "metric": result.metric,
        "start": result.start,
        "end": result.end,
        "bucket_ms": result.bucket_ms,
        "tier": result.tier,
        "ts": result.ts,
        "min": result.min,
        "mean": result.mean,
        "max": result.max,
        "count": result.count,
    }
