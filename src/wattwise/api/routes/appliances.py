"""Appliances of a meter (NILM) over REST: events and runs as detected, labels, renames and merges.

Reading needs sight of the meter's site; labelling, renaming and merging need a role
above viewer (member, owner or administrator). Every edit is one writer transaction that
changes the stored events and the meter's signature library together, then tells the
live detector (bus topic "appliances") so the next event is identified with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import Field
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from wattwise.api.body import BodyIn
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.devices import visible_device
from wattwise.detectors import edits, library
from wattwise.runtime import Services
from wattwise.store import detections
from wattwise.store.devices import Device
from wattwise.store.errors import NotFound
from wattwise.store.users import Access

router = APIRouter(tags=["appliances"])
T = TypeVar("T")

Since = Annotated[int | None, Query(description="From this time (Unix ms, inclusive)")]
Until = Annotated[int | None, Query(description="Before this time (Unix ms)")]
Limit = Annotated[int, Query(ge=1, le=5000, description="At most this many, newest first")]
LabelFilter = Annotated[str | None, Query(description="Only this appliance (or 'unidentified')")]


def window(
    since: Since = None, until: Until = None, label: LabelFilter = None, limit: Limit = 500
) -> detections.Window:
    """Which events or runs to list, from the query string."""
    return detections.Window(since, until, label, limit)


WindowDep = Annotated[detections.Window, Depends(window)]


class LabelIn(BodyIn):
    name: str = Field(min_length=1, max_length=100, description="The appliance this event belongs to")
    alike: bool = Field(
        default=False,
        description="Also name every unidentified event of the meter that looks like this one "
        "(the same step in P and Q, on or off, whatever the time of day); see GET …/look-alikes",
    )


class RenameIn(BodyIn):
    name: str = Field(min_length=1, max_length=100, description="The appliance's new name")


class MergeIn(BodyIn):
    source: str = Field(min_length=1, max_length=100, description="The appliance that goes away")
    into: str = Field(min_length=1, max_length=100, description="The appliance that keeps its name")


def may_edit(conn: Connection, access: Access, device_id: int) -> Device:
    """The meter, if this user may label its events (not a viewer); 403/404 otherwise."""
    device = visible_device(conn, access, device_id)
    if not (access.user.is_admin or access.roles.get(device.site_id) in ("owner", "member")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="viewers may look but not label; ask the site's owner")
    return device


async def read(services: Services, work: Callable[[Connection], T]) -> T:
    """Run a short read (an access check) in a worker thread, off the event loop."""

    def run() -> T:
        with services.engine.connect() as conn:
            return work(conn)

    try:
        return await run_in_threadpool(run)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


def event_device(conn: Connection, event_id: int) -> int:
    try:
        return detections.get_event(conn, event_id).device_id
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


async def edit(change: Awaitable[T]) -> T:
    """Await an edit, turning the store's errors into 404 / 422 (checked first with
    :func:`read`, so these only happen when a concurrent edit got there first)."""
    try:
        return await change
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except (ValueError, KeyError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc).strip("'\"")) from exc


@router.get("/api/v1/devices/{device_id}/appliances", summary="Appliances the meter knows")
def list_appliances(device_id: int, access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    """Each appliance of the meter's signature library: how many labelled events define it,
    its typical step and run length, and the runs and energy attributed to it so far."""
    with services.engine.connect() as conn:
        visible_device(conn, access, device_id)
        return library.appliances(conn, device_id)


@router.get("/api/v1/devices/{device_id}/appliance-events", summary="ON/OFF events of a meter")
def list_events(device_id: int, access: AccessDep, services: ServicesDep, query: WindowDep) -> list[dict[str, Any]]:
    """Events newest first, each with its label, confidence and who labelled it
    (``detector`` or ``user``). ``?label=unidentified`` lists what is waiting for a name."""
    with services.engine.connect() as conn:
        visible_device(conn, access, device_id)
        found = detections.list_events(conn, device_id, query)
    return [e.to_dict() for e in found]


@router.get("/api/v1/devices/{device_id}/appliance-runs", summary="Appliance runs of a meter")
def list_runs(device_id: int, access: AccessDep, services: ServicesDep, query: WindowDep) -> list[dict[str, Any]]:
    """Runs (an appliance on, then off) newest first, with duration, power and energy;
    ``closed`` is false when the end was estimated from the appliance's usual run length."""
    with services.engine.connect() as conn:
        visible_device(conn, access, device_id)
        found = detections.list_runs(conn, device_id, query)
    return [r.to_dict() for r in found]


@router.put("/api/v1/appliance-events/{event_id}/label", summary="Label or relabel an event")
async def label_event(event_id: int, body: LabelIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Name the appliance behind an event (and the other event of its run; with ``alike``,
    every unidentified event that looks like it, and their runs).

    The meter's signature library learns it at once, so the next similar switching is
    identified; relabelling takes back what the old label taught.
    """
    device_id = await read(services, lambda c: may_edit(c, access, event_device(c, event_id)).id)
    await read(services, lambda _: library.check_name(body.name))  # bad input never reaches the writer
    changed = await edit(edits.label_event(services, device_id, event_id, body.name, alike=body.alike))
    events = await read(services, lambda c: [e.to_dict() for e in detections.get_events(c, changed["events"])])
    return {"events": events, "run_id": changed["run"]}


@router.get("/api/v1/appliance-events/{event_id}/look-alikes", summary="Unidentified events like this one")
def look_alikes(event_id: int, access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    """The meter's unidentified events with the same step in P and Q as this one (switching on
    or off, whatever the time of day): what ``alike`` in a label would name too."""
    with services.engine.connect() as conn:
        visible_device(conn, access, event_device(conn, event_id))
        return [e.to_dict() for e in detections.get_events(conn, library.look_alikes(conn, event_id))]


@router.post("/api/v1/devices/{device_id}/appliances/{name}/rename", summary="Rename an appliance")
async def rename_appliance(
    device_id: int, name: str, body: RenameIn, access: AccessDep, services: ServicesDep
) -> dict[str, Any]:
    """Give an appliance a new name; its events and runs follow. 422 if the name is taken (merge instead)."""
    await read(services, lambda c: may_edit(c, access, device_id))
    await read(services, lambda c: library.check_rename(c, device_id, name, body.name, merge=False))
    changed = await edit(edits.rename_appliance(services, device_id, name, body.name, merge=False))
    return {"name": body.name.strip(), "events_relabelled": changed}


@router.post("/api/v1/devices/{device_id}/appliances/merge", summary="Merge two appliances")
async def merge_appliances(device_id: int, body: MergeIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Two names for one appliance: ``source``'s signatures, events and runs become ``into``'s."""
    await read(services, lambda c: may_edit(c, access, device_id))
    await read(services, lambda c: library.check_rename(c, device_id, body.source, body.into, merge=True))
    changed = await edit(edits.rename_appliance(services, device_id, body.source, body.into, merge=True))
    return {"name": body.into.strip(), "events_relabelled": changed}
