"""The one way in for what a meter reports about a command it carried out.

HTTP (``POST /api/v1/commands/{id}/result``) and MQTT (``wattwise/<id>/commands/result``)
both hand results here: stored once through the writer, then announced on the bus.
"""

from __future__ import annotations

from wattwise.runtime import Services
from wattwise.store import commands as command_store


async def record(
    services: Services, command_id: int, device_id: int, *, ok: bool, relay: str | None, detail: str
) -> tuple[command_store.Command, bool]:
    """Store the result if it is the first; returns the command and whether this call stored it.

    Raises ``NotFound`` for a command that is not this meter's.
    """
    command, recorded = await services.writer.submit(
        lambda c: command_store.record_result(c, command_id, device_id, ok=ok, relay=relay, detail=detail)
    )
    if recorded:
        services.pending_commands.changed()
        services.bus.publish("command_results", command)
    return command, recorded
