"""The seed projects' endpoints, kept for people whose ESP32 firmware already speaks them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from wattwise.api.body import read_json, readings_payload
from wattwise.api.deps import DeviceDep, ServicesDep
from wattwise.api.routes.ingest import IngestOut, answer
from wattwise.ingest.formats.seed import from_seed
from wattwise.store.series import recent_readings

router = APIRouter(tags=["seed compatibility"])


@router.post("/api/update-dht-data", response_model=IngestOut, summary="Seed firmware upload")
async def update_dht_data(request: Request, device_id: DeviceDep, services: ServicesDep) -> Response:
    """Accept ``{"Voltage": 227.5, "Current": 1.42}`` (the seed firmware's keys).

    The device key goes in ``Authorization: Bearer``, ``X-Device-Key`` or ``?key=``.
    Power is V × I when the firmware does not send it, as the seed firmware computes it.
    """
    payload = await read_json(request, services.settings.max_body_bytes)
    items = [from_seed(item) for item in readings_payload(payload)]
    return answer(await services.pipeline.ingest(device_id, items))


@router.get("/api/get-graph-data", summary="Seed dashboard live history")
def get_graph_data(
    device_id: DeviceDep, services: ServicesDep, limit: int = Query(50, ge=1, le=5000)
) -> dict[str, Any]:
    """The meter's last readings as Chart.js-ready columns (oldest first)."""
    with services.engine.connect() as conn:
        rows = recent_readings(conn, device_id, limit)
    return {
        "device_id": device_id,
        "labels": [datetime.fromtimestamp(int(r["ts"] or 0) / 1000, UTC).isoformat() for r in rows],
        "ts": [r["ts"] for r in rows],
        **{m: [r[m] for r in rows] for m in ("voltage", "current", "power", "energy", "frequency", "pf")},
    }
