"""GET /api/v1/devices/{id}/export — one meter's readings (or a rollup tier) as CSV or Parquet."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.devices import visible_device
from wattwise.api.routes.series import parse_time
from wattwise.export import MEDIA_TYPES, Export, csv_chunks, parquet_bytes, parse_metrics
from wattwise.store.clock import now_ms

router = APIRouter(tags=["integrations"])


@router.get(
    "/api/v1/devices/{device_id}/export",
    summary="Download a meter's history as CSV or Parquet",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["parquet"]: {}}}},
)
async def export(
    device_id: int,
    access: AccessDep,
    services: ServicesDep,
    format: str = Query("csv", description="csv (streamed) or parquet"),
    since: str | None = Query(None, description="RFC 3339 or Unix s/ms; default: until − 24 h"),
    until: str | None = Query(None, description="RFC 3339 or Unix s/ms, exclusive; default: now"),
    metrics: str | None = Query(
        None, description="comma-separated subset of voltage,current,power,energy,frequency,pf"
    ),
    resolution: str = Query("raw", description="raw readings, or 1m, 1h, 1d rollups (count, mean/min/max, wh)"),
) -> Response:
    """Columns: ``ts_ms`` (UTC epoch ms), ``time_utc`` (ISO 8601), then the values.

    Raw rows hold each reading's metrics and ``wh``, the energy since the meter's previous
    reading; a tier's rows hold ``count`` and each metric's mean, min and max per bucket, and
    the bucket's ``wh``. The range may span at most 31 days raw, 366 days at 1m.
    """
    until_ms = parse_time("until", until, now_ms())
    since_ms = parse_time("since", since, until_ms - 86_400_000)
    try:
        job = Export(device_id, since_ms, until_ms, format, resolution, parse_metrics(metrics))
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    with services.engine.connect() as conn:
        meter = visible_device(conn, access, device_id)
    headers = {"Content-Disposition": f'attachment; filename="{job.filename(meter.name)}"'}
    if job.format == "parquet":
        body = await run_in_threadpool(lambda: parquet_bytes(job, job.pages(services)))
        return Response(body, media_type=MEDIA_TYPES["parquet"], headers=headers)
    pages = await run_in_threadpool(job.pages, services)
    return StreamingResponse(csv_chunks(job, pages), media_type=MEDIA_TYPES["csv"], headers=headers)
