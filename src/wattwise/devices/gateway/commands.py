"""Commands from the server, carried out on the meter once each, whatever is redelivered.

A serial gateway reaches the PZEM itself, which has no relay: ``reset_energy`` is done
with function 0x42; ``relay_on``/``relay_off`` are answered "not done" with the reason,
and the relay state reported is "on" (nothing on the line can cut the load).
"""

from __future__ import annotations

import logging
from typing import Any

from wattwise.devices.gateway.queue import DiskQueue
from wattwise.devices.pzem import PzemBus, PzemError

log = logging.getLogger(__name__)

ACTIONS = ("relay_off", "relay_on", "reset_energy")


def result(ok: bool, detail: str) -> dict[str, Any]:
    """A result body as the server expects it."""
    return {"ok": ok, "relay": "on", "detail": detail}


def carry_out(bus: PzemBus, address: int, action: str) -> dict[str, Any]:
    """Do one action on the meter at ``address`` and say how it went."""
    if action == "reset_energy":
        try:
            bus.reset_energy(address)
        except PzemError as exc:
            return result(False, f"energy reset failed: {exc}")
        return result(True, f"energy counter of meter {address} reset to 0 Wh")
    if action in ("relay_on", "relay_off"):
        return result(False, "a PZEM on a serial gateway has no relay")
    return result(False, f"unknown action {action!r}; known: {', '.join(ACTIONS)}")


def handle(queue: DiskQueue, bus: PzemBus, address: int, command: dict[str, Any]) -> None:
    """Carry out ``command`` unless it was already; its result is queued for reporting."""
    command_id = str(command["id"])
    if queue.command_result(command_id) is not None:
        log.info("command %s already carried out; reporting its result again", command_id)
        queue.mark_unreported(command_id)
        return
    outcome = carry_out(bus, address, str(command.get("action")))
    log.info("command %s (%s) on meter %d: %s", command_id, command.get("action"), address, outcome)
    queue.record_command(command_id, address, outcome)
