"""WebSocket /api/v1/live — every stored reading of the meters the client may see, as it lands."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from wattwise.api.deps import access_for_token, user_token
from wattwise.bus import Message
from wattwise.domain.readings import METRICS, StoredReading
from wattwise.runtime import Services
from wattwise.store.devices import get_device
from wattwise.store.errors import NotFound
from wattwise.store.users import Access

router = APIRouter()


def reading_out(item: StoredReading) -> dict[str, Any]:
    r = item.reading
    return {"device_id": r.device_id, "ts": r.ts, **{m: r.value(m) for m in METRICS}, "wh": item.wh}


class _Visibility:
    """Which meters this client may see, looked up once per meter and remembered."""

    def __init__(self, services: Services, access: Access, wanted: set[int] | None) -> None:
        self._services = services
        self._access = access
        self._wanted = wanted
        self._known: dict[int, bool] = {}

    def allows(self, device_id: int) -> bool:
        if self._wanted is not None and device_id not in self._wanted:
            return False
        if device_id not in self._known:
            with self._services.engine.connect() as conn:
                try:
                    site_id = get_device(conn, device_id).site_id
                except NotFound:
                    return False
            self._known[device_id] = self._access.can_see(site_id)
        return self._known[device_id]

    def allows_alert(self, alert: dict[str, Any]) -> bool:
        device_id = alert.get("device_id")
        if device_id is not None:
            return self.allows(int(device_id))
        return self._wanted is None and self._access.can_see(int(alert["site_id"]))


def _wanted(raw: str | None) -> set[int] | None:
    if not raw:
        return None
    return {int(part) for part in raw.split(",") if part.strip().isdigit()}


@router.websocket("/api/v1/live")
async def live(websocket: WebSocket) -> None:
    """Authenticate with ``?token=`` (or the session cookie); optional ``?devices=1,2``.

    Each message is ``{"type": "readings" | "events" | "findings" | "alerts", "data": [item, …]}``
    (an alert as ``GET /api/v1/alerts/{id}`` shows it, when raised, repeated or settled);
    ``"dropped": n`` appears when the client was too slow and missed n messages.
    """
    services: Services = websocket.app.state.services
    access = access_for_token(services, user_token(websocket))
    if access is None:
        # accepted first: a close before the handshake reaches a client as a bare HTTP 403
        await websocket.accept()
        await websocket.close(code=4401, reason="sign in: pass ?token=<API token>")
        return
    await websocket.accept()
    visibility = _Visibility(services, access, _wanted(websocket.query_params.get("devices")))
    subscription = services.bus.subscribe("readings", "events", "findings", "alerts")

    async def send() -> None:
        reported = 0
        async for message in subscription:
            if message.topic == "readings":
                data = [reading_out(s) for s in _readings(message) if visibility.allows(s.reading.device_id)]
            elif message.topic == "alerts":  # a budget alert is the whole site's: no meter
                data = [item for item in message.payload if visibility.allows_alert(item)]
            else:  # appliance events/runs and findings, as their REST endpoints show them
                data = [item for item in message.payload if visibility.allows(int(item["device_id"]))]
            if not data:
                continue
            out: dict[str, Any] = {"type": message.topic, "data": data}
            if subscription.dropped != reported:
                out["dropped"] = subscription.dropped - reported
                reported = subscription.dropped
            await websocket.send_text(orjson.dumps(out).decode())

    sender = asyncio.create_task(send())
    try:
        while True:
            await websocket.receive_text()  # clients may ping; we only watch for the close
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        services.bus.unsubscribe(subscription)


def _readings(message: Message) -> list[StoredReading]:
    return message.payload  # type: ignore[no-any-return]
