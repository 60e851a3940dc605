"""PUT /api/v1/devices/{id}/role — a site's main meter and its sub-meters, for the energy balance;
GET /api/v1/devices/{id}/balance — whether that balance is watching, and if not, why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import Field

from wattwise.api.body import BodyIn, Id
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.errors import store_errors
from wattwise.api.routes.devices import device_out, managed_device, visible_device
from wattwise.detectors import balance
from wattwise.store import devices as device_store

router = APIRouter(tags=["devices and sites"])


class RoleIn(BodyIn):
    role: str = Field(description="meter, main or sub")
    parent_id: Id | None = Field(default=None, description="For a sub-meter: the meter it hangs under")


@router.put("/api/v1/devices/{device_id}/role", summary="Mark a meter as main or sub-meter")
def set_role(device_id: int, body: RoleIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """``main``: the site's incoming meter; ``sub``: a meter under ``parent_id``; ``meter``: neither."""
    with store_errors(), services.engine.begin() as conn:
        managed_device(conn, access, device_id)
        device = device_store.set_role(conn, device_id, role=body.role, parent_id=body.parent_id)
    return device_out(device)


@router.get("/api/v1/devices/{device_id}/balance", summary="Is the energy balance of a main meter watching?")
def get_balance(device_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """``state``: not_started, learning, watching or not_watching, with ``reason`` in plain words
    (a sub-metered share too small or an unmetered remainder that swings gives not_watching)."""
    with services.engine.connect() as conn:
        device = visible_device(conn, access, device_id)
        if device.role != "main":
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail=f"meter {device_id} is not a main meter (its role is {device.role!r})"
            )
        return {"device_id": device_id, **balance.stored_status(conn, device_id)}
