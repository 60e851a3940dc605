"""A person's edit of a meter's appliance library, written and then announced to the detector.

The REST routes and the Appliances page both teach the library this way: the change goes
through the writer (serialised with ingest), then the bus tells the live detector to reload
the meter's library, so the next switching is identified with what was just learnt.
"""

from __future__ import annotations

from typing import Any

from wattwise.detectors import library
from wattwise.runtime import Services


async def label_event(services: Services, device_id: int, event_id: int, name: str) -> dict[str, Any]:
    """Name the appliance behind an event (and its run's other event)."""
    changed = await services.writer.submit(lambda conn: library.label_event(conn, event_id, name))
    services.bus.publish(library.CHANGED_TOPIC, {"device_id": device_id})
    return changed


async def rename_appliance(services: Services, device_id: int, old: str, new: str, *, merge: bool) -> int:
    """Rename an appliance, or merge it into one the meter already knows; returns events relabelled."""
    changed = await services.writer.submit(
        lambda conn: library.rename_appliance(conn, device_id, old, new, merge=merge)
    )
    services.bus.publish(library.CHANGED_TOPIC, {"device_id": device_id})
    return changed
