"""Relay and energy commands reach the firmware and come back exactly once: HTTP and MQTT."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware.board import Board, events_of, load, wait_until
from firmware.command_server import CommandServer
from support import need_service


def test_http_relay_command_is_carried_out_once_and_answered_once(board: Board, meter) -> None:  # type: ignore[no-untyped-def]
    emulator = meter(load(300.0 + 20 * (i % 2)) for i in itertools.count())  # always reporting
    with CommandServer() as server:
        server.issue("cmd-off", "relay_off")
        server.issue("cmd-reset", "reset_energy")
        board.configure(
            device_id=5,
            key="wwd_test",
            server=server.url,
            pzem={"tcp": emulator.url.removeprefix("socket://")},
        )
        board.start()
        wait_until(lambda: len(server.results) >= 2 and len(server.batches) >= 4)
        code, events = board.interrupt()
    assert code == 0
    done = [(e["id"], e["ok"], e["relay"]) for e in events_of(events, "command")]
    assert done == [("cmd-off", True, "off"), ("cmd-reset", True, "off")]
    assert sorted(server.results, key=lambda r: r[0]) == [
        ("cmd-off", {"ok": True, "relay": "off", "detail": "relay switched off"}),
        ("cmd-reset", {"ok": True, "relay": "off", "detail": "energy counter reset"}),
    ]
    assert len(server.batches) > 2  # the meter kept reporting after the commands


def test_a_command_repeated_after_a_reboot_is_not_carried_out_again(board: Board, meter) -> None:  # type: ignore[no-untyped-def]
    emulator = meter(load(300.0 + 20 * (i % 2)) for i in itertools.count())
    with CommandServer() as server:
        server.issue("cmd-on", "relay_on")
        board.configure(server=server.url, pzem={"tcp": emulator.url.removeprefix("socket://")})
        board.start()
        wait_until(lambda: server.results)
        board.interrupt()
        server.issue("cmd-on", "relay_on")  # the server lost the result and asks again
        board.start()  # a reboot
        wait_until(lambda: len(server.results) == 2)
        _, events = board.interrupt()
    assert events_of(events, "command") == []  # not done twice
    assert [r[0] for r in server.results] == ["cmd-on", "cmd-on"]  # the result, again


class Broker:
    """A real MQTT session on Mosquitto that sends commands and collects what comes back."""

    def __init__(self, device_id: int) -> None:
        self.base = f"wattwise/{device_id}"
        self.messages: list[tuple[str, Any]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *a: c.subscribe(
            [(f"{self.base}/commands/result", 1), (f"{self.base}/readings", 1)]
        )
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def on(self, suffix: str) -> list[Any]:
        return [body for topic, body in self.messages if topic == f"{self.base}/{suffix}"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_relay_command_is_carried_out_once_and_answered_once(board: Board, meter) -> None:  # type: ignore[no-untyped-def]
    need_service("127.0.0.1", 1883, "Mosquitto")
    device_id = random.randrange(10**6, 10**7)  # a topic no other test run uses
    broker = Broker(device_id)
    emulator = meter(load(300.0 + 20 * (i % 2)) for i in itertools.count())
    board.configure_mqtt(device_id, "wwd_test", emulator.url)
    board.start()
    wait_until(lambda: broker.on("readings"))
    command = json.dumps({"id": "mq-1", "action": "relay_off"})
    broker.client.publish(f"{broker.base}/commands", command, qos=1).wait_for_publish(5)
    wait_until(lambda: broker.on("commands/result"))
    time.sleep(0.5)  # room for a (wrong) second result to show up
    code, events = board.interrupt()
    broker.close()
    assert code == 0
    assert [(e["id"], e["relay"]) for e in events_of(events, "command")] == [("mq-1", "off")]
    assert broker.on("commands/result") == [{"ok": True, "relay": "off", "detail": "relay switched off", "id": "mq-1"}]
    assert broker.on("readings") and all(isinstance(b, list) for b in broker.on("readings"))
