"""The gateway's meter list, its bounded disk queue, and commands carried out once."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from firmware.command_server import CommandServer
from wattwise.devices.emulator import EmulatedMeter, PzemEmulator
from wattwise.devices.gateway import DiskQueue, Gateway, GatewayConfig, HttpUplink, parse_meters
from wattwise.devices.gateway.uplink import MeterLink
from wattwise.domain.readings import Reading


def test_addresses_with_one_key_each() -> None:
    links = parse_meters("1=wwd_a,2=wwd_b, 0x03=7:wwd_c")
    assert links == [
        MeterLink(1, "wwd_a"),
        MeterLink(2, "wwd_b"),
        MeterLink(3, "wwd_c", device_id=7),
    ]
    assert parse_meters("5", key="wwd_k") == [MeterLink(5, "wwd_k")]


@pytest.mark.parametrize(
    ("spec", "key", "message"),
    [
        ("1,2", "wwd_k", "give each its own"),
        ("1", None, "has no key"),
        ("300=k", None, "outside 1..247"),
        ("x=k", None, "not a Modbus address"),
        ("1=a,1=b", None, "listed twice"),
        ("", "k", "at least one"),
        ("1=wwd_a", "wwd_k", "would go unused"),
    ],
)
def test_bad_meter_lists_are_refused_with_the_reason(spec: str, key: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_meters(spec, key)


def test_queue_keeps_order_per_meter_across_a_restart(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db")
    for ts in range(5):
        q.put(1, {"ts": ts})
        q.put(2, {"ts": ts})
    q.close()
    q = DiskQueue(tmp_path / "q.db")
    assert q.meters() == [1, 2]
    first = q.batch(1, 3)
    assert [item.body["ts"] for item in first] == [0, 1, 2]
    q.ack(first)
    assert [item.body["ts"] for item in q.batch(1, 10)] == [3, 4]
    assert len(q) == 7


def test_full_queue_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db", max_rows=3)
    dropped = [q.put(1, {"ts": ts}) for ts in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert [item.body["ts"] for item in q.batch(1, 10)] == [2, 3, 4]
    assert q.counter("dropped") == 2


def test_commands_in_the_ingest_answer_are_carried_out_once(tmp_path: Path) -> None:
    load = Reading(device_id=0, ts=0, voltage=230.0, power=3600.0)
    meter = EmulatedMeter(address=4, source=iter([load] * 100), energy_wh=1234.0)
    with PzemEmulator([meter], refresh_s=None) as emulator, CommandServer() as receiver:
        url = emulator.serve_tcp()
        config = GatewayConfig(port=url, meters=[MeterLink(4, "wwd_k")], queue_path=tmp_path / "q")
        gateway = Gateway(config, HttpUplink(receiver.url))
        receiver.issue("c-1", "reset_energy")
        receiver.issue("c-2", "relay_off")
        gateway.poll_once()
        assert gateway.flush_once()
        # The answer to the next post repeats c-1 (say the result crossed it on the way).
        receiver.issue("c-1", "reset_energy")
        emulator.advance()
        gateway.poll_once()
        assert gateway.flush_once()
        gateway.close()
    energies = [batch[0]["energy"] for batch in receiver.batches]
    assert energies == [1234.0, 1.0]  # reset once: 1 Wh since, not reset again
    reset = {"ok": True, "relay": "on", "detail": "energy counter of meter 4 reset to 0 Wh"}
    assert ("c-1", reset) in receiver.results
    relay = [body for command_id, body in receiver.results if command_id == "c-2"]
    assert relay == [{"ok": False, "relay": "on", "detail": "a PZEM on a serial gateway has no relay"}]


def test_gateway_rides_out_the_serial_line_going_away(tmp_path: Path) -> None:
    """A USB adapter unplugged and plugged back (here: the TCP-serial bridge restarted)."""
    load = Reading(device_id=0, ts=0, voltage=230.0, power=500.0)
    first = PzemEmulator([EmulatedMeter(address=1, source=itertools.repeat(load))], refresh_s=None)
    url = first.serve_tcp()
    port = int(url.rsplit(":", 1)[1])
    with CommandServer() as server:
        cfg = GatewayConfig(
            port=url, meters=[MeterLink(1, "wwd_k")], queue_path=tmp_path / "q.db", interval_s=0.05, reopen_s=0.1
        )
        gateway = Gateway(cfg, HttpUplink(server.url))
        assert gateway.poll_once() == 1
        first.stop()  # unplugged
        assert gateway.poll_once() == 0
        assert gateway.poll_once() == 0
        second = PzemEmulator([EmulatedMeter(address=1, source=itertools.repeat(load))], refresh_s=None)
        second.serve_tcp(port=port)  # plugged back
        try:
            assert gateway.poll_once() == 1
            assert gateway.flush_once()
        finally:
            second.stop()
            gateway.close()
    assert gateway.stats["port_errors"] >= 2
    assert [r["power"] for batch in server.batches for r in batch] == [500.0, 500.0]


def test_reads_within_one_millisecond_or_after_the_clock_steps_back_are_each_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = itertools.repeat(Reading(device_id=0, ts=0, voltage=230.0, power=100.0))
    with PzemEmulator([EmulatedMeter(address=1, source=load)], refresh_s=None) as emulator:
        cfg = GatewayConfig(port=emulator.serve_tcp(), meters=[MeterLink(1, "k")], queue_path=tmp_path / "q.db")
        gateway = Gateway(cfg, HttpUplink("http://127.0.0.1:9"))
        try:
            clock = [1_700_000_000.0005, 1_700_000_000.0005, 1_699_999_999.0]  # same ms, then back 1 s
            monkeypatch.setattr(
                "wattwise.devices.gateway.service.time.time", lambda: clock.pop(0) if len(clock) > 1 else clock[0]
            )
            for _ in range(3):
                gateway.poll_once()
            stamps = [item.body["ts"] for item in gateway.queue.batch(1, 10)]
        finally:
            gateway.close()
    assert stamps == [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002]
