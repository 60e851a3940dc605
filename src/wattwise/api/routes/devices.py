"""Meters and sites over REST: list what you may see, add meters, rotate and revoke keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import Field
from sqlalchemy import Connection

from wattwise.api.body import BodyIn, Id
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.errors import store_errors
from wattwise.store import devices as device_store
from wattwise.store import sites as site_store
from wattwise.store.devices import Device
from wattwise.store.errors import NotFound
from wattwise.store.users import Access, create_owned_site

router = APIRouter(tags=["devices and sites"])


def visible_device(conn: Connection, access: Access, device_id: int) -> Device:
    """The meter if this user may see it; 404 otherwise (not 403: do not confirm it exists)."""
    try:
        device = device_store.get_device(conn, device_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    if not access.can_see(device.site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no meter with id {device_id}")
    return device


def managed_device(conn: Connection, access: Access, device_id: int) -> Device:
    device = visible_device(conn, access, device_id)
    if not access.can_manage(device.site_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the site's owner may do this")
    return device


def device_out(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "site_id": device.site_id,
        "site": device.site_name,
        "name": device.name,
        "role": device.role,
        "parent_id": device.parent_id,
        "key_prefix": device.key_prefix,
        "revoked": device.key_prefix is None,
        "last_seen_ms": device.last_seen_ms,
    }


class SiteIn(BodyIn):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    currency: str = Field(default="INR", min_length=3, max_length=8)


class DeviceIn(BodyIn):
    site_id: Id
    name: str = Field(min_length=1, max_length=200)


@router.get("/api/v1/sites")
def list_sites(access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        return [
            {
                "id": s.id,
                "name": s.name,
                "timezone": s.timezone,
                "currency": s.currency,
                "role": "admin" if access.user.is_admin else access.roles.get(s.id),
            }
            for s in site_store.list_sites(conn, access.site_ids())
        ]


@router.post("/api/v1/sites", status_code=201)
def create_site(body: SiteIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Create a site; its creator becomes its owner."""
    with store_errors(), services.engine.begin() as conn:
        site = create_owned_site(conn, access.user.id, body.name, timezone=body.timezone, currency=body.currency)
    return {"id": site.id, "name": site.name, "timezone": site.timezone, "currency": site.currency}


@router.get("/api/v1/devices")
def list_devices(access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        return [device_out(d) for d in device_store.list_devices(conn, access.site_ids())]


@router.get("/api/v1/devices/{device_id}")
def get_device(device_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.connect() as conn:
        return device_out(visible_device(conn, access, device_id))


@router.post("/api/v1/devices", status_code=201)
def create_device(body: DeviceIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Add a meter; the answer holds its key, which is never shown again."""
    if not access.can_see(body.site_id):  # as every route answers a site one may not see
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no site with id {body.site_id}")
    if not access.can_manage(body.site_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the site's owner may add meters")
    with store_errors(), services.engine.begin() as conn:
        issued = device_store.create_device(conn, site_id=body.site_id, name=body.name)
    return {**device_out(issued.device), "key": issued.key}


@router.post("/api/v1/devices/{device_id}/rotate-key")
def rotate_key(device_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Issue a new key; the old one stops working at once."""
    with services.engine.begin() as conn:
        managed_device(conn, access, device_id)
        issued = device_store.rotate_key(conn, device_id)
    services.pipeline.forget_keys()
    return {**device_out(issued.device), "key": issued.key}


@router.post("/api/v1/devices/{device_id}/revoke-key")
def revoke_key(device_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Refuse the meter's uploads from now on; its history stays."""
    with services.engine.begin() as conn:
        managed_device(conn, access, device_id)
        device = device_store.revoke_key(conn, device_id)
    services.pipeline.forget_keys()
    return device_out(device)
