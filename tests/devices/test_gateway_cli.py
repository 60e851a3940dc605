"""``wattwise devices gateway``: options checked, readings forwarded, the queue kept."""

from __future__ import annotations

import itertools
from pathlib import Path

from typer.testing import CliRunner

from firmware.command_server import CommandServer
from wattwise.cli.devices import app
from wattwise.devices.emulator import EmulatedMeter, PzemEmulator
from wattwise.domain.readings import Reading


def test_gateway_forwards_meter_readings_with_each_meters_key(tmp_path: Path) -> None:
    steady = itertools.repeat(Reading(device_id=0, ts=0, voltage=229.5, power=75.0))
    meters = [EmulatedMeter(address=a, source=steady) for a in (1, 2)]
    with PzemEmulator(meters, refresh_s=None) as emulator, CommandServer() as server:
        url = emulator.serve_tcp()
        result = CliRunner().invoke(
            app,
            [
                "gateway",
                "--port",
                url,
                "--address",
                "1=wwd_one,2=wwd_two",
                "--server",
                server.url,
                "--queue",
                str(tmp_path / "q.db"),
                "--interval",
                "0.1",
                "--send-interval",
                "0.1",
                "--duration",
                "1.5",
            ],
        )
    assert result.exit_code == 0, result.output
    assert "2 meter(s)" in result.output and "0 readings kept" in result.output
    readings = [r for batch in server.batches for r in batch]
    assert len(readings) >= 4
    assert {(r["voltage"], r["power"]) for r in readings} == {(229.5, 75.0)}


def test_gateway_refuses_one_key_for_several_meters(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "gateway",
            "--port",
            "socket://127.0.0.1:9",
            "--address",
            "1,2",
            "--key",
            "wwd_k",
            "--server",
            "http://127.0.0.1:9",
            "--queue",
            str(tmp_path / "q.db"),
        ],
    )
    assert result.exit_code != 0
    assert "give each its own" in result.output


def test_gateway_over_mqtt_needs_the_device_ids(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "gateway",
            "--port",
            "socket://127.0.0.1:9",
            "--address",
            "1=wwd_k",
            "--mqtt",
            "127.0.0.1:1883",
            "--queue",
            str(tmp_path / "q.db"),
        ],
    )
    assert result.exit_code != 0
    assert "ADDR=ID:KEY" in result.output


def test_gateway_refuses_a_server_address_without_its_scheme(tmp_path: Path) -> None:
    """``--server 127.0.0.1:8000`` was taken, and every send then failed with httpx's
    'Request URL is missing an http:// or https:// protocol', readings piling up in the queue."""
    args = ["gateway", "--port", "socket://127.0.0.1:9", "--address", "1", "--key", "wwd_k"]
    result = CliRunner().invoke(app, [*args, "--server", "127.0.0.1:8000", "--queue", str(tmp_path / "q.db")])
    assert result.exit_code == 2
    flat = " ".join(result.output.replace("│", "").split())
    assert "--server: '127.0.0.1:8000': give the address with http:// or https://, e.g. http://127.0.0.1:8000" in flat
    assert not (tmp_path / "q.db").exists()
