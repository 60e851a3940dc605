"""The firmware under MicroPython reports by exception and rides out a server outage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.board import Board, events_of, load, wait_until
from firmware.live_server import LiveServer, PrivateBroker
from support import need_service


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path / "wattwise.db")
    yield srv
    srv.stop()


def test_reports_by_exception_with_heartbeat(board: Board, meter, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    [(device_id, key)] = server.add_devices("esp32")
    server.start()
    # 100 W, a wobble too small to matter, a kettle switched on, then steady for a while.
    samples = itertools.chain([load(100.0)] * 2, [load(101.5)] * 3, itertools.repeat(load(2100.0)))
    emulator = meter(samples)
    board.configure(
        device_id=device_id,
        key=key,
        server=server.url,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
        report={"power_w": 5.0, "power_pct": 5.0, "heartbeat_s": 1.5},
    )
    board.start()
    wait_until(lambda: board.seen("report") >= 4 and board.seen("sent") >= 4)
    code, events = board.interrupt()
    assert code == 0
    reports = events_of(events, "report")
    assert [r["why"] for r in reports[:2]] == ["first", "power"]
    assert [r["power"] for r in reports[:2]] == [100.0, 2100.0]
    assert {r["why"] for r in reports[2:]} == {"heartbeat"}
    assert len(reports) >= 4  # heartbeats for the rest of the run
    assert len(emulator.served) > 10 + len(reports)  # the wobble and the steady load: not sent
    stored = server.readings(device_id)
    assert [(r["power"], r["energy"]) for r in stored] == [(r["power"], r["energy"]) for r in reports]


def test_offline_readings_are_buffered_in_flash_and_replayed_in_order(
    board: Board,
    meter,  # type: ignore[no-untyped-def]
    server: LiveServer,
) -> None:
    [(device_id, key)] = server.add_devices("esp32")
    # Every sample differs by 20 W: each one is reported.
    emulator = meter(load(100.0 + 20 * (i % 40)) for i in itertools.count())
    board.configure(
        device_id=device_id,
        key=key,
        server=server.url,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
        buffer={"max_records": 1000, "batch": 10},
    )
    board.start()  # the server is down when the meter powers on
    wait_until(lambda: len(emulator.served) >= 15)
    server.start()
    wait_until(lambda: len(server.readings(device_id)) >= 30)
    code, events = board.interrupt()
    assert code == 0
    assert events_of(events, "offline") and events_of(events, "online")
    reports = events_of(events, "report")
    left = events_of(events, "stopped")[0]["buffered"]
    stored = server.readings(device_id)
    # Stored: every report in order; only what was still in the ring may be missing (a
    # batch interrupted after the server took it stays in the ring: resent, deduplicated).
    assert len(stored) >= len(reports) - left
    assert [r["power"] for r in stored] == [r["power"] for r in reports[: len(stored)]]
    assert [r["ts"] for r in stored] == sorted(r["ts"] for r in stored)


def test_full_buffer_drops_the_oldest_counts_them_and_survives_a_reboot(
    board: Board,
    meter,
    server: LiveServer,  # type: ignore[no-untyped-def]
) -> None:
    [(device_id, key)] = server.add_devices("esp32")
    emulator = meter(load(100.0 + 20 * (i % 40)) for i in itertools.count())
    board.configure(
        device_id=device_id,
        key=key,
        server=server.url,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
        buffer={"max_records": 5, "batch": 10},
    )
    board.start()
    wait_until(lambda: board.seen("buffer_dropped") >= 3)
    _, offline = board.interrupt()
    reports = events_of(offline, "report")
    stopped = events_of(offline, "stopped")[0]
    assert stopped["buffered"] == 5
    assert stopped["dropped"] == len(reports) - 5 > 0
    assert events_of(offline, "buffer_dropped")

    server.start()
    board.configure(report={"heartbeat_s": 3600, "power_w": 1e6})
    board.start()  # power cycle: the flash ring is still there
    wait_until(lambda: len(server.readings(device_id)) >= 5)
    _, online = board.interrupt()
    assert events_of(online, "boot")[0]["buffered"] == 5
    stored = [r["power"] for r in server.readings(device_id)]
    assert stored[:5] == [r["power"] for r in reports[-5:]]


def test_over_mqtt_readings_the_server_missed_are_kept_and_replayed(
    board: Board,
    meter,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    broker = PrivateBroker(tmp_path)
    broker.start()
    # no broker session for the server: while it is down, nobody takes the meter's readings
    server = LiveServer(tmp_path / "mqtt.db", mqtt=broker.address, mqtt_session_expiry_s=0)
    [(device_id, key)] = server.add_devices("esp32")
    server.start()
    emulator = meter(load(100.0 + 20 * (i % 40)) for i in itertools.count())
    board.configure_mqtt(device_id, key, emulator.url, port=broker.port, buffer={"max_records": 1000, "batch": 10})
    try:
        board.start()
        wait_until(lambda: len(server.readings(device_id)) >= 5)
        server.stop()  # the broker stays up, but nobody listens to the meter's readings
        served = len(emulator.served)
        wait_until(lambda: len(emulator.served) >= served + 15)
        server.start()
        wait_until(lambda: len(server.readings(device_id)) >= 30)
        code, events = board.interrupt()
        # PUBACK comes from the broker; the server stores a moment later.
        left = events_of(events, "stopped")[0]["buffered"]
        sent = len(events_of(events, "report")) - left
        wait_until(lambda: len(server.readings(device_id)) >= sent)
        stored = server.readings(device_id)
    finally:
        server.stop()
        broker.stop()
    assert code == 0
    assert any("no subscriber" in e["detail"] for e in events_of(events, "offline"))
    reports = events_of(events, "report")
    assert len(stored) >= sent
    assert [r["power"] for r in stored] == [r["power"] for r in reports[: len(stored)]]
