"""WebSocket /api/v1/live pushes each stored reading to those who may see its meter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import websockets
from starlette.websockets import WebSocketDisconnect

from firmware.live_server import LiveServer
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


def test_a_client_of_the_real_server_is_told_why_it_was_refused(tmp_path: Path) -> None:
    """Closed before it was accepted, a refused client of uvicorn got a bare HTTP 403: the
    code 4401 and 'sign in: pass ?token=<API token>' never reached it."""
    server = LiveServer(tmp_path / "wattwise.db")
    server.start()
    try:

        async def refused(token: str) -> tuple[int | None, str | None]:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/api/v1/live?token={token}") as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
            return closed.value.rcvd.code if closed.value.rcvd else None, closed.value.rcvd and closed.value.rcvd.reason

        assert asyncio.run(refused("wwt_not-a-token")) == (4401, "sign in: pass ?token=<API token>")
    finally:
        server.stop()
