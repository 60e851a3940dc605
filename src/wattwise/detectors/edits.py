"""A person's edit that teaches the detectors, written and then announced on the bus.

The REST routes and the Appliances page both teach the library this way: the change goes
through the writer (serialised with ingest), then the bus tells the live detector to reload
the meter's library, so the next switching is identified with what was just learnt. A
verdict on a finding (from the findings routes, or an alert from a finding that a person
ignores or confirms) goes the same way, on the topics "feedback" and "findings".
"""

from __future__ import annotations

from typing import Any

from wattwise.detectors import library
from wattwise.detectors.service import FEEDBACK_TOPIC
from wattwise.runtime import Services
from wattwise.store import findings as finding_store


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


async def judge_finding(services: Services, finding_id: int, verdict: str, *, by: str) -> dict[str, Any]:
    """Store Ignore or Raise on a finding; the meter's detectors learn from it, and the
    finding as it now stands is published (the live view, the alert engine)."""
    judged = await services.writer.submit(lambda conn: finding_store.give_verdict(conn, finding_id, verdict, by=by))
    out = judged.to_dict()
    services.bus.publish(FEEDBACK_TOPIC, out)
    services.bus.publish("findings", [out])
    return out
