"""Several server processes share one picture: what one stores, the others' buses carry too.

Each ``Bus`` here stands for one process; they are joined through a private Mosquitto exactly
as ``wattwise serve --link`` joins processes (tests/cli/test_serve_processes.py runs two real
server processes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from support import free_port, mosquitto
from wattwise.bus import Bus, Message, Subscription
from wattwise.bus_link import PREFIX, BusLink
from wattwise.domain.readings import Reading, StoredReading
from wattwise.ingest.mqtt import PLUG_FILTERS, READINGS_FILTER, RESULTS_FILTER
from wattwise.store.commands import Command, Manifest

READINGS = [
    StoredReading(reading=Reading(device_id=3, ts=1_764_000_000_000, voltage=229.8, power=312.5, pf=0.96), wh=0.087),
    StoredReading(reading=Reading(device_id=4, ts=1_764_000_001_000, current=1.42), wh=0.0),
]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    with mosquitto(tmp_path) as port:
        yield port


@asynccontextmanager
async def process(port: int, name: str) -> AsyncIterator[tuple[Bus, BusLink]]:
    """One server process's bus, linked (returns once the link has subscribed)."""
    bus = Bus()
    bus.subscribe()  # the bus learns its loop before the link delivers to it
    link = BusLink(bus, "127.0.0.1", port, client_id=f"test-{name}").start()
    try:
        await until(lambda: link.client.is_connected())
        await asyncio.sleep(0.2)  # the subscription is acknowledged after CONNACK
        yield bus, link
    finally:
        link.stop()


async def until(predicate: object, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def received(sub: Subscription, count: int = 1) -> list[Message]:
    out = [await asyncio.wait_for(sub.queue.get(), timeout=10) for _ in range(count)]
    await asyncio.sleep(0.3)  # anything more (an echo, a copy) would have come by now
    return out + [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]


def send_rule_changes(port: int, origin: str, numbers: tuple[int, ...]) -> None:
    """Another process's link, as the broker hands it on: rule change ``n`` numbered ``n``."""
    other = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="other-process")
    other.connect("127.0.0.1", port)
    other.loop_start()
    for seq in numbers:
        other.publish(f"{PREFIX}/alert_rules", orjson.dumps([origin, seq, {"id": seq}]), qos=1).wait_for_publish()
    other.loop_stop()
    other.disconnect()


async def test_readings_stored_by_one_process_reach_the_others_once(broker: int) -> None:
    async with process(broker, "a") as (a, _), process(broker, "b") as (b, _), process(broker, "c") as (c, _):
        heard_a, heard_b, heard_c = a.subscribe("readings"), b.subscribe("readings"), c.subscribe("readings")
        a.publish("readings", READINGS)
        (own,) = await received(heard_a)  # its own, once: the broker does not send it back
        (got_b,) = await received(heard_b)
        (got_c,) = await received(heard_c)  # b does not pass on what it got: c has one copy
    assert not own.remote and own.payload is READINGS
    assert got_b.remote and got_b.payload == READINGS
    assert got_c.remote and got_c.payload == READINGS


async def test_what_people_and_detectors_do_in_one_process_reaches_the_others(broker: int) -> None:
    command = Command(3, 4, "relay_off", "pending", "rule 1", 1_764_000_000_000, None, None, None, None)
    manifest = Manifest("1.2.0", "http://updates.local/fw-1.2.0.bin", "ab" * 32)
    sent = {
        "appliances": {"device_id": 4, "renamed": ["kettle", "Kettle"]},
        "feedback": {"id": 9, "device_id": 4, "status": "ignored"},
        "balance": {"device_id": 4},
        "alerts": [{"id": 1, "device_id": 4, "status": "open", "message": "main: Power above 3 kW"}],
        "alert_rules": {"id": 2},
        "commands": command,
        "ota": manifest,
    }
    async with process(broker, "api") as (api, _), process(broker, "worker") as (worker, _):
        heard = worker.subscribe(*sent)
        for topic, payload in sent.items():
            api.publish(topic, payload)
        got = await received(heard, len(sent))
    assert {m.topic: m.payload for m in got} == sent
    assert all(m.remote for m in got)


async def test_an_unreadable_message_on_the_link_is_skipped_and_the_link_goes_on(
    broker: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with process(broker, "a") as (a, _), process(broker, "b") as (b, link_b):
        heard = b.subscribe("readings", "commands")
        stranger = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="stranger")
        stranger.connect("127.0.0.1", broker)
        stranger.loop_start()
        stranger.publish(f"{PREFIX}/readings", b"not json", qos=1).wait_for_publish()
        stranger.publish(f"{PREFIX}/commands", b'{"id": 1, "format": "c:"}', qos=1).wait_for_publish()
        stranger.publish(f"{PREFIX}/shutdown", b"{}", qos=1).wait_for_publish()
        stranger.loop_stop()
        stranger.disconnect()
        a.publish("readings", READINGS)
        (got,) = await received(heard)
    assert got.payload == READINGS and link_b.received == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "wattwise.bus_link"]
    assert any(f"{PREFIX}/readings: readings: unreadable payload" in w for w in warnings), warnings
    assert any(f"{PREFIX}/commands: commands: unreadable payload" in w for w in warnings), warnings
    assert any("no bus topic 'shutdown'" in w for w in warnings), warnings


