"""Findings of the live detectors over REST: list them, look at one, and judge it (Ignore / Raise).

Kinds: ``anomaly`` (with a plain-words reason), grid events (``sag``, ``swell``,
``interruption``, ``under_frequency``, ``over_frequency``, ``grid_surge``, ``grid_dip``),
``balance_loss`` (a main meter against its sub-meters) and ``theft``. Status ``open`` is
raised and waiting for a person; ``ignored`` was judged normal (or repeats a pattern a
person ignored: ``suppressed_by`` names that finding); ``confirmed`` was raised by a person.

A verdict is stored on the finding and passed to the detectors (bus topic "feedback"):
an ignored pattern is not raised again on that meter, a raised one keeps being raised, the
theft forest retrains with it, and an ignored balance loss becomes the meter's normal base.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field
from sqlalchemy import Connection

from wattwise.api.body import BodyIn
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.appliances import edit, may_edit, read
from wattwise.api.routes.devices import visible_device
from wattwise.detectors import edits
from wattwise.detectors.service import PATTERN_KINDS
from wattwise.detectors.theft import KIND as THEFT
from wattwise.store import devices as device_store
from wattwise.store import findings as finding_store
from wattwise.store.errors import NotFound

router = APIRouter(tags=["findings"])

KINDS = (*PATTERN_KINDS, THEFT)


class FeedbackIn(BodyIn):
    verdict: Literal["ignore", "raise"] = Field(
        description="ignore: normal for us, do not raise this pattern again; raise: yes, a real problem"
    )


def finding_or_404(conn: Connection, finding_id: int) -> finding_store.Finding:
    try:
        return finding_store.get_finding(conn, finding_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


@router.get("/api/v1/findings", summary="List findings")
def list_findings(
    access: AccessDep,
    services: ServicesDep,
    device_id: Annotated[int | None, Query(description="Only this meter")] = None,
    kind: Annotated[list[str] | None, Query(description="Only these kinds (repeat the parameter)")] = None,
    status_: Annotated[str | None, Query(alias="status", description="open, ignored, confirmed or closed")] = None,
    since: Annotated[int | None, Query(description="Ending at or after this time (Unix ms)")] = None,
    until: Annotated[int | None, Query(description="Starting before this time (Unix ms)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Findings of the meters you may see, newest first."""
    unknown = [k for k in kind or [] if k not in KINDS]
    if unknown:
        raise HTTPException(422, detail=f"kind: unknown {', '.join(unknown)}; known: {', '.join(KINDS)}")
    if status_ is not None and status_ not in finding_store.STATUSES:
        raise HTTPException(422, detail=f"status: must be one of {', '.join(finding_store.STATUSES)}, got {status_!r}")
    with services.engine.connect() as conn:
        if device_id is not None:
            ids = [visible_device(conn, access, device_id).id]
        else:
            ids = [d.id for d in device_store.list_devices(conn, access.site_ids())]
        found = finding_store.list_findings(
            conn, device_ids=ids, kinds=kind, status=status_, since=since, until=until, limit=limit
        )
    return [f.to_dict() for f in found]


@router.get("/api/v1/findings/{finding_id}", summary="One finding")
def get_finding(finding_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.connect() as conn:
        found = finding_or_404(conn, finding_id)
        visible_device(conn, access, found.device_id)
    return found.to_dict()


@router.post("/api/v1/findings/{finding_id}/feedback", summary="Ignore or Raise a finding")
async def give_feedback(finding_id: int, body: FeedbackIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Store your verdict; the meter's detectors learn from it (see the module description)."""
    await read(services, lambda c: may_edit(c, access, finding_or_404(c, finding_id).device_id))
    judged = await edit(edits.judge_finding(services, finding_id, body.verdict, by=access.user.username))
    return judged.to_dict()
