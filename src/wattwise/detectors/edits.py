"""A person's edit of what the detectors know, written and then announced to them.

The REST routes and the dashboard pages both teach the detectors this way: the change goes
through the writer (serialised with ingest), then the bus tells the live detectors — to
reload the meter's appliance library, so the next switching is identified with what was
just learnt, to learn from a verdict on a finding (topic "feedback"), or to learn the energy
balance's base from a period vouched clean (topic "balance").
"""

from __future__ import annotations

import asyncio
from typing import Any

from wattwise.detectors import balance, library
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


async def vouch_clean(services: Services, main_id: int, since: int, until: int) -> dict[str, Any]:
    """A person vouches that ``[since, until)`` was clean on a main meter (the REST route and
    the meter page both come here): checked off the writer (the group, a period over, enough
    whole intervals: NotFound, Conflict or ValueError naming what is wrong), stored, and told
    to the detectors, who learn the base from it. Answers what the period teaches."""

    width = services.settings.detector_balance_interval_ms

    def check() -> dict[str, Any]:
        with services.engine.connect() as conn:
            members = balance.balance_group(conn, main_id)
            return balance.check_clean(conn, main_id, members, since, until, width)

    taught = await asyncio.to_thread(check)
    vouched = await services.writer.submit(lambda conn: balance.vouch_clean(conn, main_id, since, until))
    services.bus.publish(balance.CLEAN_TOPIC, {"device_id": main_id})
    return {**vouched, **taught}
