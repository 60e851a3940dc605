"""Commands issued through Wattwise's REST API reach the serial gateway and come back once;
over MQTT the gateway's readings travel broker → server and land as the meter served them."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from firmware.board import wait_until
from firmware.live_server import LiveServer, PrivateBroker
from support import need_service
from wattwise.devices.emulator import EmulatedMeter, PzemEmulator
from wattwise.devices.gateway import Gateway, GatewayConfig, HttpUplink, MeterLink, MqttUplink
from wattwise.domain.readings import Reading

METRICS = ("voltage", "current", "power", "energy", "frequency", "pf")


@pytest.fixture
def kettle() -> Iterator[PzemEmulator]:
    """A 2 kW kettle on a meter at address 3 whose counter already shows 5 kWh."""
    load = itertools.repeat(Reading(device_id=0, ts=0, voltage=231.0, power=2000.0, pf=1.0))
    emulator = PzemEmulator([EmulatedMeter(address=3, source=load, energy_wh=5000.0)], refresh_s=0.1)
    emulator.serve_tcp()
    yield emulator
    emulator.stop()


def running(gateway: Gateway) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def config(url: str, link: MeterLink, queue: Path) -> GatewayConfig:
    return GatewayConfig(
        port=url, meters=[link], queue_path=queue, interval_s=0.1, send_interval_s=0.1, retry_min_s=0.1
    )


def test_rest_commands_reach_the_gateway_once_and_their_results_are_recorded(
    tmp_path: Path, kettle: PzemEmulator
) -> None:
    server = LiveServer(tmp_path / "wattwise.db")
    [(device_id, key)] = server.add_devices("kettle")
    server.start()
    try:
        gateway = Gateway(config(kettle.url, MeterLink(3, key), tmp_path / "q.db"), HttpUplink(server.url))
        stop, thread = running(gateway)
        wait_until(lambda: server.readings(device_id))
        reset = server.issue(device_id, "reset_energy")
        relay = server.issue(device_id, "relay_off")
        wait_until(lambda: all(c["status"] != "pending" for c in server.commands(device_id)))
        wait_until(lambda: server.readings(device_id)[-1]["energy"] < 5000.0)
        stop.set()
        thread.join()
        gateway.close()
        done = {str(c["id"]): c for c in server.commands(device_id)}
    finally:
        server.stop()
    assert (done[reset]["status"], done[reset]["detail"]) == ("done", "energy counter of meter 3 reset to 0 Wh")
    assert done[relay]["detail"] == "a PZEM on a serial gateway has no relay"
    assert kettle.meter(3).measurement().energy < 100  # reset once, counting up again since
    energies = [r["energy"] for r in server.readings(device_id)]
    assert energies[0] >= 5000.0 and energies[-1] < 100
    assert sum(1 for a, b in itertools.pairwise(energies) if b < a) == 1  # one reset, not two


def test_over_mqtt_the_served_readings_are_stored_and_a_command_is_done_once(
    tmp_path: Path, kettle: PzemEmulator
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    server = LiveServer(tmp_path / "wattwise.db", mqtt="127.0.0.1:1883")
    [(device_id, key)] = server.add_devices("kettle")
    server.start()
    try:
        link = MeterLink(3, key, device_id=device_id)
        gateway = Gateway(config(kettle.url, link, tmp_path / "q.db"), MqttUplink("127.0.0.1:1883", [link]))
        stop, thread = running(gateway)
        wait_until(lambda: len(server.readings(device_id)) >= 5)
        reset = server.issue(device_id, "reset_energy")
        wait_until(lambda: server.commands(device_id)[0]["status"] == "done")
        stop.set()
        thread.join()
        kettle.stop()
        wait_until(lambda: len(server.readings(device_id)) == gateway.stats["sent"])
        gateway.close()
        (done,) = server.commands(device_id)
    finally:
        server.stop()
    assert (str(done["id"]), done["detail"]) == (reset, "energy counter of meter 3 reset to 0 Wh")
    served = [tuple(getattr(m, k) for k in METRICS) for _, m in kettle.served]
    stored = [tuple(r[k] for k in METRICS) for r in server.readings(device_id)]
    assert len(stored) == gateway.stats["polled"]  # every reading the gateway took, once
    assert is_in_order_within(stored, served)  # as served (a reply late for the timeout is not taken)


def is_in_order_within(part: list[tuple[float, ...]], whole: list[tuple[float, ...]]) -> bool:
    """Whether ``part`` is ``whole`` with some items left out (order kept, none added)."""
    rest = iter(whole)
    return all(any(item == other for other in rest) for item in part)


def mqtt_stack(tmp_path: Path) -> tuple[PrivateBroker, LiveServer, MeterLink]:
    """A private broker and a server listening on it, with one meter (address 3) registered."""
    need_service("127.0.0.1", 1883, "Mosquitto")
    broker = PrivateBroker(tmp_path)
    broker.start()
    server = LiveServer(tmp_path / "wattwise.db", mqtt=broker.address)
    [(device_id, key)] = server.add_devices("kettle")
    server.start()
    return broker, server, MeterLink(3, key, device_id=device_id)


@pytest.mark.parametrize("outage", ["server", "broker"])
def test_over_mqtt_an_outage_loses_and_doubles_nothing(tmp_path: Path, kettle: PzemEmulator, outage: str) -> None:
    broker, server, link = mqtt_stack(tmp_path)
    device_id = link.device_id
    cfg = config(kettle.url, link, tmp_path / "q.db")
    cfg.retry_max_s = 0.5
    # a server that is down never answers: give up on each upload after 2 s, not the default 10
    uplink = MqttUplink(broker.address, [link], publish_timeout_s=1.0, confirm_timeout_s=2.0)
    gateway = Gateway(cfg, uplink)
    try:
        stop, thread = running(gateway)
        wait_until(lambda: len(server.readings(device_id)) >= 5)
        down = server if outage == "server" else broker
        down.stop()  # readings published now reach nobody: the gateway must keep them
        wait_until(lambda: gateway.stats["send_failures"] >= 3 and len(gateway.queue) >= 5)
        down.start()
        wait_until(lambda: len(gateway.queue) < 3 and gateway.stats["send_failures"] >= 3)
        stop.set()
        thread.join()
        wait_until(lambda: len(server.readings(device_id)) == gateway.stats["polled"])
        time.sleep(0.5)  # a doubled reading would show up now
        stored = [tuple(r[k] for k in METRICS) for r in server.readings(device_id)]
    finally:
        gateway.close()
        server.stop()
        broker.stop()
    assert len(stored) == gateway.stats["polled"]
    assert is_in_order_within(stored, [tuple(getattr(m, k) for k in METRICS) for _, m in kettle.served])


def test_a_refused_key_keeps_that_meters_readings_and_blocks_no_other(tmp_path: Path) -> None:
    load = itertools.repeat(Reading(device_id=0, ts=0, voltage=230.0, power=100.0))
    meters = [EmulatedMeter(address=a, source=load) for a in (1, 2)]
    server = LiveServer(tmp_path / "wattwise.db")
    [(device_id, key)] = server.add_devices("good")
    server.start()
    with PzemEmulator(meters, refresh_s=None) as emulator:
        links = [MeterLink(2, "wwd_not_a_key_of_this_server"), MeterLink(1, key)]
        cfg = GatewayConfig(port=emulator.serve_tcp(), meters=links, queue_path=tmp_path / "q.db")
        gateway = Gateway(cfg, HttpUplink(server.url))
        try:
            for _ in range(3):
                gateway.poll_once()
            assert gateway.flush_once() is False  # not everything could be delivered
            assert [q.body["power"] for q in gateway.queue.batch(2, 10)] == [100.0] * 3  # kept
            assert gateway.queue.batch(1, 10) == []
        finally:
            gateway.close()
            server.stop()
    assert len(server.readings(device_id)) == 3


def test_a_late_broker_ack_is_not_taken_for_a_later_publish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A publish the broker acks too late counts as not delivered, and that late ack must not
    confirm a later publish that paho numbers the same once its 16-bit message id wraps:
    a command result would be reported as delivered when it never was."""
    broker, server, link = mqtt_stack(tmp_path)
    uplink = MqttUplink(broker.address, [link], publish_timeout_s=0.2)
    client = uplink._clients[link.address]
    on_publish: Any = client.on_publish  # paho's thread calls it so when the PUBACK comes

    def ack(mid: int) -> None:
        on_publish(client, None, mid, ReasonCode(PacketTypes.PUBACK, "Success"), None)

    try:
        assert uplink.report(link, "c1", {"status": "done"})  # a real publish, acked in time
        # the broker is slow: the next publishes get mid 7 and no ack within the timeout
        monkeypatch.setattr(client, "publish", lambda *_a, **_k: mqtt.MQTTMessageInfo(7))
        assert not uplink.report(link, "c2", {"status": "done"})
        ack(7)  # its ack, late
        assert not uplink.report(link, "c3", {"status": "done"})  # same mid, wrapped: not acked
        late = threading.Timer(0.05, ack, args=(7,))
        late.start()
        assert uplink.report(link, "c4", {"status": "done"})  # its own ack, in time
    finally:
        uplink.close()
        server.stop()
        broker.stop()
