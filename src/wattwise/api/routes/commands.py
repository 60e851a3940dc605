"""Commands to meters (relay off/on, energy reset) and the OTA manifest they follow.

A device receives its pending commands in the answer to its next ingest POST, or over MQTT on
``wattwise/<id>/commands``; it reports each result once to ``POST /api/v1/commands/{id}/result``
(or ``wattwise/<id>/commands/result``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from wattwise.alerts.channels import Url
from wattwise.api.body import BodyIn
from wattwise.api.deps import AccessDep, DeviceDep, ServicesDep
from wattwise.api.errors import MAX_ID, store_errors
from wattwise.api.routes.devices import visible_device
from wattwise.ingest import command_results
from wattwise.ingest.formats import RELAY_WANTED
from wattwise.store import commands as command_store
from wattwise.store.plugs import PLUG_NAMES, plug_of

router = APIRouter(tags=["commands"])


class CommandIn(BodyIn):
    action: Literal["relay_off", "relay_on", "reset_energy"]


class ResultIn(BodyIn):
    ok: bool
    relay: Literal["on", "off"] | None = None
    detail: str = Field(default="", max_length=500)


class ManifestIn(BodyIn):
    """What every meter follows, so only what the firmware can use: it compares versions as
    dotted numbers, downloads over http(s) and checks the bundle's hex SHA-256."""

    version: str = Field(pattern=r"^\d+(\.\d+){0,3}$", max_length=40, examples=["1.2.0"])
    url: Url = Field(max_length=500, description="where the bundle is, http:// or https://")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="the bundle's SHA-256, 64 hex digits")


def command_out(c: command_store.Command) -> dict[str, Any]:
    return {
        "id": c.id,
        "device_id": c.device_id,
        "action": c.action,
        "status": c.status,
        "requested_by": c.requested_by,
        "created_ms": c.created_ms,
        "delivered_ms": c.delivered_ms,
        "done_ms": c.done_ms,
        "relay": c.relay,
        "detail": c.detail,
    }


@router.post("/api/v1/devices/{device_id}/commands", status_code=201)
async def issue_command(device_id: int, body: CommandIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Ask a meter to switch its relay or reset its energy counter (owners and members)."""

    def check() -> None:
        with services.engine.connect() as conn:
            device = visible_device(conn, access, device_id)
            plug = plug_of(conn, device_id)
        if not access.can_operate(device.site_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="viewers cannot send commands")
        if plug is not None and body.action not in RELAY_WANTED:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"meter {device_id} is a {PLUG_NAMES[plug.kind]} plug: it is sent only relay_off and "
                f"relay_on, not {body.action} (reset its energy counter on the plug itself)",
            )

    await run_in_threadpool(check)
    who = access.user.username
    command = await services.writer.submit(lambda c: command_store.issue(c, device_id, body.action, who))
    services.pending_commands.changed()
    services.bus.publish("commands", command)
    return command_out(command)


@router.get("/api/v1/devices/{device_id}/commands")
def list_commands(device_id: int, access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    """The meter's latest commands with their status and the relay state it reported."""
    with services.engine.connect() as conn:
        visible_device(conn, access, device_id)
        return [command_out(c) for c in command_store.history(conn, device_id)]


@router.post("/api/v1/commands/{command_id}/result")
async def report_result(
    command_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: ResultIn, device_id: DeviceDep, services: ServicesDep
) -> dict[str, Any]:
    """A device reports what it did; the first report counts, repeats change nothing."""
    with store_errors():
        command, recorded = await command_results.record(
            services, command_id, device_id, ok=body.ok, relay=body.relay, detail=body.detail
        )
    return {"recorded": recorded, **command_out(command)}


@router.put("/api/v1/firmware/manifest")
async def put_manifest(body: ManifestIn, access: AccessDep, services: ServicesDep) -> dict[str, str]:
    """Publish a firmware version for meters to update to (administrators)."""
    if not access.user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only an administrator may publish firmware")
    manifest = command_store.Manifest(version=body.version, url=body.url, sha256=body.sha256)
    with store_errors():
        await services.writer.submit(lambda c: command_store.publish_manifest(c, manifest))
    services.bus.publish("ota", manifest)
    return manifest.as_json()


@router.get("/api/v1/firmware/manifest")
def get_manifest(_device: DeviceDep, services: ServicesDep) -> dict[str, str]:
    """The manifest a meter should follow ({version, url, sha256}); 404 when none is published."""
    with services.engine.connect() as conn:
        manifest = command_store.current_manifest(conn)
    if manifest is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no firmware manifest published")
    return manifest.as_json()
