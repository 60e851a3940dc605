"""POST /api/v1/ingest — the contract every meter, gateway and importer speaks."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from wattwise.api.body import decode_json, read_body, readings_payload
from wattwise.api.deps import DeviceDep, ServicesDep
from wattwise.domain.limits import MAX_BATCH
from wattwise.ingest.parse import ReadingIn
from wattwise.ingest.pipeline import IngestResult
from wattwise.runtime import Services
from wattwise.store import commands as command_store

router = APIRouter(tags=["ingest"])


class RejectionOut(BaseModel):
    index: int
    errors: list[str]


class CommandOut(BaseModel):
    id: str
    action: str


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectionOut]
    commands: list[CommandOut] | None = None


_READING_SCHEMA = ReadingIn.model_json_schema()
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _READING_SCHEMA,
                        {"type": "array", "items": _READING_SCHEMA, "maxItems": MAX_BATCH},
                    ]
                },
                "example": [
                    {
                        "ts": 1764000000,
                        "voltage": 229.8,
                        "current": 1.42,
                        "power": 312.5,
                        "energy": 1523400,
                        "frequency": 50.0,
                        "pf": 0.96,
                    }
                ],
            }
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked device key"},
    413: {"description": "Body over the size limit or more than 10,000 readings"},
    422: {
        "description": "Nothing usable: every reading was rejected (same body as 200)",
        "model": IngestOut,
    },
}


def answer(result: IngestResult, commands: list[dict[str, str]] | None = None) -> Response:
    """200 with the counts, or 422 (same body) when not one reading was usable.

    ``commands`` (the meter's pending commands) ride along only when there are some.
    """
    body: dict[str, object] = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [{"index": r.index, "errors": r.errors} for r in result.rejected],
    }
    if commands:
        body["commands"] = commands
    return Response(orjson.dumps(body), status_code=200 if result.usable else 422, media_type="application/json")


@router.post(
    "/api/v1/ingest",
    response_model=IngestOut,
    openapi_extra=_BODY,
    responses=_ERRORS,
    summary="Send one reading or a batch",
)
async def ingest(request: Request, device_id: DeviceDep, services: ServicesDep) -> Response:
    """Store readings of the meter whose key authenticates the request.

    Answered only after the readings are durably committed. A reading already stored for
    the same (meter, ts) counts as a duplicate, so retrying a batch is always safe. Each
    bad reading is listed with the fields at fault; the good ones in the batch are kept.
    """
    body = await read_body(request, services.settings.max_body_bytes)
    result = await services.pipeline.ingest_json(device_id, body, _items)
    return answer(result, await hand_over_commands(services, device_id))


def _items(body: bytes) -> list[Any]:
    """The readings of a body the fast path declined, or the 400/413/422 that explains why not."""
    return readings_payload(decode_json(body))


async def hand_over_commands(services: Services, device_id: int) -> list[dict[str, str]]:
    """The meter's unanswered commands, marked as delivered (re-sent until it reports)."""
    if not services.pending_commands.may_have(device_id):
        return []
    with services.engine.connect() as conn:
        waiting = command_store.pending(conn, device_id)
    if not waiting:
        return []
    ids = [c.id for c in waiting if c.delivered_ms is None]
    if ids:
        await services.writer.submit(lambda c: command_store.mark_delivered(c, ids))
    return [c.for_device() for c in waiting]