async def test_messages_of_a_process_that_keeps_to_itself_stay_there(broker: int) -> None:
    """Topics the link does not know (a page's private redraw, say) never leave the process."""
    async with process(broker, "a") as (a, link_a), process(broker, "b") as (b, _):
        heard = b.subscribe("readings", "page-redraw")
        a.publish("page-redraw", object())  # not even encodable: it must not be tried
        a.publish("readings", READINGS[:1])
        (got,) = await received(heard)
    assert got.topic == "readings" and link_a.sent == 1


async def test_messages_the_broker_dropped_are_counted_and_logged(
    broker: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker drops QoS 1 messages past its queue limit; the link says so instead of staying silent."""
    async with process(broker, "b") as (b, link):
        heard = b.subscribe("alert_rules")
        send_rule_changes(broker, "api-7", (1, 2, 6))  # 3, 4 and 5 lost on the way
        got = await received(heard, 3)
    assert [m.payload for m in got] == [{"id": 1}, {"id": 2}, {"id": 6}]
    assert link.received == 3 and link.missed == 3
    assert any("3 messages of api-7 never arrived" in r.getMessage() for r in caplog.records)


async def test_the_link_is_not_mistaken_for_meters_by_the_server_or_home_assistant(broker: int) -> None:
    """The server's MQTT ingest listens on wattwise/+/readings, wattwise/+/commands/result and
    the smart plugs' topics, Home Assistant on wattwise/+/state: none of them may hear the link (the ingest would log
    "ignored … (no such meter)" for every batch another process stored)."""
    meters_side: list[str] = []
    listener = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="ingest-like")
    listener.on_message = lambda _c, _u, msg: meters_side.append(msg.topic)
    listener.connect("127.0.0.1", broker)
    ingest_filters = [READINGS_FILTER, RESULTS_FILTER, *PLUG_FILTERS]
    listener.subscribe([(f, 1) for f in (*ingest_filters, "wattwise/+/state", "wattwise/+/commands")])
    listener.loop_start()
    command = Command(3, 4, "relay_off", "pending", "rule 1", 1_764_000_000_000, None, None, None, None)
    try:
        async with process(broker, "a") as (a, _), process(broker, "b") as (b, _):
            heard = b.subscribe("readings", "commands", "command_results")
            a.publish("readings", READINGS)
            a.publish("commands", command)
            a.publish("command_results", command)
            assert len(await received(heard, 3)) == 3
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert meters_side == []


async def test_a_message_the_broker_delivers_again_reaches_the_bus_once(broker: int) -> None:
    """QoS 1 is at least once: after a reconnect the broker or the sender sends a message again.
    A second copy of readings would be scanned twice by the detectors and drawn twice."""
    async with process(broker, "b") as (b, link):
        heard = b.subscribe("alert_rules")
        send_rule_changes(broker, "api-7", (1, 1, 2, 3, 3))  # 1 and 3 twice
        got = await received(heard, 3)
    assert [m.payload for m in got] == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert link.received == 3 and link.missed == 0


async def test_while_the_broker_is_down_a_process_keeps_a_bounded_queue_and_the_others_count_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker down for an hour must not keep an hour of batches in each process's memory:
    past the link's queue the messages are left out, said once, and counted by the others."""
    port = free_port()
    bus_a = Bus()
    bus_a.subscribe()
    link_a = BusLink(bus_a, "127.0.0.1", port, client_id="test-a", queue_limit=3)
    link_a.client.reconnect_delay_set(min_delay=2, max_delay=2)  # b listens by then
    link_a.start()
    try:
        for n in range(1, 7):  # the broker is down: 1, 2 and 3 wait, 4, 5 and 6 are left out
            bus_a.publish("alert_rules", {"id": n})
        with mosquitto(tmp_path, port=port):
            async with process(port, "b") as (b, link_b):
                heard = b.subscribe("alert_rules")
                await until(link_a.client.is_connected)
                got = await received(heard, 3)
                bus_a.publish("alert_rules", {"id": 7})
                got += await received(heard)
    finally:
        link_a.stop()
    assert [m.payload["id"] for m in got] == [1, 2, 3, 7]
    assert link_b.missed == 3
    assert (link_a.sent, link_a.left_out) == (4, 3)
    said = [r.getMessage() for r in caplog.records if "leaving out" in r.getMessage()]
    assert said == ["bus link: 3 messages wait for the broker (unreachable or slow): leaving out the next"]
