"""WebSocket /api/v1/live pushes each stored reading to those who may see its meter."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from support import World


def test_a_posted_reading_is_pushed_to_a_live_client(world: World) -> None:
    with world.client.websocket_connect(f"/api/v1/live?token={world.admin_token}") as ws:
        world.ingest({"ts": 1_764_000_000_000, "power": 42.0, "voltage": 231.0})
        message = ws.receive_json()
    assert message["type"] == "readings"
    (reading,) = message["data"]
    assert reading["device_id"] == world.meter_a and reading["power"] == 42.0 and reading["voltage"] == 231.0


def test_a_viewer_never_receives_another_sites_readings(world: World) -> None:
    with world.client.websocket_connect(f"/api/v1/live?token={world.viewer_token}") as ws:
        world.ingest({"ts": 1_764_000_000_000, "power": 1.0}, key=world.key_b)  # site B: not theirs
        world.ingest({"ts": 1_764_000_000_000, "power": 2.0}, key=world.key_a)
        message = ws.receive_json()
    assert [r["device_id"] for r in message["data"]] == [world.meter_a]


def test_live_refuses_clients_without_a_token(world: World) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, world.client.websocket_connect("/api/v1/live") as ws:
        ws.receive_json()
    assert refused.value.code == 4401
