"""PUT /api/v1/devices/{id}/role — a site's main meter and its sub-meters, for the energy balance;
GET /api/v1/devices/{id}/balance — whether that balance is watching, and if not, why;
PUT /api/v1/devices/{id}/balance/clean-period — a period known clean, to learn the base from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from wattwise.api.body import BodyIn, Id
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.errors import store_errors
from wattwise.api.routes.appliances import read
from wattwise.api.routes.devices import device_out, managed_device, visible_device
from wattwise.detectors import balance, edits
from wattwise.store import devices as device_store

router = APIRouter(tags=["devices and sites"])


class CleanPeriodIn(BodyIn):
    since: int = Field(ge=0, description="Start of the clean period, epoch ms")
    until: int = Field(ge=0, description="End of the clean period (not included), epoch ms; not after now")


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
    with services.engine.connect() as conn, store_errors():
        balance.main_meter(visible_device(conn, access, device_id))
        return {"device_id": device_id, **balance.stored_status(conn, device_id)}


@router.put("/api/v1/devices/{device_id}/balance/clean-period", summary="Vouch that a period was clean")
async def vouch_clean(device_id: int, body: CleanPeriodIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """The site's owner knows there was no loss or theft from ``since`` to ``until``: the
    balance learns its unmetered base and wobble again from that period's intervals (at
    least 10 in which every meter of the group reported; 422 naming what is short; 409 for
    a meter that is not a main meter with sub-meters). The answer says what they teach;
    ``GET …/balance`` says ``clean_period.applied`` once the detectors use it."""
    await read(services, lambda c: managed_device(c, access, device_id))
    with store_errors():
        taught = await edits.vouch_clean(services, device_id, body.since, body.until)
    return {"device_id": device_id, **taught}
