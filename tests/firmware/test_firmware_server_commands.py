"""A relay command issued through Wattwise's REST API reaches the real firmware and comes back once.

The firmware runs under MicroPython, reading an emulated PZEM; the server is a real
`wattwise serve`. Over HTTP the command rides on an ingest answer; over MQTT the server
publishes it on the meter's topic. Either way the result is recorded exactly once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.board import Board, events_of, load, wait_until
from firmware.live_server import LiveServer
from support import need_service


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path / "wattwise.db")
    yield srv
    srv.stop()


def test_over_http_the_firmware_switches_off_once_and_the_result_is_recorded_once(
    board: Board,
    meter,
    server: LiveServer,  # type: ignore[no-untyped-def]
) -> None:
    [(device_id, key)] = server.add_devices("esp32")
    server.start()
    command_id = server.issue(device_id, "relay_off")
    emulator = meter(load(300.0 + 20 * (i % 2)) for i in itertools.count())
    board.configure(
        device_id=device_id, key=key, server=server.url, run_s=3.0, pzem={"tcp": emulator.url.removeprefix("socket://")}
    )
    code, events = board.run()
    assert code == 0
    assert [(e["id"], e["ok"], e["relay"]) for e in events_of(events, "command")] == [(command_id, True, "off")]
    _, again = board.run()  # a reboot: the command is not carried out twice
    assert events_of(again, "command") == []
    (done,) = server.commands(device_id)
    assert (done["status"], done["relay"]) == ("done", "off")


def test_over_mqtt_the_firmware_switches_off_once_and_the_result_is_recorded_once(
    board: Board,
    meter,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    server = LiveServer(tmp_path / "mqtt.db", mqtt="127.0.0.1:1883")
    try:
        [(device_id, key)] = server.add_devices("esp32-mqtt")
        server.start()
        emulator = meter(load(300.0 + 20 * (i % 2)) for i in itertools.count())
        board.configure_mqtt(device_id, key, emulator.url)
        board.start()
        wait_until(lambda: server.readings(device_id))
        command_id = server.issue(device_id, "relay_off")
        wait_until(lambda: server.commands(device_id)[0]["status"] != "pending")
        code, events = board.interrupt()
    finally:
        server.stop()
    assert code == 0
    assert [(e["id"], e["relay"]) for e in events_of(events, "command")] == [(command_id, "off")]
    server.start()
    try:
        (done,) = server.commands(device_id)
    finally:
        server.stop()
    assert (done["status"], done["relay"], done["detail"]) == ("done", "off", "relay switched off")
