"""A person's edit of what the detectors know, written and then announced to them.

The REST routes and the dashboard pages both teach the detectors this way: the change goes
through the writer (serialised with ingest), then the bus tells the live detectors — to
reload the meter's appliance library, so the next switching is identified with what was
just learnt, or to learn from a verdict on a finding (topic "feedback").
"""

from __future__ import annotations

from typing import Any

from wattwise.detectors import library
from wattwise.detectors.service import FEEDBACK_TOPIC
from wattwise.runtime import Services
from wattwise.store import findings as finding_store


async def label_event(
    services: Services, device_id: int, event_id: int, name: str, *, alike: bool = False
) -> dict[str, Any]:
    """Name the appliance behind an event (and its run's other event; with ``alike``, every
    unidentified event that looks like it)."""
    changed = await services.writer.submit(lambda conn: library.label_event(conn, event_id, name, alike=alike))
    services.bus.publish(library.CHANGED_TOPIC, {"device_id": device_id})
    return changed


async def rename_appliance(services: Services, device_id: int, old: str, new: str, *, merge: bool) -> int:
    """Rename an appliance, or merge it into one the meter already knows; returns events relabelled."""
    changed = await services.writer.submit(
        lambda conn: library.rename_appliance(conn, device_id, old, new, merge=merge)
    )
    # the live meter renames what it still holds (runs final later carry the new name)
    services.bus.publish(library.CHANGED_TOPIC, {"device_id": device_id, "renamed": [old, new.strip()]})
    return changed


async def judge_finding(services: Services, finding_id: int, verdict: str, *, by: str) -> finding_store.Finding:
    """Ignore or Raise a finding: an ignored pattern is not raised again, a raised one keeps being raised."""
    judged = await services.writer.submit(lambda conn: finding_store.give_verdict(conn, finding_id, verdict, by=by))
    out = judged.to_dict()
    services.bus.publish(FEEDBACK_TOPIC, out)
    services.bus.publish("findings", [out])
    return judged
